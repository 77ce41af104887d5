"""``callradar evaluate``: judge a risk model on held-out labelled calls against the prior, with a report.

The metrics, plots and report are training/evaluate.py; this is the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    from callradar.training.features import HORIZON_S

    p = subparsers.add_parser(
        "evaluate", help="judge a risk model on held-out labelled calls, against the prior, with a report",
        description="Score held-out labelled calls with a risk model and the bundled prior (same run, same calls) "
        "and write report.md, metrics.json and plots (ROC, precision-recall, calibration, lead time).",
    )
    p.add_argument("--model", type=Path, default=None, metavar="DIR",
                   help="risk model folder (default: the one the live score stage loads)")
    p.add_argument("--data", type=Path, default=None, metavar="PATH",
                   help="labelled calls: .parquet, .jsonl or an archive folder (default: <state dir>/corpus/test.parquet)")
    p.add_argument("--baseline", type=Path, default=None, metavar="DIR", help="baseline model (default: the prior)")
    p.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="report folder (default: <state dir>/reports/<model version>)")
    p.add_argument("--horizon-s", type=float, default=HORIZON_S, help=f"prefix target for calibration (default {HORIZON_S:g})")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from callradar.models.registry import Registry, load_risk_model
    from callradar.pipeline.errors import UserError
    from callradar.pipeline.settings import load_settings
    from callradar.pipeline.stages.score import load_models
    from callradar.training.evaluate import (
        add_operating_point,
        fmt_metric,
        load_model_dir,
        matching_threshold,
        operating_point_advice,
        prior_model,
        write_report,
    )
    from callradar.training.features import feature_cache_dir, features_of
    from callradar.training.labelled_calls import read_calls
    from callradar.training.risk import check_labels_against_transcript

    settings = load_settings()
    model = load_model_dir(args.model) if args.model else load_risk_model(Registry(settings.models_root))
    baseline = load_model_dir(args.baseline) if args.baseline else prior_model()
    data = args.data or settings.state_dir / "corpus" / "test.parquet"
    if not data.exists():
        hint = " (build one with `callradar corpus build`)" if args.data is None else ""
        raise UserError(f"{data}: no such file or folder{hint}")
    calls = read_calls(data, labelled_only=True)
    if not calls:
        raise UserError(f"{data}: no labelled calls (import outcomes with `callradar label import`)")
    check_labels_against_transcript(calls, data)  # lead times from such a label would be nonsense
    models = {"model": model}
    if baseline.version != model.version:
        models["baseline"] = baseline
    print(f"evaluating {' vs '.join(m.version for m in models.values())} on {len(calls)} calls from {data}",
          file=sys.stderr, flush=True)
    cfs = features_of(calls, load_models(settings).text_scorer, cache_dir=feature_cache_dir(settings))
    out = args.report or settings.state_dir / "reports" / model.version
    command = " ".join(["callradar evaluate", *(f"--{k} {v}" for k, v in (("model", args.model), ("data", args.data),
                        ("baseline", args.baseline), ("report", args.report)) if v is not None)])
    metrics = write_report(models, cfs, out, data, settings.risk_alert_threshold, args.horizon_s, command,
                           settings.alert_confirm_utterances)
    for name, m in metrics.items():
        print(f"{models[name].version}: AUROC {fmt_metric(m['auroc'])}, before escalation {fmt_metric(m['auroc_before_escalation'])}, "
              f"at the call's end {fmt_metric(m['auroc_end_of_call'])}, "
              f"PR-AUC {fmt_metric(m['pr_auc'])}, precision {fmt_metric(m['precision'])}, recall {fmt_metric(m['recall'])}, "
              f"median lead {fmt_metric(m['median_lead_time_s'])} s")
    if args.baseline and "baseline" in metrics:  # a baseline of the user's own, e.g. the model running now
        base_rate = metrics["baseline"].get("false_alarm_rate")
        op = (matching_threshold(model, cfs, base_rate, settings.alert_confirm_utterances)
              if base_rate is not None else None)
        advice = operating_point_advice({"threshold": settings.risk_alert_threshold, "new": metrics["model"],
                                         "baseline_metrics": metrics["baseline"], "operating_point": op},
                                        "the model", "the baseline")
        if advice:
            print(f"operating point: {advice}")
            add_operating_point(out, op, advice)
    print(f"report: {out / 'report.md'}")
    return 0
