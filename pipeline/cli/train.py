"""``callradar train risk|sentiment|intent``: train the risk model, or hand over to a head's trainer.

Training itself is training/risk.py (and training/sentiment.py, training/intent.py);
this is the command line, and adding the result to the model registry.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path


def register(subparsers) -> None:
    from callradar.training.evaluate import CURVE_SEEDS, CURVE_SIZES
    from callradar.training.features import HORIZON_S
    from callradar.training.risk import (
        DEFAULT_EXCLUDED,
        HELDOUT_SHARE,
        TEXT_PART_MIN_CALLS,
        TEXT_PART_MIN_GAIN,
        TEXT_PART_MODES,
    )

    p = subparsers.add_parser("train", help="train the risk model (or the sentiment / intent heads)")
    sub = p.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    r = sub.add_parser(
        "risk", help="train the call-risk model on labelled calls",
        description="Train P(escalation | call so far) on labelled calls (Parquet, JSONL or an archive folder; "
        "docs/labelled-calls.md) with the live feature code; write model.json, card.json and model_card.md "
        "with a learning curve, the new model against the current one on held-out calls, and the reasons "
        "it learnt; add it to the model registry (not promoted).",
    )
    r.add_argument("--data", type=Path, default=None, metavar="PATH",
                   help="labelled calls (default: <state dir>/corpus/train.parquet)")
    r.add_argument("--test", type=Path, default=None, metavar="PATH",
                   help="held-out calls for the comparison with the current model (default: test.parquet next "
                   "to --data, if there; else --heldout-share of --data)")
    r.add_argument("--heldout-share", type=float, default=HELDOUT_SHARE, metavar="F",
                   help=f"without --test: the share of each outcome held out, whole calls (default {HELDOUT_SHARE:g})")
    r.add_argument("--curve-sizes", default=",".join(map(str, CURVE_SIZES)), metavar="N1,N2",
                   help="learning-curve points, in calls (default %(default)s; fewer when there are fewer calls; "
                   "'' for none)")
    r.add_argument("--curve-seeds", type=int, default=CURVE_SEEDS, metavar="K",
                   help=f"draws of the calls per learning-curve point, for the spread (default {CURVE_SEEDS}; 0: no curve)")
    r.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="model folder to write (default: <state dir>/trained/<version>)")
    r.add_argument("--horizon-s", type=float, default=HORIZON_S,
                   help=f"prefixes this close to the escalation count as positive (default {HORIZON_S:g})")
    r.add_argument("--calibration", choices=("platt", "isotonic", "none"), default="platt",
                   help="platt (default: two numbers, folded into the coefficients) or isotonic (calibration points)")
    r.add_argument("--exclude", default=",".join(DEFAULT_EXCLUDED), metavar="F1,F2",
                   help="features to leave out (default: the timing and agent features, which a semi-synthetic "
                   "corpus cannot teach, and intent_count; '' to learn all, on real archived calls)")
    r.add_argument("--text-part", choices=TEXT_PART_MODES, default="auto",
                   help="what the words say, learnt from the calls' pooled utterance embeddings as one more feature: "
                   f"auto (default: only with at least {TEXT_PART_MIN_CALLS} labelled calls and a call-grouped CV "
                   f"call AUROC gain of at least {TEXT_PART_MIN_GAIN:g}), on, off")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--version", default=None, help="model version (default risk-YYYYMMDD-HHMM)")
    r.add_argument("--no-register", action="store_true",
                   help="only write the folder; do not add it to the model registry")
    r.set_defaults(func=_run_risk)
    for name in ("sentiment", "intent"):
        # Everything after the name goes to the training module's own parser (prefix "+" keeps
        # argparse from reading its "--options" here).
        h = sub.add_parser(name, add_help=False, prefix_chars="+",
                           help=f"train the {name} head (`callradar train {name} --help` for its options)")
        h.add_argument("rest", nargs="*")
        h.set_defaults(func=_run_head, head=name)


def _run_head(args) -> int:
    import importlib

    return importlib.import_module(f"callradar.training.{args.head}").main(args.rest)


def _run_risk(args) -> int:
    from callradar.models.call_features import FEATURE_NAMES
    from callradar.models.registry import Registry, RegistryError, heldout_regression, read_card
    from callradar.pipeline.errors import UserError
    from callradar.pipeline.settings import load_settings
    from callradar.pipeline.stages.score import load_models
    from callradar.training.evaluate import fmt_metric
    from callradar.training.features import feature_cache_dir
    from callradar.training.risk import summary_lines, train_risk

    settings = load_settings()
    data = args.data or settings.state_dir / "corpus" / "train.parquet"
    if not data.exists():
        hint = " (build one with `callradar corpus build`)" if args.data is None else ""
        raise UserError(f"{data}: no such file or folder{hint}")
    test = args.test
    if test is None and data.is_file() and (data.parent / "test.parquet").exists() and data.name != "test.parquet":
        test = data.parent / "test.parquet"
    excluded = {f.strip() for f in args.exclude.split(",") if f.strip()}
    unknown = excluded - set(FEATURE_NAMES)
    if unknown:
        raise UserError(f"--exclude: unknown feature(s) {', '.join(sorted(unknown))}; known: {', '.join(FEATURE_NAMES)}")
    if args.horizon_s < 0:
        raise UserError("--horizon-s must be >= 0")
    if test is None and not 0 < args.heldout_share < 1:
        raise UserError(f"--heldout-share must be between 0 and 1, got {args.heldout_share:g}")
    try:
        sizes = tuple(int(n) for n in args.curve_sizes.split(",") if n.strip())
    except ValueError:
        raise UserError(f"--curve-sizes: expected numbers of calls such as 100,300,1000, got {args.curve_sizes!r}") from None
    if any(n < 1 for n in sizes) or args.curve_seeds < 0:
        raise UserError("--curve-sizes must be positive numbers of calls and --curve-seeds >= 0")
    try:  # the model the new one must beat: what runs now
        current_label, current_dir = Registry(settings.models_root).resolve("risk")
    except RegistryError as exc:
        raise UserError(str(exc)) from None
    version = args.version or "risk-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    out = args.out or settings.state_dir / "trained" / version
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; pass another --out or --version")
    card = train_risk(data, out, scorer=lambda: load_models(settings).text_scorer, test_path=test, horizon_s=args.horizon_s,
                      calibration=args.calibration, features=tuple(n for n in FEATURE_NAMES if n not in excluded),
                      seed=args.seed, threshold=settings.risk_alert_threshold, version=version,
                      cache_dir=feature_cache_dir(settings), current_dir=current_dir, current_label=current_label,
                      heldout_share=args.heldout_share, curve_sizes=sizes, curve_seeds=args.curve_seeds,
                      text_part=args.text_part, confirm_utterances=settings.alert_confirm_utterances)
    m = card["metrics"]
    line = f"wrote {out} ({version})"
    if "heldout" in m:
        h, cur, pr = m["heldout"], m["heldout_current"], m["heldout_prior"]
        line += (f": held-out call AUROC {fmt_metric(h['auroc'])} (current {current_label} {fmt_metric(cur['auroc'])}, "
                 f"prior {fmt_metric(pr['auroc'])}), before escalation {fmt_metric(h['auroc_before_escalation'])} "
                 f"(current {fmt_metric(cur['auroc_before_escalation'])}), median lead "
                 f"{fmt_metric(h['median_lead_time_s'], 1)} s (current {fmt_metric(cur['median_lead_time_s'], 1)} s)")
    print(line)
    for text in summary_lines(card):
        print(text)
    worse = heldout_regression(version, card, (current_label, read_card(current_dir)))
    if worse:
        print(f"not better: {worse}; `callradar models promote` will refuse it unless --force")
    registered = None if args.no_register else _register(out, settings)
    if registered:
        print(registered)
    print(f"report with plots: callradar evaluate --model {out}" + (f" --data {test}" if test else ""))
    return 0


def _register(out: Path, settings) -> str | None:
    """Add the folder to the model registry (models/registry.py) as the next version; never promotes."""
    from callradar.models.registry import Registry, RegistryError

    registry = Registry(settings.models_root)
    try:
        version = registry.add("risk", out, note=f"callradar train risk -> {out.name}")
    except RegistryError as exc:
        return f"not registered: {exc}"
    return (f"registered as risk {version} in {registry.root}; "
            f"run it live with `callradar models promote risk {version}`")
