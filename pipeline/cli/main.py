"""The ``callradar`` command.

Each subcommand lives in its own module, which exposes ``register(subparsers)``
and keeps its heavy imports (torch, faster-whisper, faust) inside the handler,
so ``callradar --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from callradar.pipeline.errors import UserError
from callradar.pipeline.settings import SettingsError

__all__ = ["UserError", "build_parser", "main"]

# Order is the order shown in --help.
COMMAND_MODULES = tuple(f"callradar.pipeline.cli.{verb}" for verb in (
    "demo", "kafka", "simulate", "replay", "worker", "watch", "console", "score", "models",
    "corpus", "train", "evaluate", "label", "archive", "report", "analyze",
))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callradar",
        description="Real-time call analytics that warns before contact-centre calls escalate.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # kafka-python warns about its own event-loop timing under load; not the user's problem.
        logging.getLogger("kafka").setLevel(logging.ERROR)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UserError, SettingsError) as exc:
        print(f"callradar {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
