"""``callradar kafka fetch|start|stop|status``: the embedded broker."""

from __future__ import annotations

import time

from callradar.pipeline.kafka.embedded import EmbeddedKafka
from callradar.pipeline.settings import load_settings


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "kafka",
        help="the embedded Kafka broker: fetch, start, stop, status",
        description="Manage the embedded Kafka broker (127.0.0.1 only). With CALLRADAR_KAFKA_BOOTSTRAP "
        "set, start and stop do nothing and status checks that cluster.",
    )
    actions = parser.add_subparsers(dest="kafka_action", metavar="ACTION", required=True)
    actions.add_parser("fetch", help="download the broker jars from Maven Central (once)")
    start = actions.add_parser("start", help="start the broker if needed, wait until it answers, create topics")
    start.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the broker (default 60)")
    actions.add_parser("stop", help="stop the broker started from this state dir")
    actions.add_parser("status", help="say whether the broker answers (exit 1 if not)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    settings = load_settings()
    broker = EmbeddedKafka(settings)
    action = args.kafka_action
    if action == "fetch":
        print(f"Kafka {settings.kafka_version} jars ready in {broker.fetch()}")
        return 0
    if not settings.embedded and action in ("start", "stop"):
        print(f"CALLRADAR_KAFKA_BOOTSTRAP is set ({settings.bootstrap}): callradar uses that cluster "
              f"and does not {action} it; nothing done")
        return 0
    if action == "start":
        began = time.monotonic()
        started = broker.start(timeout_s=args.timeout)
        how = f"started in {time.monotonic() - began:.1f} s" if started else "already running"
        print(f"Kafka {how}: {broker.status()}; topics ready with {settings.topic_partitions} partitions")
        return 0
    if action == "stop":
        stopped = broker.stop()
        print("stopped the Kafka broker" if stopped else f"no embedded Kafka broker was running for {broker.home}")
        return 0
    status = broker.status()
    print(status)
    return 0 if status.answering else 1
