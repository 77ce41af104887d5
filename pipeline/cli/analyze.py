"""``callradar analyze``: recorded calls to labelled calls with the live stages, no Kafka (pipeline/analyze.py)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="recorded calls to labelled calls (transcripts, scores, alerts) with the live stages, no Kafka",
        description="Run recorded calls through the live segmenter, speech to text, redaction, scoring and "
                    "triggers, in batch, and write labelled calls (docs/labelled-calls.md) with the alerts "
                    "callradar would have raised. Resumable: a second run skips the calls already done. "
                    "Exit status: 0 when every file was analysed, else the number skipped (at most 100). "
                    "See docs/analyze.md.",
    )
    p.add_argument("recordings", nargs="*", metavar="RECORDING",
                   help="stereo files, agent/customer mono pairs named <call>_agent.* and <call>_caller.* "
                        "(or _customer, _left/_right), folders (searched recursively) or quoted globs")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="labelled calls to write, .parquet or .jsonl; finished calls are kept in FILE.parts/")
    p.add_argument("--labels", type=Path, metavar="FILE.csv",
                   help="outcomes to join, call_id,outcome[,escalation_time] (the `label import` format)")
    p.add_argument("--metadata", type=Path, metavar="FILE",
                   help="CSV or JSON keyed by call_id: agent_id, queue, customer_tier (routing and reports)")
    p.add_argument("--agent-channel", choices=["left", "right"], default="left",
                   help="which side of a stereo file is the agent (default left)")
    p.add_argument("--pair", nargs=2, action="append", metavar=("AGENT", "CUSTOMER"),
                   help="a call given as two mono files; repeatable")
    p.add_argument("--pair-pattern", nargs=2, metavar=("AGENT", "CUSTOMER"),
                   help="how the two files of a call are named, with {call} for the call's name, e.g. "
                        "'{call}-in.wav' '{call}-out.wav' (default: the _agent/_caller suffixes)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (default: the cores)")
    p.add_argument("--report", type=Path, metavar="DIR", help="also write an HTML report of the run to DIR")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from callradar.pipeline.analyze import default_workers, run_analysis
    from callradar.pipeline.errors import UserError
    from callradar.pipeline.recordings import find_recordings, read_metadata
    from callradar.pipeline.settings import load_settings

    if not args.recordings and not args.pair:
        raise UserError("give at least one RECORDING (file, folder or glob) or --pair AGENT CUSTOMER")
    workers = default_workers() if args.workers is None else args.workers
    if workers < 1:
        raise UserError(f"--workers {workers}: must be at least 1")
    try:
        recordings, problems = find_recordings(args.recordings, args.pair, args.agent_channel, args.pair_pattern)
    except ValueError as exc:  # a bad --pair-pattern
        raise UserError(str(exc)) from None
    metadata = {}
    if args.metadata is not None:
        try:
            metadata = read_metadata(args.metadata)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    outcomes = []
    if args.labels is not None:
        from callradar.training.labelled_calls import read_outcomes_csv

        outcomes = read_outcomes_csv(args.labels, source=f"labels:{args.labels.name}")
    if not recordings:
        raise UserError("no recordings to analyse: " + ("; ".join(str(p) for p in problems) or "none found"))
    settings = load_settings()
    ids = {r.call_id for r in recordings}
    unknown_meta = sorted(set(metadata) - ids)
    if unknown_meta:
        print(f"note: {args.metadata}: {len(unknown_meta)} call id(s) match no recording: {_listed(unknown_meta)}",
              file=sys.stderr)
    summary = run_analysis(settings, recordings, args.out, metadata=metadata, outcomes=outcomes,
                           workers=min(workers, max(1, len(recordings))), problems=problems)
    _print_summary(summary, args)
    if args.report is not None:
        _write_report(summary.calls, args.report, args.out, settings)
    if summary.skipped:
        names = "; ".join(str(p) for p in summary.skipped[:20])
        more = f"; ... and {len(summary.skipped) - 20} more" if len(summary.skipped) > 20 else ""
        print(f"callradar analyze: skipped {len(summary.skipped)} file(s): {names}{more}", file=sys.stderr)
    return summary.exit_status


def _print_summary(summary, args) -> None:
    from callradar.pipeline.analyze import backtest

    speed = f" at {summary.audio_s / summary.wall_s:.1f}x real time" if summary.analysed and summary.wall_s else ""
    print(f"wrote {len(summary.calls)} call(s) to {args.out} ({summary.analysed} analysed now, "
          f"{summary.audio_s / 3600:.2f} h of audio{speed}; {summary.resumed} done by an earlier run)")
    if summary.silent:
        print(f"note: {len(summary.silent)} call(s) had no speech and are not in the output: {_listed(summary.silent)}")
    if summary.unknown_labels:
        print(f"note: {args.labels}: {len(summary.unknown_labels)} call id(s) match no recording (their outcomes "
              f"were not used; check the ids): {_listed(summary.unknown_labels)}", file=sys.stderr)
    bt = backtest(summary.calls)
    line = f"backtest: {bt['alerted']} of {bt['calls']} call(s) would have raised an escalation alert"
    if bt["escalated"] or bt["calm"]:
        line += (f"; escalated calls alerted {bt['escalated_alerted']}/{bt['escalated']}, "
                 f"calm calls alerted {bt['calm_alerted']}/{bt['calm']}")
        if bt["median_lead_s"] is not None:
            line += f", median lead time {bt['median_lead_s']:.0f} s"
    print(line)


def _write_report(calls, out_dir: Path, out: Path, settings) -> None:
    """The report, with the live trigger's threshold, confirmation and keyword rules in its threshold table."""
    try:
        from callradar.training.run_report import write_run_report
    except ImportError:
        print("note: --report: this version has no run report (callradar.training.run_report); skipped",
              file=sys.stderr)
        return
    from callradar.models.registry import Registry, rules_path

    index = write_run_report(calls, out_dir, title=f"callradar analyze: {out.name}",
                             alert_threshold=settings.risk_alert_threshold,
                             confirm_utterances=settings.alert_confirm_utterances,
                             keywords=rules_path(Registry(settings.models_root)))
    print(f"report: {index}")


def _listed(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" ... and {len(names) - n} more" if len(names) > n else "")
