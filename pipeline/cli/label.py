"""``callradar label import|export``: outcomes for archived calls, and labelled calls out of the archive.

The format and its checks are training/labelled_calls.py (docs/labelled-calls.md).
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "label",
        help="attach outcomes to archived calls, or export labelled calls",
        description="Outcomes for archived calls. Format of labelled calls: docs/labelled-calls.md.",
    )
    sub = p.add_subparsers(dest="label_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="import outcomes from a CSV (call_id,outcome[,escalation_time])",
                         description="Attach outcomes to archived calls. CSV header: call_id,outcome[,escalation_time]; "
                         "outcome is escalated or calm; escalation_time is seconds since the call started (optional, "
                         "escalated calls only). Nothing is written unless every line is valid.")
    imp.add_argument("csv", type=Path, metavar="FILE.csv")
    imp.add_argument("--archive", type=Path, default=None, metavar="DIR", help="archive folder (default: <state dir>/archive)")
    imp.set_defaults(func=_run_import)
    exp = sub.add_parser("export", help="write the archive's calls, with their labels and feedback, to one file",
                         description="Merge an archive folder (parts, labels and agents' feedback) into one .parquet "
                         "or .jsonl file.")
    exp.add_argument("--out", type=Path, required=True, metavar="FILE", help="output .parquet or .jsonl")
    exp.add_argument("--archive", type=Path, default=None, metavar="DIR", help="archive folder (default: <state dir>/archive)")
    exp.add_argument("--labelled-only", action="store_true", help="leave out calls without an outcome")
    exp.set_defaults(func=_run_export)


def _archive_dir(args) -> Path:
    if args.archive is not None:
        return args.archive
    from callradar.pipeline.settings import load_settings
    from callradar.training.labelled_calls import default_archive_dir

    return default_archive_dir(load_settings())


def _run_import(args) -> int:
    from callradar.training.labelled_calls import (
        LABELS_FILE,
        LabelledCallsError,
        append_labels,
        read_archive,
        read_outcomes_csv,
    )

    folder = _archive_dir(args)
    outcomes = read_outcomes_csv(args.csv)
    if not outcomes:
        raise LabelledCallsError(f"{args.csv}: no outcomes in it (only a header?)")
    known = {c.call_id for c in read_archive(folder)} if folder.is_dir() else set()
    append_labels(folder, outcomes)
    escalated = sum(o.outcome == "escalated" for o in outcomes)
    print(f"imported {len(outcomes)} outcome(s) ({escalated} escalated, {len(outcomes) - escalated} calm) "
          f"into {folder / LABELS_FILE}")
    unknown = [o.call_id for o in outcomes if o.call_id not in known]
    if unknown:
        listed = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        print(f"note: {len(unknown)} call_id(s) are not in the archive yet (kept; they apply once archived): {listed}")
    return 0


def _run_export(args) -> int:
    from callradar.training.labelled_calls import LabelledCallsError, read_calls, write_calls

    folder = _archive_dir(args)
    if not folder.is_dir():
        raise LabelledCallsError(f"{folder}: no archive folder (run `callradar archive` first, or pass --archive)")
    calls = read_calls(folder, labelled_only=args.labelled_only)
    write_calls(args.out, calls)
    labelled = sum(c.outcome is not None for c in calls)
    marks = sum(len(c.feedback) for c in calls)
    print(f"wrote {len(calls)} call(s), {labelled} labelled, {marks} prompt feedback mark(s), to {args.out}")
    return 0
