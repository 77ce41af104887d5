"""``callradar console``: serve the live web console (see docs/console.md)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("console", help="the live web console for supervisors and agents",
                       description="Serve the live console: supervisors see calls ranked by risk with alerts, "
                                   "routes and SLA countdowns, and act on escalation cases (claim, coach, hand "
                                   "over, resolve); agents their own call's transcript, prompts and coaching.")
    p.add_argument("--host", help="address to bind (default CALLRADAR_CONSOLE_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default CALLRADAR_CONSOLE_PORT, 7070)")
    p.add_argument("--tokens", metavar="FILE", help="tokens file (default CALLRADAR_CONSOLE_TOKENS_FILE)")
    p.add_argument("--init-tokens", metavar="FILE",
                   help="write a new tokens file with a random token per --supervisor and --agent, then exit")
    p.add_argument("--supervisor", action="append", default=[], metavar="NAME", help="with --init-tokens; repeatable")
    p.add_argument("--agent", action="append", default=[], metavar="AGENT_ID",
                   help="with --init-tokens: an agent id as on calls.events; repeatable")
    p.add_argument("--archive", metavar="DIR",
                   help="call archive for the Insights page (default CALLRADAR_CONSOLE_ARCHIVE_DIR, else where "
                        "`callradar archive` writes: <state dir>/archive)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import asyncio
    import signal

    from callradar.agents.console.auth import TokenError, TokenStore, write_tokens_file
    from callradar.agents.routing import load_matrix
    from callradar.agents.yaml_lines import ConfigError
    from callradar.pipeline.errors import UserError
    from callradar.pipeline.settings import load_settings

    if args.init_tokens:
        try:
            n = write_tokens_file(args.init_tokens, args.supervisor, args.agent)
        except TokenError as exc:
            raise UserError(str(exc)) from None
        print(f"wrote {n} token(s) to {args.init_tokens} (mode 600); start with: "
              f"callradar console --tokens {args.init_tokens}")
        return 0
    if args.supervisor or args.agent:
        raise UserError("--supervisor and --agent go with --init-tokens FILE")

    overrides = {k: v for k, v in (("console_host", args.host), ("console_port", args.port)) if v is not None}
    if args.tokens:
        overrides["console_tokens_file"] = Path(args.tokens)
    if args.archive:
        overrides["console_archive_dir"] = Path(args.archive)
    settings = load_settings(**overrides)
    try:
        tokens = TokenStore.from_settings(settings)
    except TokenError as exc:
        raise UserError(str(exc)) from None
    try:  # the routes a case may be handed over to: the same matrix the worker routes by
        matrix = load_matrix(settings)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if not _is_loopback(settings.console_host):
        log.warning("console bound to %s: reachable from other machines over plain HTTP; "
                    "put it behind a TLS proxy", settings.console_host)
    _connect(settings)

    from callradar.agents.console.server import serve
    from callradar.training.labelled_calls import default_archive_dir

    insights = archive_insights(settings.console_archive_dir or default_archive_dir(settings),
                                settings.risk_rearm_threshold, settings.follow_up_risk)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, tokens, stop, matrix, insights)

    try:
        asyncio.run(main())
    except OSError as exc:
        raise UserError(f"cannot serve on {settings.console_host}:{settings.console_port}: {exc.strerror or exc}"
                        " (choose another with --port)") from None
    return 0


def archive_insights(folder: Path, rearm_threshold: float, follow_up_risk: float = 0.4):
    """The Insights page's reader: the archive as the report reads it (training/insights.py), which the
    console may not import itself (it sits below training)."""
    from callradar.agents.console.insights import ArchiveEmpty, ArchiveInsights
    from callradar.training.insights import insights, read_columns
    from callradar.training.labelled_calls import archive_parts

    folder = Path(folder)

    def read():
        if not folder.is_dir():
            raise ArchiveEmpty(f"{folder}: no such folder")
        if not archive_parts(folder):
            raise ArchiveEmpty(f"{folder}: no archived calls in it")
        return read_columns(folder)

    def tables(columns, since_ts: float) -> dict:
        found = insights(columns, since_ts, rearm_threshold=rearm_threshold, follow_up_risk=follow_up_risk)
        return {"calls": int((columns.calls["ts"] >= since_ts).sum()), "archived_calls": columns.n_calls,
                "tables": {name: table.to_dict() for name, table in found.items()}}

    return ArchiveInsights(folder, read, tables)


def _connect(settings) -> None:
    """Fail fast, with what to do, when Kafka is not there."""
    from callradar.pipeline.kafka.clients import ensure_topics
    from callradar.pipeline.kafka.connect import connect_or_explain

    connect_or_explain(settings)
    ensure_topics(settings)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
