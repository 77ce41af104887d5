"""``callradar watch``: follow live transcripts, scores and alerts in the terminal."""

from __future__ import annotations

import threading

from callradar.pipeline.watch import LiveView, follow


def register(sub) -> None:
    p = sub.add_parser("watch", help="follow live transcripts, scores and alerts in the terminal")
    p.add_argument("--from-beginning", action="store_true", help="replay what the topics already hold")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (default: until Ctrl-C)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from callradar.pipeline.kafka.connect import connect_or_explain
    from callradar.pipeline.settings import load_settings

    settings = load_settings()
    connect_or_explain(settings)
    view = LiveView()
    stop = threading.Event()
    if args.seconds:
        threading.Timer(args.seconds, stop.set).start()
    print(f"following {settings.bootstrap} (Ctrl-C to stop)", flush=True)
    try:
        follow(settings, lambda s: print(view.score_line(s), flush=True),
               lambda a: print(view.alert_line(a), flush=True), stop, from_beginning=args.from_beginning)
    except KeyboardInterrupt:
        stop.set()
    return 0

