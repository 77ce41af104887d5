"""Train the call-risk model on labelled calls: ``callradar train risk``.

Features come from ``callradar.models.call_features.features_for_call`` over the text
scores of ``callradar.models.text_scorer`` (the live score stage's code, nothing
re-implemented), one row after each utterance of a call: a *prefix*, what the
live pipeline knew at that moment.

Labels (the choice that matters most; also in the model card). The target is
"this call escalates soon", not "this call escalates eventually":
- every prefix of a calm call: 0;
- prefixes of an escalated call from ``horizon_s`` before the escalation time
  on (including after it): 1;
- earlier prefixes of an escalated call: left out. Calling them 1 would teach
  that a greeting predicts escalation (it is the same greeting as in calm calls);
  calling them 0 would teach that the first signs of trouble are calm.
- an escalated call without an escalation time counts as escalating at its end.

Model: scikit-learn LogisticRegression on standardised features (C picked by
call-grouped cross-validation, preferring the stronger regularisation when
scores tie), calibrated on out-of-fold predictions: Platt scaling by default
(two numbers, folded into the coefficients, so the ranking and the reasons stay
exact), or isotonic (stored as calibration points). Exported to the RiskModel
JSON schema of models/risk.py with a card.json and model_card.md. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from callradar.models.call_features import FEATURE_NAMES
from callradar.pipeline.errors import UserError
from callradar.training.evaluate import evaluate_models, fmt_metric, prior_model
from callradar.training.features import HORIZON_S, CallFeatures, features_of, prefix_labels, text_models
from callradar.training.labelled_calls import read_calls

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
C_TOLERANCE = 0.002  # AUROC within this of the best counts as a tie: take the smaller C
CV_FOLDS = 5
# Learnt by default: what the customer says. In the semi-synthetic corpus that is
# real text (Bitext, Whisper transcripts); timing (talk share, interruptions,
# overlap, dead air, duration) and the agent's turns come from the corpus
# generator, so weights learnt on them would learn the generator, and counts like
# overlap seconds grow with call length (corpus calls last a minute, real ones 3-10).
# intent_count is left out for the same reason: the intent head misfires on a few
# per cent of ordinary utterances ("Bye.", "here I can leave"), so its count grows
# with a long calm call; intent_max, bounded, carries the signal. Keyword counts
# stay: the rules rarely fire by accident. Pass --exclude '' to learn every
# feature, on real archived calls.
TEXT_FEATURES = ("cust_neg_ewma", "cust_neg_peak", "cust_neg_slope", "cust_neg_streak", "frustration_max",
                 "frustration_ewma", "intent_max", "intent_count", *(n for n in FEATURE_NAMES if n.startswith("kw_")))
DEFAULT_EXCLUDED = tuple(n for n in FEATURE_NAMES if n not in TEXT_FEATURES or n == "intent_count")
# More negativity, frustration, intent or keywords never means less risk: a negative
# weight on one of these is collinearity or an artefact of the data, and would
# generalise the wrong way, so such a feature is dropped and the model refitted.
MONOTONE_UP = TEXT_FEATURES
MIN_CALLS_PER_OUTCOME = 3


# ---------------------------------------------------------------- fitting


def _grouped_folds(groups: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold

    n_pos_calls = len(set(groups[y == 1]))
    folds = max(2, min(CV_FOLDS, n_pos_calls, len(set(groups[y == 0]))))
    return list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(groups, y, groups))


def _oof_decision(z: np.ndarray, y: np.ndarray, folds, C: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    oof = np.zeros(len(y))
    for tr, va in folds:
        clf = LogisticRegression(C=C, max_iter=5000).fit(z[tr], y[tr])
        oof[va] = clf.decision_function(z[va])
    return oof


def _isotonic_points(p: np.ndarray, y: np.ndarray) -> dict:
    """Isotonic map from the uncalibrated probability, as the strictly increasing points models/risk.py wants."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    xs, ys = [], []
    for x, v in zip(iso.X_thresholds_, iso.y_thresholds_):
        x, v = float(x), float(v)
        if xs and x <= xs[-1]:
            ys[-1] = max(ys[-1], v)
            continue
        xs.append(x)
        ys.append(v)
    if len(xs) < 2:  # degenerate (one distinct score): identity
        xs, ys = [0.0, 1.0], [0.0, 1.0]
    return {"x": [round(x, 9) for x in xs], "y": [round(v, 6) for v in ys]}


def fit_risk_model(cfs: list[CallFeatures], *, horizon_s: float = HORIZON_S, calibration: str = "platt",
                   features: tuple[str, ...] | None = None, seed: int = 0, prior=None, version: str | None = None,
                   monotone: bool = True):
    """Fit, calibrate and export. Returns (RiskModel, details for the card)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from callradar.models.risk import RiskModel

    names = tuple(features or [n for n in FEATURE_NAMES if n not in DEFAULT_EXCLUDED])
    rows, y, groups = [], [], []
    for k, cf in enumerate(cfs):
        labels = prefix_labels(cf, horizon_s)
        keep = labels >= 0
        rows.append(cf.matrix(names)[keep])
        y.append(labels[keep])
        groups.append(np.full(int(keep.sum()), k))
    x, y, groups = np.vstack(rows), np.concatenate(y), np.concatenate(groups)
    if len(set(y)) < 2:
        raise UserError("the training prefixes hold only one class; need calm and escalated calls")

    means, scales = x.mean(axis=0), x.std(axis=0)
    constant = scales < 1e-9
    scales = np.where(constant, 1.0, scales)
    z = (x - means) / scales
    folds = _grouped_folds(groups, y, seed)

    cv = {}
    for C in C_GRID:
        cv[C] = float(roc_auc_score(y, _oof_decision(z, y, folds, C)))
        print(f"  C={C:<5}: {len(folds)}-fold call-grouped CV prefix AUROC {cv[C]:.4f}", file=sys.stderr, flush=True)
    C = min(c for c in C_GRID if cv[c] >= max(cv.values()) - C_TOLERANCE)
    active, wrong_sign = ~constant, []
    while True:
        clf = LogisticRegression(C=C, max_iter=5000).fit(z[:, active], y)
        w = clf.coef_[0]
        bad = [(w[i], j) for i, j in enumerate(np.flatnonzero(active))
               if monotone and w[i] < 0 and names[j] in MONOTONE_UP]
        if not bad:
            break
        j = min(bad)[1]
        active[j] = False
        wrong_sign.append(names[j])
        print(f"  dropped {names[j]}: its weight came out negative (see MONOTONE_UP); refitting",
              file=sys.stderr, flush=True)
    coef = np.zeros(len(names))
    coef[active], intercept = w, float(clf.intercept_[0])
    oof = _oof_decision(z[:, active], y, folds, C)

    cal_doc = None
    if calibration == "platt":
        platt = LogisticRegression(C=1e6, max_iter=5000).fit(oof.reshape(-1, 1), y)
        a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
        coef, intercept = coef * a, intercept * a + b
        calibration_note = f"Platt scaling folded into the coefficients (a={a:.4f}, b={b:.4f})"
    elif calibration == "isotonic":
        cal_doc = _isotonic_points(1 / (1 + np.exp(-oof)), y)
        calibration_note = f"isotonic on out-of-fold predictions ({len(cal_doc['x'])} points)"
    else:
        calibration_note = "none"

    # Features the data never moved: the data says nothing about them, so keep the prior's weight.
    carried = {}
    if prior is not None:
        pc = dict(zip(prior.feature_names, zip(prior.coef, prior.scales)))
        for j in np.flatnonzero(constant):
            name = names[j]
            if name in pc and pc[name][0] != 0:
                coef[j], scales[j] = pc[name]
                carried[name] = pc[name][0]
            else:
                coef[j] = 0.0

    version = version or "risk-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    model = RiskModel(names, [round(float(c), 6) for c in coef], [round(float(m), 6) for m in means],
                      [round(float(s), 6) for s in scales], round(intercept, 6), version, "trained", None)
    if cal_doc is not None:
        model = RiskModel.from_dict({**model.to_dict(), "calibration": cal_doc}, source="trained risk model")
    details = {
        "C": C, "cv_prefix_auroc_by_C": {str(k): round(v, 4) for k, v in cv.items()},
        "cv_folds": len(folds), "calibration": calibration_note, "carried_from_prior": carried,
        "prefixes": int(len(y)), "positive_prefixes": int(y.sum()),
        "left_out_prefixes": int(sum(len(cf.rows) for cf in cfs) - len(y)),
        "constant_features": [names[j] for j in np.flatnonzero(constant)],
        "dropped_wrong_sign": wrong_sign,
    }
    return model, details


# ---------------------------------------------------------------- the command


def data_hash(path: Path) -> str:
    """sha256 of a file, or of every file in an archive folder (names and bytes)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def train_risk(train_path: Path, out_dir: Path, *, scorer, test_path: Path | None = None, horizon_s: float = HORIZON_S,
               calibration: str = "platt", features: tuple[str, ...] | None = None, seed: int = 0,
               threshold: float = 0.6, version: str | None = None, progress: bool = True,
               cache_dir: Path | None = None) -> dict:
    """Train on ``train_path``, write the model folder to ``out_dir``; returns the card.

    ``scorer`` is a TextScorer, or a function making one: loading the text models
    takes seconds, so a bad data file is reported before that.
    """
    t0 = time.monotonic()
    calls = read_calls(train_path)
    labelled = [c for c in calls if c.outcome is not None]
    n_esc = sum(c.outcome == "escalated" for c in labelled)
    if min(n_esc, len(labelled) - n_esc) < MIN_CALLS_PER_OUTCOME:
        raise UserError(f"{train_path}: {n_esc} escalated and {len(labelled) - n_esc} calm labelled calls; "
                        f"need at least {MIN_CALLS_PER_OUTCOME} of each ({len(calls) - len(labelled)} unlabelled left out)")
    print(f"training on {len(labelled)} labelled calls ({n_esc} escalated) from {train_path}"
          + (f"; {len(calls) - len(labelled)} unlabelled left out" if len(calls) > len(labelled) else ""),
          file=sys.stderr, flush=True)
    prior = prior_model()  # the baseline, and the weights of features the data never moves
    test = read_calls(test_path, labelled_only=True) if test_path is not None else None
    if not hasattr(scorer, "score_batch"):
        scorer = scorer()
    cfs = features_of(labelled, scorer, progress, cache_dir)
    model, details = fit_risk_model(cfs, horizon_s=horizon_s, calibration=calibration, features=features,
                                    seed=seed, prior=prior, version=version)
    metrics = {"train": evaluate_models({"trained": model}, cfs, threshold, horizon_s)["trained"]}
    if test:
        test_cfs = features_of(test, scorer, progress, cache_dir)
        both = evaluate_models({"trained": model, "prior": prior}, test_cfs, threshold, horizon_s)
        metrics["heldout"], metrics["heldout_prior"] = both["trained"], both["prior"]
    sources: dict[str, int] = {}
    for c in labelled:
        sources[f"{c.source or 'unknown'} {c.outcome}"] = sources.get(f"{c.source or 'unknown'} {c.outcome}", 0) + 1
    card = {
        "description": "P(escalation within the horizon | call so far), logistic regression on the live call "
                       "features, calibrated; trained by `callradar train risk`.",
        "trained": True,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training_data": {"path": _shown(train_path), "sha256": data_hash(train_path), "calls": len(labelled),
                          "by_source_and_outcome": sources, "corpus": _corpus_info(train_path),
                          "heldout_path": _shown(test_path) if test_path else None,
                          "heldout_sha256": data_hash(test_path) if test_path else None},
        "labels": {"horizon_s": horizon_s,
                   "rule": f"calm: every prefix 0; escalated: prefixes from {horizon_s:g} s before the escalation "
                           "time on are 1, earlier ones are left out; no escalation time: the call's end"},
        "params": {"model": "sklearn LogisticRegression (L2, lbfgs) on standardised features",
                   "C_grid": list(C_GRID), "C_rule": f"smallest C within {C_TOLERANCE} of the best call-grouped "
                   "CV prefix AUROC", "seed": seed, "excluded_features": [n for n in FEATURE_NAMES
                                                                         if n not in model.feature_names],
                   **details},
        "text_models": text_models(scorer),
        "threshold": threshold,
        "baseline": prior.version,
        "metrics": metrics,
        "feature_module": "callradar.models.call_features",
        "card": "model_card.md",
        "train_seconds": round(time.monotonic() - t0, 1),
    }
    model.save(out_dir, card)
    (Path(out_dir) / "model_card.md").write_text(model_card_md(model, card))
    return card


def _shown(path: Path) -> str:
    """The path as a card shows it: relative to the working folder when inside it (cards get committed)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _corpus_info(path: Path) -> dict | None:
    """How the corpus was built, when the data is a `callradar corpus build` file."""
    meta = Path(path).parent / "corpus.json" if Path(path).is_file() else None
    if meta is None or not meta.exists():
        return None
    info = json.loads(meta.read_text())
    bitext, sim = info.get("bitext") or {}, info.get("simulator") or {}
    return {"command": f"callradar corpus build --calls {bitext.get('calls', 0)} --sim-calls {sim.get('calls', 0)} "
                       f"--seed {info.get('seed')}",
            "bitext_sha256": bitext.get("sha256"), "held_out_scripts": sim.get("held_out_scripts")}


def model_card_md(model, card: dict) -> str:
    p, m = card["params"], card["metrics"]
    coef_rows = "\n".join(
        f"| {n} | {mu:.4g} | {s:.4g} | {c:+.3f} |"
        for n, mu, s, c in sorted(zip(model.feature_names, model.means, model.scales, model.coef), key=lambda t: -abs(t[3]))
    )
    keys = [("auroc", "call AUROC (max risk over the call)"),
            ("auroc_before_escalation", "call AUROC before the escalation"),
            ("pr_auc", "call PR-AUC"), ("precision", "precision at the threshold"),
            ("recall", "recall at the threshold"), ("recall_before_escalation", "recall before the escalation"),
            ("false_alarm_rate", "calm calls flagged"), ("median_lead_time_s", "median lead time (s)"),
            ("paired_median_lead_time_s", "median lead time (s), calls both models flagged")]
    cols = [("train", "train (in-sample)")] + [(k, t) for k, t in (("heldout", "held out"),
                                                                    ("heldout_prior", f"{card['baseline']}, held out"))
                                              if k in m]
    table = "| metric | " + " | ".join(t for _, t in cols) + " |\n| --- |" + " --- |" * len(cols) + "\n"
    table += "\n".join(f"| {label} | " + " | ".join(fmt_metric(m[c].get(k)) for c, _ in cols) + " |" for k, label in keys)
    td = card["training_data"]
    carried = ", ".join(f"{k} ({v:+g})" for k, v in p["carried_from_prior"].items()) or "none"
    corpus = f", made by `{td['corpus']['command']}`" if td.get("corpus") else ""
    return f"""# Call risk model `{model.version}` (trained)

**What it is.** P(escalation within {card['labels']['horizon_s']:g} s, or already happened | the call so far),
from the live call features (`models/call_features.py`), so training and the score stage cannot drift apart.
`risk = calibrate(sigmoid(intercept + Σ coef · (x − mean) / scale))`. Plain JSON (`model.json`), nothing
unpickled; `card.json` holds the sha256 checked on load, the data hash, all parameters and metrics.

**Trained on** `{td['path']}` (sha256 `{td['sha256'][:16]}...`){corpus}: {td['calls']} labelled calls,
{', '.join(f'{k}: {v}' for k, v in td['by_source_and_outcome'].items())}.
{p['prefixes']} prefixes ({p['positive_prefixes']} positive), {p['left_out_prefixes']} early prefixes of escalated calls left out.

**Labels.** {card['labels']['rule']}. The target is "escalates soon", not "escalates eventually": a greeting
is the same in calm and escalating calls, so labelling it positive would only teach noise; labelling the
first signs of trouble negative would teach the opposite of what we want.

**Fit.** {p['model']}; C = {p['C']} ({p['C_rule']}; CV AUROC by C: {p['cv_prefix_auroc_by_C']}).
Calibration: {p['calibration']}.
Left out (weight 0): {', '.join(p['excluded_features']) or 'none'}. By default these are the timing and
agent features (in a semi-synthetic corpus they come from the generator, not from people, and counts such as
overlap seconds grow with call length: corpus calls last about a minute, real ones several) and
`intent_count` (the intent head misfires on a few per cent of ordinary utterances, so the count grows with a
long calm call; the bounded `intent_max` carries the signal). Learn them from real archived calls with
`--exclude ''`.
Dropped because their weight came out negative (more negativity or intent never means less risk; a negative
weight is collinearity or an artefact, and would generalise the wrong way): {', '.join(p['dropped_wrong_sign']) or 'none'}.
Features constant in the training data kept the prior's weight: {carried}.

**Text models it expects** (retrain when they change): {'; '.join(f'{k} {v}' for k, v in card['text_models'].items())}.

## Metrics (threshold {card['threshold']})
A call is flagged when its risk ever reaches the threshold (the live trigger). Lead time = escalation time −
time of the first alert (end of the utterance that crossed); positive = warned before the customer asked.

{table}

Full report with plots: `callradar evaluate --model <this folder>`.

## Coefficients (standardised; sorted by size)
| feature | mean | scale | coef |
| --- | --- | --- | --- |
{coef_rows}

Intercept {model.intercept:+.3f}.

## Limits
- Trained on the data above; on a semi-synthetic corpus it has learned that construction (see its
  corpus_card.md). Expect weaker results on real calls from other domains; retrain on archived real calls.
- Probabilities are calibrated to the training mix of calm and escalated calls, not to a real queue's rate.
"""
