"""``callradar replay``: stream recorded calls into Kafka in real time (or faster)."""

from __future__ import annotations

from callradar.pipeline.records import Topics
from callradar.pipeline.replay import replay_calls


def register(sub) -> None:
    p = sub.add_parser("replay", help="stream recorded calls into Kafka in real time (or faster)")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="stereo WAV/FLAC per call (agent left by default), <call>_agent/<call>_caller mono pairs, "
                        "folders or quoted globs")
    p.add_argument("--pair", nargs=2, action="append", metavar=("AGENT", "CUSTOMER"),
                   help="a call given as two mono files; repeatable")
    p.add_argument("--metadata", metavar="FILE",
                   help="CSV or JSON keyed by call_id: agent_id, queue, customer_tier (as callradar analyze)")
    p.add_argument("--speed", type=float, default=1.0, help="1 = real time, 2 = twice as fast (default 1)")
    p.add_argument("--chunk-ms", type=int, default=40, help="chunk length, 20-100 ms (default 40)")
    p.add_argument("--layout", choices=["stereo-agent-left", "stereo-agent-right"], default="stereo-agent-left")
    p.add_argument("--stagger", type=float, default=0.0, metavar="S", help="start each call S seconds after the previous")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import sys

    from callradar.pipeline.audio.pcm import AudioFileError
    from callradar.pipeline.cli.main import UserError
    from callradar.pipeline.kafka.clients import make_producer
    from callradar.pipeline.kafka.connect import connect_or_explain
    from callradar.pipeline.recordings import find_recordings, load_recording, read_metadata
    from callradar.pipeline.settings import load_settings

    if not args.files and not args.pair:
        raise UserError("give at least one FILE or --pair AGENT CUSTOMER")
    if not 20 <= args.chunk_ms <= 100:
        raise UserError("--chunk-ms must be between 20 and 100")
    if args.speed <= 0:
        raise UserError("--speed must be positive")
    try:
        recordings, problems = find_recordings(args.files, args.pair, args.layout.removeprefix("stereo-agent-"))
        metadata = read_metadata(args.metadata) if args.metadata else {}
        if problems:
            raise UserError("; ".join(str(p) for p in problems))
        calls = [load_recording(r, metadata.get(r.call_id)) for r in recordings]
    except (AudioFileError, ValueError) as exc:
        raise UserError(str(exc)) from None
    settings = load_settings()
    connect_or_explain(settings)
    producer = make_producer(settings)
    topics = Topics(settings.topic_prefix)

    def send(topic: str, key: str, value: bytes, headers: list) -> None:
        producer.send(topic, key=key.encode(), value=value, headers=headers)

    total = max(c.duration_s for c in calls)
    print(f"replaying {len(calls)} call(s), {total:.0f} s of audio at {args.speed}x to {settings.bootstrap}")
    stats = replay_calls(
        calls, send, topics, speed=args.speed, chunk_ms=args.chunk_ms, stagger_s=args.stagger,
        on_progress=_progress_printer(total),
    )
    producer.flush()
    producer.close()
    if sys.stdout.isatty():
        print()  # end the progress line
    print(f"sent {stats.chunks} chunks ({stats.audio_seconds:.0f} s of call audio) in {stats.wall_seconds:.1f} s;"
          f" worst schedule lag {stats.max_lag_s * 1000:.0f} ms")
    return 0


def _progress_printer(total_s: float):
    """One rewriting line on a terminal; a line every 10 s in a log."""
    import sys

    if sys.stdout.isatty():
        return lambda t: print(f"\r  {t:5.0f} s / {total_s:.0f} s", end="", flush=True)
    return lambda t: print(f"  {t:5.0f} s / {total_s:.0f} s", flush=True) if int(t) % 10 == 0 else None
