"""``callradar worker``: run some or all pipeline stages as one Faust worker process.

Scale out by starting more workers with the same --stages: they share the
topic partitions (one call lives on one partition, so one worker owns it).
"""

from __future__ import annotations

import logging

from callradar.pipeline.processes import limit_math_threads
from callradar.pipeline.settings import STAGES as STAGE_CHOICES


def register(sub) -> None:
    p = sub.add_parser("worker", help="run pipeline stages (transcribe, score, trigger) as a worker")
    p.add_argument("--stages", default=",".join(STAGE_CHOICES),
                   help="comma-separated subset of transcribe,score,trigger (default: all)")
    p.add_argument("--web-port", type=int,
                   help="port for /metrics, /healthz and /readyz (default CALLRADAR_WORKER_WEB_PORT)")
    p.set_defaults(func=_run)


def parse_stages(text: str) -> tuple[str, ...]:
    from callradar.pipeline.cli.main import UserError

    stages = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in stages if s not in STAGE_CHOICES]
    if bad or not stages:
        raise UserError(f"--stages {text!r}: choose from {', '.join(STAGE_CHOICES)}")
    return stages


def check_config(settings, stages: tuple[str, ...]) -> None:
    """The trigger stage's hand-edited files, checked before anything slow (broker wait, models)."""
    from callradar.agents.triggers import check_config as check_trigger_config
    from callradar.agents.yaml_lines import ConfigError
    from callradar.pipeline.errors import UserError

    if "trigger" in stages:
        try:
            check_trigger_config(settings)
        except ConfigError as exc:
            raise UserError(str(exc)) from None


def _run(args) -> int:
    from callradar.pipeline.settings import load_settings

    overrides = {"worker_web_port": args.web_port} if args.web_port else {}
    settings = load_settings(**overrides)
    stages = parse_stages(args.stages)
    check_config(settings, stages)
    limit_math_threads(settings.math_threads)

    from callradar.pipeline.kafka.app import create_app, run_worker
    from callradar.pipeline.kafka.clients import ensure_topics
    from callradar.pipeline.kafka.connect import connect_or_explain

    connect_or_explain(settings)
    ensure_topics(settings)
    logging.getLogger(__name__).info("loading models for %s", ", ".join(stages))
    run_worker(create_app(settings, stages), settings)
    return 0
