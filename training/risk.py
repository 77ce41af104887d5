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
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from callradar.models.call_features import FEATURE_NAMES, features_for_call
from callradar.models.types import ScoredUtterance
from callradar.pipeline.errors import UserError
from callradar.training.labelled_calls import LabelledCall, read_calls
from callradar.training.progress import Bar

HORIZON_S = 20.0  # chosen by call-grouped CV on the training split (docs/benchmarks.md)
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


# ---------------------------------------------------------------- features of calls


def score_calls(calls: list[LabelledCall], scorer, batch: int = 256, progress: bool = True) -> list[list[ScoredUtterance]]:
    """Text scores for every utterance of every call, encoder batched across calls."""
    flat = [(i, u) for i, c in enumerate(calls) for u in c.utterances]
    out: list[list[ScoredUtterance]] = [[] for _ in calls]
    with Bar(len(flat), "scoring utterances", "utt", enabled=progress) as bar:
        for k in range(0, len(flat), batch):
            chunk = flat[k : k + batch]
            scores = scorer.score_batch([u.text for _, u in chunk], [u.speaker for _, u in chunk])
            for (i, u), s in zip(chunk, scores):
                out[i].append(ScoredUtterance(u.speaker, u.start, u.end, u.text, s))
            bar.update(len(chunk))
    return out


@dataclass
class CallFeatures:
    """One call's prefixes: features after each utterance and the call time they became known."""

    call: LabelledCall
    rows: list[dict[str, float]]
    times: np.ndarray  # latest utterance end so far: the live trigger's call time

    def matrix(self, names) -> np.ndarray:
        return np.array([[r[n] for n in names] for r in self.rows], dtype=float)


def call_features(calls: list[LabelledCall], scored: list[list[ScoredUtterance]]) -> list[CallFeatures]:
    out = []
    for call, utts in zip(calls, scored):
        times = np.maximum.accumulate(np.array([u.end for u in utts], dtype=float))
        out.append(CallFeatures(call, features_for_call(utts), times))
    return out


def escalation_time(call: LabelledCall) -> float | None:
    """When the call escalated; an escalated call without a time escalated at its end."""
    if call.outcome != "escalated":
        return None
    return call.escalation_time if call.escalation_time is not None else call.end


def prefix_labels(cf: CallFeatures, horizon_s: float) -> np.ndarray:
    """1 / 0 per prefix, -1 for prefixes left out of training (see the module docstring)."""
    t_esc = escalation_time(cf.call)
    if t_esc is None:
        return np.zeros(len(cf.times), dtype=int)
    return np.where(cf.times >= t_esc - horizon_s, 1, -1)


def features_of(calls: list[LabelledCall], scorer, progress: bool = True,
                cache_dir: Path | None = None) -> list[CallFeatures]:
    """Prefix features of each call; with ``cache_dir``, reused while the calls and the text models are the same.

    Scoring the text is nearly all of the cost (minutes for a corpus on 2 cores),
    and train, evaluate and trying another horizon all need the same numbers.
    """
    path = cache_dir / f"{_features_key(calls, scorer)}.json" if cache_dir is not None else None
    if path is not None and path.exists():
        docs = json.loads(path.read_text())
        print(f"features of {len(calls)} calls from cache {path.name}", file=sys.stderr, flush=True)
        return [CallFeatures(c, d["rows"], np.array(d["times"], dtype=float)) for c, d in zip(calls, docs)]
    cfs = call_features(calls, score_calls(calls, scorer, progress=progress))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"rows": cf.rows, "times": cf.times.tolist()} for cf in cfs]))
        tmp.replace(path)
    return cfs


def _features_key(calls: list[LabelledCall], scorer) -> str:
    """Changes with any utterance, the text models, or the code and rules that turn text into features."""
    from callradar import models

    h = hashlib.sha256(json.dumps(text_models(scorer), sort_keys=True).encode())
    root = Path(models.__file__).parent
    for name in ("call_features.py", "text_scorer.py", "keywords.py", "keywords.yaml"):
        if (root / name).exists():
            h.update((root / name).read_bytes())
    for c in calls:
        h.update(c.call_id.encode() + b"\0")
        for u in c.utterances:
            h.update(f"{u.speaker}\0{u.start!r}\0{u.end!r}\0{u.text}\n".encode())
    return h.hexdigest()[:24]


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
    from callradar.models.risk import RiskModel
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

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


def feature_cache_dir(settings) -> Path:
    return Path(settings.state_dir) / "cache" / "risk-features"


def text_models(scorer) -> dict:
    """Which text models produced the features: a risk model is only valid with these."""
    def short(card: dict) -> str:
        return f"{card.get('name', '?')} {card.get('created', '')} sha256 {str(card.get('weights_sha256', ''))[:12]}"

    return {"encoder": getattr(scorer.encoder, "name", "?"), "sentiment": short(scorer.sentiment.card),
            "intent": short(scorer.intent.card)}


def train_risk(train_path: Path, out_dir: Path, *, scorer, test_path: Path | None = None, horizon_s: float = HORIZON_S,
               calibration: str = "platt", features: tuple[str, ...] | None = None, seed: int = 0,
               threshold: float = 0.6, version: str | None = None, progress: bool = True,
               cache_dir: Path | None = None) -> dict:
    """Train on ``train_path``, write the model folder to ``out_dir``; returns the card.

    ``scorer`` is a TextScorer, or a function making one: loading the text models
    takes seconds, so a bad data file is reported before that.
    """
    from callradar.training.evaluate import evaluate_models, prior_model

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


def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


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
    table += "\n".join(f"| {label} | " + " | ".join(_fmt(m[c].get(k)) for c, _ in cols) + " |" for k, label in keys)
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


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the risk model (or the sentiment / intent heads)")
    sub = p.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    r = sub.add_parser(
        "risk", help="train the call-risk model on labelled calls",
        description="Train P(escalation | call so far) on labelled calls (Parquet, JSONL or an archive folder; "
        "docs/labelled-calls.md) with the live feature code; write model.json, card.json and model_card.md.",
    )
    r.add_argument("--data", type=Path, default=None, metavar="PATH",
                   help="labelled calls (default: <state dir>/corpus/train.parquet)")
    r.add_argument("--test", type=Path, default=None, metavar="PATH",
                   help="held-out calls for the card's metrics (default: test.parquet next to --data, if there)")
    r.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="model folder to write (default: <state dir>/trained/<version>)")
    r.add_argument("--horizon-s", type=float, default=HORIZON_S,
                   help=f"prefixes this close to the escalation count as positive (default {HORIZON_S:g})")
    r.add_argument("--calibration", choices=("platt", "isotonic", "none"), default="platt",
                   help="platt (default: two numbers, folded into the coefficients) or isotonic (calibration points)")
    r.add_argument("--exclude", default=",".join(DEFAULT_EXCLUDED), metavar="F1,F2",
                   help="features to leave out (default: the timing and agent features, which a semi-synthetic "
                   "corpus cannot teach, and intent_count; '' to learn all, on real archived calls)")
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

    return importlib.import_module(f"training.{args.head}").main(args.rest)


def _run_risk(args) -> int:
    from callradar.models.text_scorer import load_text_scorer
    from callradar.pipeline.settings import load_settings

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
    version = args.version or "risk-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    out = args.out or settings.state_dir / "trained" / version
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; pass another --out or --version")
    card = train_risk(data, out, scorer=lambda: load_text_scorer(settings), test_path=test, horizon_s=args.horizon_s,
                      calibration=args.calibration, features=tuple(n for n in FEATURE_NAMES if n not in excluded),
                      seed=args.seed, threshold=settings.risk_alert_threshold, version=version,
                      cache_dir=feature_cache_dir(settings))
    m = card["metrics"]
    line = f"wrote {out} ({version})"
    if "heldout" in m:
        h, pr = m["heldout"], m["heldout_prior"]
        line += (f": held-out call AUROC {_fmt(h['auroc'])} (prior {_fmt(pr['auroc'])}), before escalation "
                 f"{_fmt(h['auroc_before_escalation'])} (prior {_fmt(pr['auroc_before_escalation'])}), median lead "
                 f"{_fmt(h['median_lead_time_s'], 1)} s (prior {_fmt(pr['median_lead_time_s'], 1)} s)")
    print(line)
    registered = None if args.no_register else _register(out, settings)
    if registered:
        print(registered)
    print(f"report with plots: callradar evaluate --model {out}" + (f" --data {test}" if test else ""))
    return 0


def _register(out: Path, settings) -> str | None:
    """Add the folder to the model registry (models/registry.py) as the next version; never promotes."""
    try:
        from callradar.models.registry import Registry, RegistryError
    except ModuleNotFoundError:  # a checkout without the registry: the folder is the result
        return None
    registry = Registry.from_settings(settings)
    if registry is None:
        return None
    try:
        version = registry.add("risk", out, note=f"callradar train risk -> {out.name}")
    except RegistryError as exc:
        return f"not registered: {exc}"
    return (f"registered as risk {version} in {registry.root}; "
            f"run it live with `callradar models promote risk {version}`")
