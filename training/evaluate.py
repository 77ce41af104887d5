"""Evaluate risk models on held-out labelled calls: ``callradar evaluate``.

Everything is judged the way the live trigger would act: a call is flagged when
its risk first reaches ``settings.risk_alert_threshold`` (risk is computed after
each utterance, from the same feature code as live), a crossing with no keyword
behind it only once it has held on ``settings.alert_confirm_utterances`` customer
utterances in a row (agents/triggers.py, :func:`first_alert_index`). Reported per model, with
the bundled prior as the baseline in the same run on the same calls:

- call AUROC / PR-AUC on the highest risk over the whole call, and on the
  highest risk *before the escalation* (what an early warning can use; for calm
  calls, the whole call); call AUROC on the risk at the call's end (what a list of
  calls to follow up after they ended would rank by);
- precision, recall and false-alarm rate at the threshold; recall before the escalation;
- lead time: escalation time - time of the first alert (end of the utterance
  whose risk crossed); > 0 means the supervisor was warned before the customer asked;
- calibration on the training target (prefix labels, see training/risk.py).

Writes ``report.md``, ``metrics.json`` and four PNGs (ROC, precision-recall,
calibration, lead-time histogram) into the report folder.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from callradar.models.types import UNSAFE_SUFFIXES
from callradar.pipeline.errors import UserError
from callradar.training.features import HORIZON_S, CallFeatures, escalation_time, prefix_labels


@dataclass
class Assessment:
    """One model on a set of calls: per call and per prefix numbers the metrics and plots need."""

    name: str
    version: str
    escalated: np.ndarray  # per call, bool
    sources: list[str]
    max_risk: np.ndarray  # whole call
    max_before: np.ndarray  # before the escalation (calm: whole call)
    end_risk: np.ndarray  # after the call's last utterance
    first_alert: np.ndarray  # call time of the first crossing, nan if never
    t_esc: np.ndarray  # escalation time, nan for calm
    prefix_y: np.ndarray  # training-target labels of the kept prefixes
    prefix_p: np.ndarray

    @property
    def flagged(self) -> np.ndarray:
        return ~np.isnan(self.first_alert)

    @property
    def lead_times(self) -> np.ndarray:
        has = self.escalated & self.flagged & ~np.isnan(self.t_esc)
        return self.t_esc[has] - self.first_alert[has]


def first_alert_index(cf: CallFeatures, readings: list, threshold: float, confirm_utterances: int) -> int | None:
    """The utterance whose score the live trigger would first alert on (None: never), by its rules:
    the threshold, and for a crossing with no keyword behind it, confirmation by customer utterances.

    The utterance's keyword categories and whether the intent head read it as a request are read off
    the call features (a ``kw_`` count or ``intent_count`` that went up).
    """
    from callradar.agents.triggers import confirmed, counts_for_confirmation, trigger_category
    from callradar.models.call_features import KEYWORD_CATEGORIES

    over, previous = 0, {}
    for i, (row, reading) in enumerate(zip(cf.rows, readings)):
        utt = cf.call.utterances[i] if i < len(cf.call.utterances) else None
        if utt is None or counts_for_confirmation(utt.speaker, utt.text):
            over = over + 1 if reading.risk >= threshold else 0
        heard = [c for c in KEYWORD_CATEGORIES if row.get(f"kw_{c}", 0.0) > previous.get(f"kw_{c}", 0.0)]
        asked = row.get("intent_count", 0.0) > previous.get("intent_count", 0.0)
        previous = row
        if reading.risk >= threshold and confirmed(trigger_category(heard, reading.reasons), over,
                                                   confirm_utterances, asked):
            return i
    return None


def assess(name: str, model, cfs: list[CallFeatures], threshold: float, horizon_s: float,
           confirm_utterances: int = 1) -> Assessment:
    from callradar.models.call_features import CallState

    empty = model.predict(CallState().features(pooled=True)).risk  # the risk before anyone spoke
    esc, max_risk, max_before, end, first, t_esc, py, pp = [], [], [], [], [], [], [], []
    for cf in cfs:
        readings = [model.predict(r) for r in cf.model_inputs()]
        risks = np.array([r.risk for r in readings])
        t = escalation_time(cf.call)
        esc.append(t is not None)
        t_esc.append(np.nan if t is None else t)
        max_risk.append(risks.max())
        before = risks[cf.times < t] if t is not None else risks
        max_before.append(max(empty, before.max()) if len(before) else empty)
        end.append(risks[-1] if len(risks) else empty)
        alerted = first_alert_index(cf, readings, threshold, confirm_utterances)
        first.append(cf.times[alerted] if alerted is not None else np.nan)
        labels = prefix_labels(cf, horizon_s)
        py.append(labels[labels >= 0])
        pp.append(risks[labels >= 0])
    return Assessment(name, model.version, np.array(esc, dtype=bool), [cf.call.source or "unknown" for cf in cfs],
                      np.array(max_risk), np.array(max_before), np.array(end), np.array(first, dtype=float),
                      np.array(t_esc, dtype=float), np.concatenate(py), np.concatenate(pp))


def _auc(y, s, kind: str) -> float | None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(set(np.asarray(y).tolist())) < 2:
        return None
    return round(float((roc_auc_score if kind == "roc" else average_precision_score)(y, s)), 4)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _median(xs) -> float | None:
    return round(float(np.median(xs)), 2) if len(xs) else None


def metrics_of(a: Assessment, mask: np.ndarray | None = None) -> dict:
    if mask is None:
        mask = np.ones(len(a.escalated), dtype=bool)
    y, flagged, first, t_esc = a.escalated[mask], a.flagged[mask], a.first_alert[mask], a.t_esc[mask]
    warned_before = flagged & (first < t_esc)  # nan compares False
    has_lead = y & flagged & ~np.isnan(t_esc)
    leads = t_esc[has_lead] - first[has_lead]
    return {
        "calls": int(mask.sum()),
        "escalated": int(y.sum()),
        "auroc": _auc(y, a.max_risk[mask], "roc"),
        "pr_auc": _auc(y, a.max_risk[mask], "pr"),
        "auroc_before_escalation": _auc(y, a.max_before[mask], "roc"),
        "pr_auc_before_escalation": _auc(y, a.max_before[mask], "pr"),
        "auroc_end_of_call": _auc(y, a.end_risk[mask], "roc"),
        "flagged": int(flagged.sum()),
        "precision": _ratio(int((flagged & y).sum()), int(flagged.sum())),
        "recall": _ratio(int((flagged & y).sum()), int(y.sum())),
        "recall_before_escalation": _ratio(int((warned_before & y).sum()), int(y.sum())),
        "false_alarm_rate": _ratio(int((flagged & ~y).sum()), int((~y).sum())),
        "median_lead_time_s": _median(leads),
        "lead_time_p25_s": round(float(np.percentile(leads, 25)), 2) if len(leads) else None,
        "lead_time_p75_s": round(float(np.percentile(leads, 75)), 2) if len(leads) else None,
    }


def full_metrics(a: Assessment) -> dict:
    from sklearn.metrics import brier_score_loss

    out = metrics_of(a)
    out["prefix_auroc"] = _auc(a.prefix_y, a.prefix_p, "roc")
    out["prefix_brier"] = round(float(brier_score_loss(a.prefix_y, a.prefix_p)), 4) if len(a.prefix_y) else None
    sources = sorted(set(a.sources))
    if len(sources) > 1:
        src = np.array(a.sources)
        out["by_source"] = {s: metrics_of(a, src == s) for s in sources}
    return out


def compare(assessments: list[Assessment]) -> dict:
    """``{name: metrics}``, plus lead times on the escalated calls that every model flagged.

    Each model's own median lead is over the calls it flagged, so a model that
    flags only the obvious calls can look early; the paired median compares like with like.
    """
    metrics = {a.name: full_metrics(a) for a in assessments}
    both = np.logical_and.reduce([a.escalated & a.flagged & ~np.isnan(a.t_esc) for a in assessments])
    for a in assessments:
        metrics[a.name]["paired_calls"] = int(both.sum())
        metrics[a.name]["paired_median_lead_time_s"] = _median(a.t_esc[both] - a.first_alert[both])
    return metrics


def evaluate_models(models: dict, cfs: list[CallFeatures], threshold: float, horizon_s: float = HORIZON_S,
                    confirm_utterances: int = 1) -> dict:
    """``{name: metrics}`` for each model on the same calls (features computed once)."""
    return compare([assess(name, m, cfs, threshold, horizon_s, confirm_utterances) for name, m in models.items()])


# ---------------------------------------------------------------- plots and report


def _plots(assessments: list[Assessment], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    files = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files.append(name)

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for a, c in zip(assessments, colours):
        for scores, style, what in ((a.max_before, "-", "before escalation"), (a.max_risk, ":", "whole call")):
            if len(set(a.escalated.tolist())) == 2:
                fpr, tpr, _ = roc_curve(a.escalated, scores)
                ax.plot(fpr, tpr, style, color=c, label=f"{a.version}, {what} (AUROC {_auc(a.escalated, scores, 'roc')})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    ax.set(xlabel="false positive rate (calm calls flagged)", ylabel="true positive rate", title="ROC, per call (max risk)")
    ax.legend(fontsize=7, loc="lower right")
    save(fig, "roc.png")

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for a, c in zip(assessments, colours):
        for scores, style, what in ((a.max_before, "-", "before escalation"), (a.max_risk, ":", "whole call")):
            if len(set(a.escalated.tolist())) == 2:
                prec, rec, _ = precision_recall_curve(a.escalated, scores)
                ax.plot(rec, prec, style, color=c, label=f"{a.version}, {what} (AP {_auc(a.escalated, scores, 'pr')})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, per call (max risk)", ylim=(0, 1.02))
    ax.legend(fontsize=7, loc="lower left")
    save(fig, "precision_recall.png")

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, label="perfectly calibrated")
    for a, c in zip(assessments, colours):
        if len(set(a.prefix_y.tolist())) == 2:
            frac, mean_p = calibration_curve(a.prefix_y, a.prefix_p, n_bins=10, strategy="quantile")
            ax.plot(mean_p, frac, "o-", color=c, ms=4, label=a.version)
    ax.set(xlabel="predicted risk", ylabel="observed share positive", title="Calibration (prefixes, training target)")
    ax.legend(fontsize=8)
    save(fig, "calibration.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    leads = [a.lead_times for a in assessments]
    finite = np.concatenate([x for x in leads if len(x)] or [np.zeros(1)])
    bins = np.linspace(min(-10.0, finite.min()), max(10.0, finite.max()), 25)
    for a, x, c in zip(assessments, leads, colours):
        if len(x):
            ax.hist(x, bins=bins, alpha=0.5, color=c, label=f"{a.version} (median {np.median(x):.1f} s, n={len(x)})")
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel="lead time, s (escalation time - first alert; > 0 is early)", ylabel="escalated calls",
           title="Lead time of the first alert")
    ax.legend(fontsize=8)
    save(fig, "lead_time.png")
    return files


def fmt_metric(v, digits: int = 3) -> str:
    """A metric as reports and command output show it: n/a when there is none."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


ROWS = [
    ("auroc", "call AUROC (max risk over the call)"),
    ("auroc_before_escalation", "call AUROC, risk before the escalation only"),
    ("pr_auc", "call PR-AUC"),
    ("pr_auc_before_escalation", "call PR-AUC, before the escalation"),
    ("auroc_end_of_call", "call AUROC, risk at the call's end (post-call follow-up)"),
    ("precision", "precision at the threshold"),
    ("recall", "recall at the threshold"),
    ("recall_before_escalation", "recall before the escalation (lead > 0)"),
    ("false_alarm_rate", "calm calls flagged"),
    ("median_lead_time_s", "median lead time, s (flagged escalated calls)"),
    ("paired_median_lead_time_s", "median lead time, s, on the calls every model flagged"),
    ("paired_calls", "... that many calls"),
    ("lead_time_p25_s", "lead time p25, s"),
    ("lead_time_p75_s", "lead time p75, s"),
    ("prefix_auroc", "prefix AUROC (training target)"),
    ("prefix_brier", "prefix Brier score (lower is better)"),
]


def _confirm_note(confirm_utterances: int) -> str:
    if confirm_utterances <= 1:
        return ""
    return (f", a crossing with no keyword behind it once it has held on {confirm_utterances} customer utterances in a row "
            "(CALLRADAR_ALERT_CONFIRM_UTTERANCES), as the live trigger does")


def report_md(metrics: dict, assessments: list[Assessment], data: Path, threshold: float, horizon_s: float,
              plots: list[str], command: str, confirm_utterances: int = 1) -> str:
    names = [a.name for a in assessments]
    head = "| metric | " + " | ".join(f"{n} `{a.version}`" for n, a in zip(names, assessments)) + " |\n"
    head += "| --- |" + " --- |" * len(names) + "\n"
    rows = "\n".join(f"| {label} | " + " | ".join(fmt_metric(metrics[n].get(k)) for n in names) + " |" for k, label in ROWS)
    first = metrics[names[0]]
    per_source = ""
    if "by_source" in first:
        lines = []
        for src in first["by_source"]:
            for n in names:
                m = metrics[n]["by_source"][src]
                lines.append(f"| {src} | {n} | {m['calls']} | {fmt_metric(m['auroc'])} | {fmt_metric(m['auroc_before_escalation'])} "
                             f"| {fmt_metric(m['recall'])} | {fmt_metric(m['false_alarm_rate'])} | {fmt_metric(m['median_lead_time_s'])} |")
        per_source = ("\n## By source\n| source | model | calls | AUROC | AUROC before esc. | recall | calm flagged "
                      "| median lead (s) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(lines) + "\n")
    images = "\n".join(f"![{p}]({p})" for p in plots)
    return f"""# Risk model evaluation

- command: `{command}`
- data: `{data}`: {first['calls']} labelled calls, {first['escalated']} escalated
- threshold: {threshold} (CALLRADAR_RISK_ALERT_THRESHOLD); a call is flagged when its risk first reaches it{_confirm_note(confirm_utterances)}
- lead time: escalation time − call time of the first alert (end of the utterance that crossed)
- prefix metrics use the training target (escalated within {horizon_s:g} s; earlier prefixes of escalated calls left out; every prefix of an escalated call with no escalation time)
- written {datetime.now(timezone.utc).isoformat(timespec='seconds')}

{head}{rows}
{per_source}
{images}
"""


def write_report(models: dict, cfs: list[CallFeatures], out: Path, data: Path, threshold: float,
                 horizon_s: float = HORIZON_S, command: str = "", confirm_utterances: int = 1) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    assessments = [assess(name, m, cfs, threshold, horizon_s, confirm_utterances) for name, m in models.items()]
    metrics = compare(assessments)
    plots = _plots(assessments, out)
    doc = {"data": str(data), "threshold": threshold, "confirm_utterances": confirm_utterances, "horizon_s": horizon_s,
           "models": {a.name: a.version for a in assessments}, "metrics": metrics}
    (out / "metrics.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    (out / "report.md").write_text(report_md(metrics, assessments, data, threshold, horizon_s, plots, command,
                                             confirm_utterances))
    return metrics


def add_operating_point(out: Path, op: dict, advice: str) -> None:
    """Add the operating point against the baseline (:func:`operating_point_advice`) to a written report,
    not only the console: whoever reads the report later decides the threshold."""
    doc = json.loads((out / "metrics.json").read_text())
    doc["operating_point"] = op
    (out / "metrics.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    with (out / "report.md").open("a") as f:
        f.write(f"\n## Operating point against the baseline\n\n{as_sentence(advice)}\n")


# ---------------------------------------------------------------- the command


def load_model_dir(path: Path):
    """A risk model folder or model.json, refusing pickles and anything that fails validation."""
    from callradar.models.risk import MODEL_FILE, RiskModel, RiskModelError

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such model folder or file")
    if path.is_dir() and not (path / MODEL_FILE).exists():
        pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in UNSAFE_SUFFIXES)
        why = (f"it holds {', '.join(pickles)}: callradar never unpickles model files (loading one can run code)"
               if pickles else "a risk model folder holds model.json and card.json")
        raise UserError(f"{path}: no {MODEL_FILE}; {why}")
    if path.is_file() and path.suffix.lower() in UNSAFE_SUFFIXES:
        raise UserError(f"{path}: refusing a pickle; callradar never unpickles model files (loading one can run code)")
    try:
        return RiskModel.load(path)
    except RiskModelError as exc:
        raise UserError(str(exc)) from None


def prior_model():
    """The hand-set prior: the baseline every trained model must beat."""
    from callradar.models.risk import PRIOR_RISK_DIR, RiskModel

    return RiskModel.load(PRIOR_RISK_DIR)


# ---------------------------------------------------------------- learning curve and the held-out comparison

CURVE_SIZES = (100, 300, 1000)
CURVE_SEEDS = 3
# What the card's heldout_comparison records of each model (models/registry.py judges a promotion by its auroc).
COMPARED = ("auroc", "auroc_end_of_call", "auroc_before_escalation", "pr_auc", "precision", "recall", "false_alarm_rate",
            "median_lead_time_s", "paired_median_lead_time_s", "paired_calls")


def curve_points(n_calls: int, sizes=CURVE_SIZES) -> list[int]:
    """Training-set sizes for the learning curve: the sizes below ``n_calls``, then all of them.

    With fewer than three points (small data), a quarter and a half of the calls are added,
    so the curve still says whether more calls would help.
    """
    points = sorted({s for s in sizes if 0 < s < n_calls} | {n_calls})
    if len(points) < 3:
        points = sorted(set(points) | {s for s in (n_calls // 4, n_calls // 2) if s >= 8})
    return points


def stratified_subsample(cfs: list[CallFeatures], size: int, seed: int, min_per_outcome: int = 2) -> list[CallFeatures]:
    """``size`` whole calls with the outcome mix of ``cfs`` (at least ``min_per_outcome`` of each)."""
    rng = np.random.default_rng(seed)
    esc = [cf for cf in cfs if cf.call.outcome == "escalated"]
    calm = [cf for cf in cfs if cf.call.outcome != "escalated"]
    if size >= len(cfs):
        return list(cfs)
    k = int(round(size * len(esc) / len(cfs)))
    k = min(len(esc), max(min_per_outcome, k), size - min(min_per_outcome, len(calm)))
    pick = lambda group, n: [group[i] for i in sorted(rng.choice(len(group), n, replace=False))]
    return pick(esc, k) + pick(calm, size - k)


def learning_curve(train_cfs: list[CallFeatures], heldout_cfs: list[CallFeatures], fit, *, threshold: float,
                   horizon_s: float = HORIZON_S, sizes=CURVE_SIZES, seeds: int = CURVE_SEEDS,
                   log=None) -> list[dict]:
    """Held-out call AUROC / PR-AUC of models fitted on more and more of the training calls.

    ``fit(cfs, seed)`` returns a model (the same fit as the final model). Each point draws
    whole calls (a call's prefixes are never split), stratified by outcome, ``seeds`` times:
    the spread says how much of a difference between two points is the draw.
    """
    import time

    out = []
    for size in curve_points(len(train_cfs), sizes):
        runs = []
        for seed in range(seeds):
            t0 = time.monotonic()
            sample = stratified_subsample(train_cfs, size, seed)
            m = evaluate_models({"m": fit(sample, seed)}, heldout_cfs, threshold, horizon_s)["m"]
            runs.append(m)
            if log:
                log(f"learning curve: {size} calls, seed {seed}: held-out call AUROC {fmt_metric(m['auroc'])} "
                    f"({time.monotonic() - t0:.1f} s)")
        point = {"calls": size, "escalated": sum(cf.call.outcome == "escalated" for cf in sample), "seeds": seeds}
        for key in ("auroc", "pr_auc"):
            vals = [r[key] for r in runs if r[key] is not None]
            point[key] = [r[key] for r in runs]
            point[f"{key}_mean"] = round(float(np.mean(vals)), 4) if vals else None
            point[f"{key}_sd"] = round(float(np.std(vals)), 4) if vals else None
        out.append(point)
    return out


THRESHOLD_STEP = 0.01  # the operating points `train risk` suggests are on this grid


def matching_threshold(model, cfs: list[CallFeatures], calm_flagged: float, confirm_utterances: int = 1) -> dict | None:
    """The lowest alert threshold (a multiple of THRESHOLD_STEP) at which ``model`` flags no larger a share of
    these calls' calm ones than ``calm_flagged``, with what it flags there; None without calm calls.

    Why: a model retrained on other labels is calibrated to other rates (on rated dialogues it almost never
    reaches 0.6), so the live threshold that suited the model it replaces can silently stop nearly every alert.
    This carries the floor's current alarm budget over to the new model. Flagging is the live trigger's
    (:func:`first_alert_index`), so the share can only fall as the threshold rises: a bisection.
    """
    readings = [[model.predict(r) for r in cf.model_inputs()] for cf in cfs]
    esc = np.array([escalation_time(cf.call) is not None for cf in cfs])
    if esc.all():
        return None

    def flagged(t: float) -> np.ndarray:
        return np.array([first_alert_index(cf, r, t, confirm_utterances) is not None for cf, r in zip(cfs, readings)])

    steps = round(1 / THRESHOLD_STEP)
    lo, hi = 1, steps  # invariant: the answer is in [lo, hi]; at 1.0 no risk below it can fire
    while lo < hi:
        mid = (lo + hi) // 2
        if flagged(mid / steps)[~esc].mean() <= calm_flagged + 5e-5:  # the metrics are rounded to 4 places
            hi = mid
        else:
            lo = mid + 1
    t = lo / steps
    f = flagged(t)
    return {"threshold": round(t, 2), "false_alarm_rate": round(float(f[~esc].mean()), 4),
            "recall": round(float(f[esc].mean()), 4) if esc.any() else None}


ADVICE_MARGIN = 0.05  # a matching threshold this far from the live one is worth a line


def operating_point_advice(comp: dict, new_name: str = "the new model", current_name: str = "the current model"
                           ) -> str | None:
    """One line for `train risk`, `models promote` and `evaluate --baseline` when the live threshold does not
    suit the new model (:func:`matching_threshold`): what each model flags there, and the settings that keep
    the alarm rate."""
    op, t = comp.get("operating_point"), comp.get("threshold")
    new, cur = comp.get("new") or {}, comp.get("baseline_metrics") or {}
    if not op or t is None or abs(op["threshold"] - t) < ADVICE_MARGIN:
        return None

    def pct(v) -> str:
        return "n/a" if v is None else f"{100 * v:.1f} %"

    from callradar.pipeline.settings import Settings

    alert, rearm_default = Settings.risk_alert_threshold, Settings.risk_rearm_threshold
    rearm = round(op["threshold"] * rearm_default / alert, 2)  # the defaults' gap, scaled
    return (f"at the alert threshold {t:g} {new_name} flags {pct(new.get('false_alarm_rate'))} of the held-out "
            f"calm calls and {pct(new.get('recall'))} of the escalated ones, {current_name} "
            f"{pct(cur.get('false_alarm_rate'))} and {pct(cur.get('recall'))}; {new_name} flags no more calm calls "
            f"than that from {op['threshold']:g} up ({pct(op['false_alarm_rate'])} calm, {pct(op['recall'])} "
            f"escalated): to keep the floor's alarm rate with it, set CALLRADAR_RISK_ALERT_THRESHOLD={op['threshold']:g} "
            f"and CALLRADAR_RISK_REARM_THRESHOLD={rearm:g} (two thirds of it, as the defaults {alert:g} / {rearm_default:g})")


def as_sentence(advice: str) -> str:
    """:func:`operating_point_advice`'s console fragment as a sentence for a written report."""
    return f"{advice[0].upper()}{advice[1:]}."


def heldout_comparison(new, baseline, cfs: list[CallFeatures], threshold: float, horizon_s: float = HORIZON_S, *,
                       baseline_info: dict, heldout_info: dict, confirm_utterances: int = 1) -> dict:
    """New model against the model it would replace, on the same held-out calls: what the card records
    and ``callradar models promote`` judges (models/registry.py, ``heldout_regression``)."""
    m = evaluate_models({"new": new, "baseline": baseline}, cfs, threshold, horizon_s, confirm_utterances)
    new_m, base_m = m["new"], m["baseline"]
    diff = (round(new_m["auroc"] - base_m["auroc"], 4)
            if new_m["auroc"] is not None and base_m["auroc"] is not None else None)
    return {
        "heldout": {**heldout_info, "calls": new_m["calls"], "escalated": new_m["escalated"]},
        "baseline": {**baseline_info, "model_version": baseline.version},
        "threshold": threshold,
        "horizon_s": horizon_s,
        "new": {k: new_m.get(k) for k in COMPARED},
        "baseline_metrics": {k: base_m.get(k) for k in COMPARED},
        "auroc_difference": diff,
        # where the new model flags as many calm calls as the current one does at the live threshold
        "operating_point": (matching_threshold(new, cfs, base_m["false_alarm_rate"], confirm_utterances)
                            if base_m.get("false_alarm_rate") is not None else None),
    }
