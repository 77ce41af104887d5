"""``callradar report``: insights for supervisors and managers from the call archive, as HTML, PNG and CSV.

The tables and charts are training/insights.py; this is the command line.
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="insights from the call archive: escalations, alert precision, lead time, response times, prompts",
        description="Read the call archive (Parquet parts, labels and feedback; not the live topics) and write "
        "index.html with PNG charts and one CSV per table: escalations per day, queue, agent, customer tier, trigger "
        "and support tier; alert precision per trigger; lead time; response-time adherence; prompt helpfulness; "
        "calls that calmed down after a prompt.",
    )
    p.add_argument("--since", default="7d", metavar="WHEN",
                   help="calls from this far back: 24h, 7d, 30d, or an ISO date such as 2025-01-31 (UTC); default 7d")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="report folder (default: <state dir>/reports/insights)")
    p.add_argument("--archive", type=Path, default=None, metavar="DIR",
                   help="archive folder (default: <state dir>/archive, where `callradar archive` writes)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import time

    from callradar.pipeline.errors import UserError
    from callradar.pipeline.settings import load_settings
    from callradar.training.insights import insights, parse_since, read_columns, write_report
    from callradar.training.labelled_calls import default_archive_dir

    since = parse_since(args.since, time.time())  # a bad --since fails before anything is read
    settings = load_settings()
    archive = args.archive or default_archive_dir(settings)
    out = args.out or Path(settings.state_dir) / "reports" / "insights"
    cols = read_columns(archive)
    tables = insights(cols, since, rearm_threshold=settings.risk_rearm_threshold, follow_up_risk=settings.follow_up_risk)
    n = int((cols.calls["ts"] >= since).sum())
    if not n:
        raise UserError(f"{archive}: no calls since {args.since} (the archive holds {cols.n_calls}); try a longer --since")
    command = " ".join(["callradar report", f"--since {args.since}",
                        *(f"--{k} {v}" for k, v in (("archive", args.archive), ("out", args.out)) if v is not None)])
    written = write_report(tables, out, command)
    print(f"{n} calls since {args.since}: {len(written)} files in {out}; open {out / 'index.html'}")
    return 0
