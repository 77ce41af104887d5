"""``callradar archive``: write finished live calls to Parquet for retraining.

The archive's logic (which calls are finished, what may be committed) is
training/archive.py; reading the topics as a consumer group and dead-lettering is
the Kafka layer's (pipeline/kafka/readers.py). This joins the two.
"""

from __future__ import annotations

import threading
from pathlib import Path

from callradar.training.archive import GRACE_S, IDLE_S


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "archive",
        help="write finished live calls (transcript, scores, alerts, outcomes, feedback, cases) to Parquet",
        description="Follow calls.events, calls.transcripts, calls.scores, calls.alerts, calls.outcomes, "
        "calls.feedback and calls.cases and write each finished call to a Parquet part in the archive folder "
        "(outcomes to labels.jsonl, agents' feedback to feedback.jsonl, escalation case events to cases.jsonl; "
        "format: docs/labelled-calls.md). "
        "A separate consumer group: run one or more next to the workers.",
    )
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="archive folder (default: <state dir>/archive)")
    p.add_argument("--grace-s", type=float, default=GRACE_S, help=f"wait after a call ends (default {GRACE_S:g})")
    p.add_argument("--idle-s", type=float, default=IDLE_S,
                   help=f"write a call that never ended after this long without news (default {IDLE_S:g})")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (default: until Ctrl-C)")
    p.set_defaults(func=_run)


def run_archive(settings, out_dir: Path, stop: threading.Event, grace_s: float = GRACE_S, idle_s: float = IDLE_S,
                report=print, flush_every_s: float = 1.0) -> int:
    """Archive calls until ``stop`` is set (or Ctrl-C); returns the number of calls written."""
    from callradar.pipeline.kafka.readers import DeadLetterSender, GroupReader
    from callradar.pipeline.records import Topics
    from callradar.training.archive import ArchiveWriter

    dead_letters = DeadLetterSender(settings, "archive")
    try:
        writer = ArchiveWriter(Topics(settings.topic_prefix), out_dir, dead_letter=dead_letters.send,
                               grace_s=grace_s, idle_s=idle_s, report=report)
        reader = GroupReader(settings, f"callradar-{settings.topic_prefix}archive", writer.topics,
                             on_record=writer.on_record, committable=writer.committable, on_tick=writer.on_tick,
                             on_revoked=writer.on_revoked, on_stop=writer.on_stop, every_s=flush_every_s)
        reader.run(stop)
    finally:
        dead_letters.close()
    return writer.written


def _run(args) -> int:
    import signal

    from callradar.pipeline.errors import UserError
    from callradar.pipeline.kafka.clients import ensure_topics
    from callradar.pipeline.kafka.connect import connect_or_explain
    from callradar.pipeline.settings import load_settings
    from callradar.training.labelled_calls import default_archive_dir

    settings = load_settings()
    out = args.out or default_archive_dir(settings)
    if args.grace_s < 0 or args.idle_s <= 0:
        raise UserError("--grace-s must be >= 0 and --idle-s > 0")
    connect_or_explain(settings)
    ensure_topics(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # an orchestrator's stop writes calls in progress too
    if args.seconds:
        timer = threading.Timer(args.seconds, stop.set)
        timer.daemon = True
        timer.start()
    print(f"archiving calls from {settings.bootstrap} into {out} (Ctrl-C to stop)", flush=True)
    n = run_archive(settings, out, stop, args.grace_s, args.idle_s, report=lambda s: print(s, flush=True))
    print(f"stopped; {n} call(s) archived in this run")
    return 0
