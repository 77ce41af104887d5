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
- an escalated call without an escalation time (a post-call rating, a complaint
  logged after the call): every prefix 1. Such a label says the call as a whole
  went badly, not when; the target is then "this call ends badly", and a model
  fitted on such labels ranks calls by its reading at the call's end far better
  than by "escalates at the end, within the horizon" (docs/benchmarks.md, "Labels
  for the call as a whole"). The reading an alert acts on, the highest over the
  call, ranks the same either way.

Model: scikit-learn LogisticRegression on standardised features (C picked by
call-grouped cross-validation, preferring the stronger regularisation when
scores tie), calibrated on out-of-fold predictions: Platt scaling by default
(two numbers, folded into the coefficients, so the ranking and the reasons stay
exact), or isotonic (stored as calibration points). Exported to the RiskModel
JSON schema of models/risk.py with a card.json and model_card.md. Nothing is pickled.

Text part (``--text-part auto|on|off``): what the words say. A logistic regression
on the prefix's pooled utterance embeddings (customer mean, agent mean), C by the
same call-grouped CV, fitted OUT OF FOLD so that its score, one more feature of the
readable model (``words_like_escalated``), is as good on the training calls as it
will be on new ones; the final text part is then fitted on all training calls.
``auto`` uses it only with at least ``TEXT_PART_MIN_CALLS`` labelled calls and when
call-grouped CV (the whole fit, text part and all, repeated per fold) shows a call
AUROC (highest risk over the call) at least ``TEXT_PART_MIN_GAIN`` above the model
without it. The text heads themselves are not refitted on the user's calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from callradar.models.call_features import FEATURE_NAMES
from callradar.models.risk import TEXT_FEATURE
from callradar.pipeline.errors import UserError
from callradar.training.evaluate import (
    CURVE_SEEDS,
    CURVE_SIZES,
    as_sentence,
    evaluate_models,
    fmt_metric,
    heldout_comparison,
    learning_curve,
    operating_point_advice,
    prior_model,
)
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
# intent_max is left out too: one misfire on a fragment owns it for the rest of the call
# (the two real calm calls' false alerts); intent_corroborated needs a second utterance.
# Agent text (re-asking), holds and transfers, and unanswered questions are the
# generator's in the corpus, so they are left out by default like timing; cust_turns
# grows with the call's length.
TEXT_FEATURES = ("cust_neg_ewma", "cust_neg_peak", "cust_neg_slope", "cust_neg_streak", "frustration_max",
                 "frustration_ewma", "intent_max", "intent_count", *(n for n in FEATURE_NAMES if n.startswith("kw_")),
                 "intent_corroborated", "intent_recent", "cust_neg_mean", "cust_pos_mean", "frustration_mean", "cust_corrections",
                 "cust_repeats", "cust_repeat_max", "cust_thanks_rate", "cust_negation_rate")
# cust_thanks_rate too: in the corpus every calm call ends with the generator's "thanks" line and
# no escalating one does, so it learns the template (weight -6 per sd on the corpus), not people.
DEFAULT_EXCLUDED = tuple(n for n in FEATURE_NAMES
                         if n not in TEXT_FEATURES or n in ("intent_count", "intent_max", "cust_thanks_rate"))
# More negativity, frustration, intent, keywords, corrections or repeats never means
# less risk (and more positivity or thanks never more): a weight of the other sign
# is collinearity or an artefact of the data, and would generalise the wrong way, so
# such a feature is dropped and the model refitted.
MONOTONE_DOWN = ("cust_pos_mean", "cust_thanks_rate", "agent_empathy_count", "agent_empathy_rate")
MONOTONE_UP = tuple(n for n in FEATURE_NAMES if n not in MONOTONE_DOWN
                    and (n in TEXT_FEATURES or n in ("agent_reasks", "cust_unanswered", "hold_transfer"))) + (TEXT_FEATURE,)
# Pulled toward the training mean by n / (n + k), n = customer utterances so far
# (models/risk.py, shrink): averages over one or two utterances say little, and the
# live alert takes the highest reading over the call. Keyword and other counts are
# not shrunk: "I want a manager" in the first utterance must count in full.
SHRINK_FEATURES = ("cust_neg_ewma", "cust_neg_peak", "cust_neg_slope", "frustration_max", "frustration_ewma",
                   "cust_neg_mean", "cust_pos_mean", "frustration_mean", "cust_repeat_max", "cust_thanks_rate",
                   "cust_negation_rate", TEXT_FEATURE)
SHRINK_COUNT = "cust_turns"
SHRINK_K = 6.0
MIN_CALLS_PER_OUTCOME = 5  # for a held-out part and call-grouped CV: enough to run, too few to trust
# The text part: 768 weights want many calls (the satisfaction dialogues: pooled embeddings alone trail
# the readable features at 100-1,000 calls, docs/research/issue-14-prediction.md C).
TEXT_C_GRID = (0.0003, 0.001, 0.003, 0.01, 0.03)  # on standardised embedding dimensions
TEXT_PART_MODES = ("auto", "on", "off")
TEXT_PART_MIN_CALLS = 300  # auto: fewer labelled training calls, no text part
TEXT_PART_MIN_GAIN = 0.01  # auto: call-grouped CV call AUROC (highest risk over the call) must rise this much


# ---------------------------------------------------------------- fitting


def _grouped_folds(groups: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold

    n_pos_calls = len(set(groups[y == 1]))
    folds = max(2, min(CV_FOLDS, n_pos_calls, len(set(groups[y == 0]))))
    return list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(groups, y, groups))


def _oof_decision(z: np.ndarray, y: np.ndarray, folds, C: float, class_weight=None) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    oof = np.zeros(len(y))
    for tr, va in folds:
        clf = LogisticRegression(C=C, max_iter=5000, class_weight=class_weight).fit(z[tr], y[tr])
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


def _fit_text_part(pooled: np.ndarray, y: np.ndarray, folds, class_weight) -> tuple[dict, np.ndarray, dict]:
    """LR on the pooled embeddings: (text_part without its encoder name, out-of-fold P(escalated), details).

    C by the readable model's call-grouped folds; the out-of-fold probabilities are what the
    readable model is fitted on (stacking), the final weights come from all rows, with the
    standardisation folded in so the model file reads the raw pooled vector.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    mu, sd = pooled.mean(axis=0), pooled.std(axis=0)
    sd = np.where(sd < 1e-9, 1.0, sd)
    z = (pooled - mu) / sd
    oof, cv = {}, {}
    for C in TEXT_C_GRID:
        oof[C] = _oof_decision(z, y, folds, C, class_weight)
        cv[C] = float(roc_auc_score(y, oof[C]))
        print(f"  text part C={C:<6}: call-grouped CV prefix AUROC {cv[C]:.4f}", file=sys.stderr, flush=True)
    C = min(c for c in TEXT_C_GRID if cv[c] >= max(cv.values()) - C_TOLERANCE)
    clf = LogisticRegression(C=C, max_iter=5000, class_weight=class_weight).fit(z, y)
    coef = clf.coef_[0] / sd
    part = {"coef": [float(f"{c:.7g}") for c in coef], "intercept": round(float(clf.intercept_[0] - coef @ mu), 7)}
    details = {"C": C, "cv_prefix_auroc_by_C": {str(k): round(v, 4) for k, v in cv.items()},
               "dimensions": int(pooled.shape[1])}
    return part, 1.0 / (1.0 + np.exp(-oof[C])), details


def fit_risk_model(cfs: list[CallFeatures], *, horizon_s: float = HORIZON_S, calibration: str = "platt",
                   features: tuple[str, ...] | None = None, seed: int = 0, prior=None, version: str | None = None,
                   monotone: bool = True, class_weight: str | None = "balanced", shrink_k: float | None = SHRINK_K,
                   text_part: bool = False, encoder: str = "?"):
    """Fit, calibrate and export. Returns (RiskModel, details for the card).

    ``class_weight="balanced"`` weighs escalated and calm prefixes equally whatever a
    queue's escalation rate (Platt calibration then maps back to the data's rate);
    ``shrink_k`` (0 or None: off) is the n / (n + k) shrinkage of SHRINK_FEATURES,
    applied here exactly as models/risk.py applies it live. ``text_part``: add the
    text part (module docstring) on the calls' pooled embeddings, made by ``encoder``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from callradar.models.risk import RiskModel, shrink_weight

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
    folds = _grouped_folds(groups, y, seed)
    text_doc = text_details = None
    if text_part:
        if any(cf.pooled is None for cf in cfs):
            raise UserError("the text part needs utterance embeddings, and the text scorer gave none")
        pooled = np.vstack([cf.pooled[prefix_labels(cf, horizon_s) >= 0] for cf in cfs])
        text_doc, words, text_details = _fit_text_part(pooled, y, folds, class_weight)
        text_doc = {"input": "pooled_embeddings", "encoder": encoder, **text_doc}
        names, x = (*names, TEXT_FEATURE), np.hstack([x, words[:, None]])

    means = x.mean(axis=0)
    shrink = None
    shrunk = [j for j, n in enumerate(names) if shrink_k and n in SHRINK_FEATURES]
    if shrunk:
        counts = np.vstack([cf.matrix([SHRINK_COUNT])[prefix_labels(cf, horizon_s) >= 0] for cf in cfs])[:, 0]
        w = shrink_weight(counts, float(shrink_k))[:, None]
        x = x.copy()
        x[:, shrunk] = means[shrunk] + (x[:, shrunk] - means[shrunk]) * w
        shrink = {"k": float(shrink_k), "count": SHRINK_COUNT, "features": [names[j] for j in shrunk]}
    scales = x.std(axis=0)
    constant = scales < 1e-9
    scales = np.where(constant, 1.0, scales)
    z = (x - means) / scales

    cv = {}
    for C in C_GRID:
        cv[C] = float(roc_auc_score(y, _oof_decision(z, y, folds, C, class_weight)))
        print(f"  C={C:<5}: {len(folds)}-fold call-grouped CV prefix AUROC {cv[C]:.4f}", file=sys.stderr, flush=True)
    C = min(c for c in C_GRID if cv[c] >= max(cv.values()) - C_TOLERANCE)
    active, wrong_sign = ~constant, []
    while True:
        clf = LogisticRegression(C=C, max_iter=5000, class_weight=class_weight).fit(z[:, active], y)
        w = clf.coef_[0]
        bad = [(-abs(w[i]), j) for i, j in enumerate(np.flatnonzero(active))
               if monotone and ((w[i] < 0 and names[j] in MONOTONE_UP) or (w[i] > 0 and names[j] in MONOTONE_DOWN))]
        if not bad:
            break
        j = min(bad)[1]
        active[j] = False
        wrong_sign.append(names[j])
        print(f"  dropped {names[j]}: its weight came out with the wrong sign (see MONOTONE_UP, MONOTONE_DOWN); "
              "refitting", file=sys.stderr, flush=True)
    coef = np.zeros(len(names))
    coef[active], intercept = w, float(clf.intercept_[0])
    oof = _oof_decision(z[:, active], y, folds, C, class_weight)

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
                      [round(float(s), 6) for s in scales], round(intercept, 6), version, "trained", None, shrink,
                      text_doc)
    if cal_doc is not None:
        model = RiskModel.from_dict({**model.to_dict(), "calibration": cal_doc}, source="trained risk model")
    details = {
        "class_weight": class_weight or "none", "shrink": shrink or "none",
        "C": C, "cv_prefix_auroc_by_C": {str(k): round(v, 4) for k, v in cv.items()},
        "cv_folds": len(folds), "calibration": calibration_note, "carried_from_prior": carried,
        "prefixes": int(len(y)), "positive_prefixes": int(y.sum()),
        "left_out_prefixes": int(sum(len(cf.rows) for cf in cfs) - len(y)),
        "constant_features": [names[j] for j in np.flatnonzero(constant)],
        "dropped_wrong_sign": wrong_sign,
    }
    if text_details is not None:
        details["text_part"] = text_details
    return model, details


# ---------------------------------------------------------------- the command

# A held-out part of the user's calls, when no --test file is given: drawn per outcome
# (stratified), whole calls (a call's prefixes never straddle the split), fixed by --seed.
HELDOUT_SHARE = 0.25
# An escalation time this far outside the transcript contradicts it. A little slack: a CRM's
# clock and the transcript's rarely agree to the millisecond.
LABEL_SLACK_S = 1.0
REASONS_LEARNT = 8  # largest weights the report shows


def data_hash(path: Path) -> str:
    """sha256 of a file (what ``sha256sum`` and corpus.json say), or of every file in an archive
    folder (names and bytes, in name order)."""
    path = Path(path)
    if not path.is_dir():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def check_outcome_counts(calls: list, path: Path, unlabelled: int = 0) -> None:
    """Enough escalated and calm calls to learn from; else one line saying what is needed and what there is."""
    n_esc = sum(c.outcome == "escalated" for c in calls)
    n_calm = len(calls) - n_esc
    need = f"need at least {MIN_CALLS_PER_OUTCOME} escalated and {MIN_CALLS_PER_OUTCOME} calm calls"
    left = f"; {unlabelled} unlabelled call(s) left out" if unlabelled else ""
    if not calls:
        raise UserError(f"{path}: no labelled calls{left}; {need} (label them with `callradar label import`)")
    if n_esc == 0:
        raise UserError(f"{path}: no escalated call among its {n_calm} labelled calls{left}; {need} to learn "
                        "what comes before an escalation")
    if n_calm == 0:
        raise UserError(f"{path}: no calm call among its {n_esc} labelled calls{left}; {need} to learn what "
                        "sets an escalation apart")
    if min(n_esc, n_calm) < MIN_CALLS_PER_OUTCOME:
        raise UserError(f"{path}: too few calls to learn from: {n_esc} escalated and {n_calm} calm{left}; {need}")


def check_heldout_counts(calls: list, path: Path) -> None:
    """A held-out file must hold both outcomes, or no model can be compared on it."""
    n_esc = sum(c.outcome == "escalated" for c in calls)
    if n_esc == 0 or n_esc == len(calls):
        raise UserError(f"{path}: held-out calls need at least one escalated and one calm call to compare models; "
                        f"it has {n_esc} escalated and {len(calls) - n_esc} calm labelled calls")


def check_labels_against_transcript(calls: list, path: Path) -> None:
    """Refuse escalation times outside the call's transcript, naming each call.

    Reading the file already refuses a negative time or a time on a calm call; a time after
    the last utterance ends, or before the first begins, reads fine but would label prefixes
    the customer never spoke as "escalating soon".
    """
    bad = []
    for c in calls:
        t = c.escalation_time
        if c.outcome != "escalated" or t is None or not c.utterances:
            continue
        first = min(u.start for u in c.utterances)
        if t > c.end + LABEL_SLACK_S:
            bad.append(f"{c.call_id!r} (escalation_time {t:g} s is after the call's end at {c.end:g} s)")
        elif t < first - LABEL_SLACK_S:
            bad.append(f"{c.call_id!r} (escalation_time {t:g} s is before the call's first utterance at {first:g} s)")
    if bad:
        more = f"; and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise UserError(f"{path}: {len(bad)} label(s) contradict the transcript: {'; '.join(bad[:10])}{more}; "
                        "fix escalation_time (seconds since the call started) or leave it out")


def split_heldout(calls: list, share: float, seed: int) -> tuple[list, list]:
    """(training part, held-out part): whole calls, ``share`` of each outcome held out (at least one),
    the same split for the same calls and seed whatever their order in the file."""
    rng = np.random.default_rng(seed)
    train, heldout = [], []
    for outcome in ("escalated", "calm"):
        group = sorted((c for c in calls if c.outcome == outcome), key=lambda c: c.call_id)
        k = min(len(group) - 2, max(1, int(round(share * len(group)))))
        chosen = set(rng.permutation(len(group))[:k].tolist())
        for i, c in enumerate(group):
            (heldout if i in chosen else train).append(c)
    return train, heldout


def learnt_reasons(model, top: int = REASONS_LEARNT) -> list[dict]:
    """The largest weights (per standard deviation of the feature), in the words a supervisor sees.

    The words describe the risky side one standard deviation from the training mean: above
    it for a positive weight, below it for a negative one (models/risk.py's ``reason_text``).
    """
    from callradar.models.risk import REASON_TEXTS, reason_text

    rows = sorted(((float(c), n, m, s) for n, c, m, s in zip(model.feature_names, model.coef, model.means, model.scales)
                   if c), key=lambda t: -abs(t[0]))
    out = []
    for c, name, mean, scale in rows[:top]:
        up = c > 0
        value = mean + scale if up else max(0.0, mean - scale)
        if up and any(f in REASON_TEXTS.get(name, ("",))[0] for f in ("{times}", "{v:.0f}")):
            value = max(1.0, value)  # a rare count's "one sd above the mean" rounds to 0: "repeated ... 0 times"
        out.append({"feature": name, "weight": round(c, 4),
                    "direction": "higher raises risk" if up else "lower raises risk",
                    "words": reason_text(name, value, up)})
    return out


def _quiet_fit(cfs, **kwargs):
    """fit_risk_model without its per-C lines: a learning curve fits many times."""
    with contextlib.redirect_stderr(io.StringIO()):
        return fit_risk_model(cfs, **kwargs)[0]


# ---------------------------------------------------------------- the text part: use it or not


def call_risk_aurocs(model, cfs: list[CallFeatures]) -> dict:
    """Call AUROC on the highest risk over the call (what the live alert acts on) and on the risk at its end."""
    from callradar.models.call_features import CallState
    from callradar.training.evaluate import _auc

    empty = CallState().features(pooled=True)
    highest, last = [], []
    for cf in cfs:
        risks = [model.predict(r).risk for r in cf.model_inputs()] or [model.predict(empty).risk]
        highest.append(max(risks))
        last.append(risks[-1])
    y = [cf.call.outcome == "escalated" for cf in cfs]
    return {"auroc": _auc(y, highest, "roc"), "auroc_end_of_call": _auc(y, last, "roc")}


def text_part_cv(cfs: list[CallFeatures], *, seed: int, fit_kwargs: dict, log=None) -> dict:
    """Call-grouped CV of the whole fit without and with the text part (the text part's own CV and
    stacking run inside each fold): out-of-fold call AUROC, highest risk over the call and at its end."""
    from sklearn.model_selection import StratifiedKFold

    from callradar.training.evaluate import _auc

    y = np.array([cf.call.outcome == "escalated" for cf in cfs])
    k = max(2, min(CV_FOLDS, int(y.sum()), int((~y).sum())))
    out = {mode: {"highest": np.zeros(len(cfs)), "end": np.zeros(len(cfs))} for mode in ("off", "on")}
    for i, (tr, va) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)):
        for mode in ("off", "on"):
            model = _quiet_fit([cfs[j] for j in tr], seed=seed, text_part=mode == "on", **fit_kwargs)
            for j in va:
                risks = [model.predict(r).risk for r in cfs[j].model_inputs()] or [0.0]
                out[mode]["highest"][j], out[mode]["end"][j] = max(risks), risks[-1]
        if log:
            log(f"text part: call-grouped CV fold {i + 1}/{k} done")
    return {"folds": k, **{mode: {"auroc": _auc(y, v["highest"], "roc"), "auroc_end_of_call": _auc(y, v["end"], "roc")}
                           for mode, v in out.items()}}


def choose_text_part(cfs: list[CallFeatures], mode: str, *, seed: int, fit_kwargs: dict, log=None,
                     min_calls: int = TEXT_PART_MIN_CALLS, min_gain: float = TEXT_PART_MIN_GAIN,
                     corpus: bool = False) -> dict:
    """Whether the model gets a text part, and why (the card's ``text_part``; ``chosen`` is the answer).

    ``corpus``: the calls are a semi-synthetic ``callradar corpus build`` file, where auto says no.
    Its customers speak Bitext's intent templates, picked BY OUTCOME, so a text part learns the
    generator: it gains in CV there and loses on the corpus's other source (docs/benchmarks.md,
    "The risk model's text part"), like the timing features DEFAULT_EXCLUDED leaves out.
    """
    if mode not in TEXT_PART_MODES:
        raise UserError(f"--text-part must be one of {', '.join(TEXT_PART_MODES)}, got {mode!r}")
    info = {"mode": mode, "min_calls": min_calls, "min_gain": min_gain, "calls": len(cfs)}
    if mode == "off":
        return {**info, "chosen": False, "why": "--text-part off"}
    if any(cf.pooled is None for cf in cfs):
        if mode == "on":
            raise UserError("--text-part on: the text scorer gave no utterance embeddings to learn the text part from")
        return {**info, "chosen": False, "why": "the text scorer gave no utterance embeddings"}
    if mode == "on":
        return {**info, "chosen": True, "why": "--text-part on"}
    if corpus:
        return {**info, "chosen": False, "why": "a semi-synthetic corpus, whose words are templates chosen by outcome: "
                "a text part would learn the generator (--text-part on to force)"}
    if len(cfs) < min_calls:
        return {**info, "chosen": False, "why": f"{len(cfs)} labelled training calls; auto needs at least {min_calls}"}
    cv = text_part_cv(cfs, seed=seed, fit_kwargs=fit_kwargs, log=log)
    on, off = cv["on"]["auroc"], cv["off"]["auroc"]
    gain = round(on - off, 4) if on is not None and off is not None else None
    chosen = gain is not None and gain >= min_gain
    why = (f"call-grouped CV ({cv['folds']} folds) call AUROC {fmt_metric(on)} with the text part, {fmt_metric(off)} "
           f"without ({'+' if (gain or 0) >= 0 else ''}{fmt_metric(gain)}; auto needs +{min_gain:g})")
    return {**info, "chosen": chosen, "why": why, "cv": cv, "cv_gain": gain}


def train_risk(train_path: Path, out_dir: Path, *, scorer, test_path: Path | None = None, horizon_s: float = HORIZON_S,
               calibration: str = "platt", features: tuple[str, ...] | None = None, seed: int = 0,
               threshold: float = 0.6, version: str | None = None, progress: bool = True,
               cache_dir: Path | None = None, current_dir: Path | None = None, current_label: str = "builtin",
               heldout_share: float = HELDOUT_SHARE, curve_sizes=CURVE_SIZES, curve_seeds: int = CURVE_SEEDS,
               text_part: str = "auto", confirm_utterances: int = 1) -> dict:
    """Train on ``train_path``, write the model folder to ``out_dir``; returns the card.

    Held out: ``test_path``, else ``heldout_share`` of the calls (stratified by outcome,
    whole calls). The model is fitted on the rest only, so the held-out comparison with
    the current model (``current_dir``, the bundled model by default; ``current_label``
    is its registry version) is honest; the card records it and ``callradar models
    promote`` refuses a model that did worse. ``scorer`` is a TextScorer, or a function
    making one: loading the text models takes seconds, so bad data is reported first.
    ``text_part``: auto, on or off (:func:`choose_text_part`); when it was weighed, the card's
    ``text_part`` holds both settings on the held-out calls and the other setting's learning curve.
    ``threshold`` and ``confirm_utterances`` are the live trigger's (flagged calls, lead times).
    Nothing is written unless training succeeds.
    """
    from callradar.models.risk import DEFAULT_RISK_DIR, RiskModel

    t0 = time.monotonic()

    def say(line: str) -> None:
        if progress:
            print(line, file=sys.stderr, flush=True)

    calls = read_calls(train_path)
    labelled = [c for c in calls if c.outcome is not None]
    check_outcome_counts(labelled, train_path, len(calls) - len(labelled))
    check_labels_against_transcript(labelled, train_path)
    if test_path is not None:
        test = read_calls(test_path, labelled_only=True)
        check_heldout_counts(test, test_path)
        check_labels_against_transcript(test, test_path)
        train = labelled
        heldout_info = {"source": "file", "path": _shown(test_path), "sha256": data_hash(test_path)}
    else:
        if not 0 < heldout_share < 1:
            raise UserError(f"held-out share must be between 0 and 1, got {heldout_share:g}")
        train, test = split_heldout(labelled, heldout_share, seed)
        heldout_info = {"source": "split", "path": _shown(train_path), "sha256": data_hash(train_path),
                        "share": heldout_share, "seed": seed, "stratified_by": "outcome", "grouped_by": "call"}
    heldout_info["call_ids_sha256"] = hashlib.sha256("\n".join(sorted(c.call_id for c in test)).encode()).hexdigest()
    n_esc = sum(c.outcome == "escalated" for c in train)
    say(f"training on {len(train)} labelled calls ({n_esc} escalated) from {train_path}"
        + (f"; {len(calls) - len(labelled)} unlabelled left out" if len(calls) > len(labelled) else ""))
    say(f"held out {len(test)} calls ({sum(c.outcome == 'escalated' for c in test)} escalated) "
        + (f"from {test_path}" if test_path is not None else f"({heldout_share:.0%} of each outcome, seed {seed})"))

    prior = prior_model()  # the weights of features the data never moves, and a fixed baseline
    current_dir = Path(current_dir or DEFAULT_RISK_DIR)
    current = RiskModel.load(current_dir)
    current_card = json.loads((current_dir / "card.json").read_text()) if (current_dir / "card.json").exists() else {}
    if not hasattr(scorer, "score_batch"):
        scorer = scorer()
    if test_path is None:  # one scoring pass (and one cache entry) for the whole file
        by_id = {cf.call.call_id: cf for cf in features_of(labelled, scorer, progress, cache_dir)}
        cfs, test_cfs = [by_id[c.call_id] for c in train], [by_id[c.call_id] for c in test]
    else:
        cfs = features_of(train, scorer, progress, cache_dir)
        test_cfs = features_of(test, scorer, progress, cache_dir)

    # Balanced class weights: real queues escalate 5-20 % of calls; calibration maps back to the data's rate.
    fit_kwargs = {"horizon_s": horizon_s, "calibration": calibration, "features": features, "prior": prior,
                  "class_weight": "balanced", "encoder": getattr(scorer.encoder, "name", "?")}
    if text_part == "auto" and len(cfs) >= TEXT_PART_MIN_CALLS and _corpus_info(train_path) is None:
        say(f"text part: call-grouped CV with and without it on {len(cfs)} calls (--text-part auto)")
    choice = choose_text_part(cfs, text_part, seed=seed, fit_kwargs=fit_kwargs, log=say,
                              corpus=_corpus_info(train_path) is not None)
    say(f"text part: {'on' if choice['chosen'] else 'off'} ({choice['why']})")
    fit_kwargs["text_part"] = choice["chosen"]
    say(f"fitting on {len(cfs)} calls (C by call-grouped CV)")
    model, details = fit_risk_model(cfs, seed=seed, version=version, **fit_kwargs)
    # Weighed (auto with enough calls, or on): the other setting too, on the same held-out calls and curve.
    weighed = "cv" in choice or text_part == "on"
    other = _quiet_fit(cfs, seed=seed, version=version, **{**fit_kwargs, "text_part": not choice["chosen"]}) if weighed else None
    curve, other_curve = [], []
    if curve_seeds > 0 and curve_sizes:
        curve = learning_curve(cfs, test_cfs, lambda sample, s: _quiet_fit(sample, seed=seed + s, **fit_kwargs),
                               threshold=threshold, horizon_s=horizon_s, sizes=curve_sizes, seeds=curve_seeds,
                               log=say)
        if weighed:
            say(f"learning curve {'without' if choice['chosen'] else 'with'} the text part, for comparison")
            other_kwargs = {**fit_kwargs, "text_part": not choice["chosen"]}
            other_curve = learning_curve(cfs, test_cfs, lambda sample, s: _quiet_fit(sample, seed=seed + s, **other_kwargs),
                                         threshold=threshold, horizon_s=horizon_s, sizes=curve_sizes,
                                         seeds=curve_seeds, log=say)
    if weighed:
        with_, without = (model, other) if choice["chosen"] else (other, model)
        choice["heldout"] = {"with": call_risk_aurocs(with_, test_cfs), "without": call_risk_aurocs(without, test_cfs),
                             "calls": len(test_cfs)}
        choice["learning_curve_other"] = other_curve
    comparison = heldout_comparison(
        model, current, test_cfs, threshold, horizon_s, heldout_info=heldout_info, confirm_utterances=confirm_utterances,
        baseline_info={"registry_version": current_label, "model_sha256": current_card.get("sha256")})
    both = evaluate_models({"trained": model, "prior": prior}, test_cfs, threshold, horizon_s, confirm_utterances)
    metrics = {"train": evaluate_models({"trained": model}, cfs, threshold, horizon_s, confirm_utterances)["trained"],
               "heldout": both["trained"], "heldout_prior": both["prior"],
               "heldout_current": evaluate_models({"current": current}, test_cfs, threshold, horizon_s,
                                                  confirm_utterances)["current"]}
    sources: dict[str, int] = {}
    for c in train:
        sources[f"{c.source or 'unknown'} {c.outcome}"] = sources.get(f"{c.source or 'unknown'} {c.outcome}", 0) + 1
    card = {
        "description": "P(escalation within the horizon | call so far), logistic regression on the live call "
                       "features, calibrated; trained by `callradar train risk`.",
        "trained": True,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training_data": {"path": _shown(train_path), "sha256": data_hash(train_path), "calls": len(train),
                          "by_source_and_outcome": sources, "corpus": _corpus_info(train_path),
                          "heldout_path": heldout_info["path"], "heldout_sha256": heldout_info["sha256"],
                          "heldout_calls": len(test), "heldout_source": heldout_info["source"]},
        "labels": {"horizon_s": horizon_s, "escalated": sum(c.outcome == "escalated" for c in train),
                   "escalated_whole_call": sum(c.outcome == "escalated" and c.escalation_time is None for c in train),
                   "rule": f"calm: every prefix 0; escalated: prefixes from {horizon_s:g} s before the escalation "
                           "time on are 1, earlier ones are left out; no escalation time (a label for the whole call): "
                           "every prefix 1"},
        "params": {"model": "sklearn LogisticRegression (L2, lbfgs) on standardised features",
                   "C_grid": list(C_GRID), "C_rule": f"smallest C within {C_TOLERANCE} of the best call-grouped "
                   "CV prefix AUROC", "seed": seed, "excluded_features": [n for n in FEATURE_NAMES
                                                                         if n not in model.feature_names],
                   **details},
        "text_models": text_models(scorer),
        "threshold": threshold,
        "confirm_utterances": confirm_utterances,
        "baseline": prior.version,
        "metrics": metrics,
        "learning_curve": curve,
        "text_part": choice,
        "heldout_comparison": comparison,
        "reasons_learnt": learnt_reasons(model),
        "feature_module": "callradar.models.call_features",
        "card": "model_card.md",
        "train_seconds": round(time.monotonic() - t0, 1),
    }
    model.save(out_dir, card)
    (Path(out_dir) / "model_card.md").write_text(model_card_md(model, card))
    return card


def whole_call_note(card: dict) -> str | None:
    """For escalations labelled as a whole (no escalation time: a post-call rating, a complaint logged later):
    which reading ranks such calls, said with the held-out figures. None when every escalation is dated."""
    labels, heldout = card.get("labels") or {}, (card.get("metrics") or {}).get("heldout") or {}
    whole, escalated = labels.get("escalated_whole_call"), labels.get("escalated")
    if not whole:
        return None
    return (f"{whole} of {escalated} escalated training calls have no escalation time, so the label says the call "
            f"as a whole went badly, not when. On the held-out calls the live alert's reading (the highest risk over "
            f"the call) ranks them at call AUROC {fmt_metric(heldout.get('auroc'))}, the risk at the call's end at "
            f"{fmt_metric(heldout.get('auroc_end_of_call'))}: `callradar report`'s calls to follow up rank ended calls "
            f"by the latter (CALLRADAR_FOLLOW_UP_RISK)")


def _whole_call_md(card: dict) -> str:
    note = whole_call_note(card)
    return f"\n**Labels for whole calls.** {note}.\n" if note else ""


def summary_lines(card: dict) -> list[str]:
    """What `callradar train risk` prints (and a notebook can): learning curve, comparison, reasons."""
    lines = []
    tp = card.get("text_part") or {}
    if tp:
        lines.append(f"text part (what the words say, from pooled utterance embeddings): "
                     f"{'on' if tp['chosen'] else 'off'}, --text-part {tp['mode']}: {tp['why']}")
        for key, what in (("cv", "call-grouped CV on the training calls"), ("heldout", "held-out calls")):
            if tp.get(key):
                with_, without = (tp[key]["on"], tp[key]["off"]) if key == "cv" else (tp[key]["with"], tp[key]["without"])
                lines.append(f"  {what}: call AUROC with / without it: highest risk over the call "
                             f"{fmt_metric(with_['auroc'])} / {fmt_metric(without['auroc'])}, at the end of the call "
                             f"{fmt_metric(with_['auroc_end_of_call'])} / {fmt_metric(without['auroc_end_of_call'])}")
    curve = card.get("learning_curve") or []
    other = {p["calls"]: p for p in tp.get("learning_curve_other") or []}
    if curve:
        also = f"; then {'without' if tp.get('chosen') else 'with'} the text part" if other else ""
        lines.append(f"learning curve (held-out call AUROC, mean ± sd over {curve[0]['seeds']} draws of the calls{also}):")
        for p in curve:
            o = other.get(p["calls"])
            lines.append(f"  {p['calls']:>6} calls ({p['escalated']} escalated)  {fmt_metric(p['auroc_mean'])} "
                         f"± {fmt_metric(p['auroc_sd'])}   PR-AUC {fmt_metric(p['pr_auc_mean'])}"
                         + (f"   | {fmt_metric(o['auroc_mean'])} ± {fmt_metric(o['auroc_sd'])}" if o else ""))
    comp = card.get("heldout_comparison")
    if comp:
        b, h = comp["baseline"], comp["heldout"]
        lines.append(f"new vs current (risk {b['registry_version']}, {b['model_version']}) on {h['calls']} held-out "
                     f"calls ({h['escalated']} escalated), threshold {comp['threshold']}:")
        lines.append(f"  {'':<28}{'new':>9}{'current':>9}")
        for key, label in (("auroc", "call AUROC"), ("auroc_end_of_call", "call AUROC at the call's end"),
                           ("pr_auc", "call PR-AUC"),
                           ("auroc_before_escalation", "AUROC before the escalation"),
                           ("precision", "precision at the threshold"), ("recall", "recall at the threshold"),
                           ("false_alarm_rate", "calm calls flagged"),
                           ("paired_median_lead_time_s", "median lead time, s (both)")):
            lines.append(f"  {label:<28}{fmt_metric(comp['new'].get(key)):>9}"
                         f"{fmt_metric(comp['baseline_metrics'].get(key)):>9}")
        advice = operating_point_advice(comp)
        if advice:
            lines.append(f"operating point: {advice}")
    note = whole_call_note(card)
    if note:
        lines.append(f"labels for whole calls: {note}")
    reasons = card.get("reasons_learnt") or []
    if reasons:
        lines.append("reasons it learnt (largest weights, per standard deviation of the feature):")
        for r in reasons:
            lines.append(f"  {r['weight']:+.3f}  {r['words']} ({r['feature']}: {r['direction']})")
    return lines


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
    keys = [("auroc", "call AUROC (max risk over the call)"), ("auroc_end_of_call", "call AUROC (risk at the call's end)"),
            ("auroc_before_escalation", "call AUROC before the escalation"),
            ("pr_auc", "call PR-AUC"), ("precision", "precision at the threshold"),
            ("recall", "recall at the threshold"), ("recall_before_escalation", "recall before the escalation"),
            ("false_alarm_rate", "calm calls flagged"), ("median_lead_time_s", "median lead time (s)"),
            ("paired_median_lead_time_s", "median lead time (s), calls both models flagged")]
    cols = [("train", "train (in-sample)")] + [(k, t) for k, t in (("heldout", "held out"),
                                                                    ("heldout_prior", f"{card['baseline']}, held out"),
                                                                    ("heldout_current", "current model, held out"))
                                              if k in m]
    table = "| metric | " + " | ".join(t for _, t in cols) + " |\n| --- |" + " --- |" * len(cols) + "\n"
    table += "\n".join(f"| {label} | " + " | ".join(fmt_metric(m[c].get(k)) for c, _ in cols) + " |" for k, label in keys)
    td = card["training_data"]
    carried = ", ".join(f"{k} ({v:+g})" for k, v in p["carried_from_prior"].items()) or "none"
    corpus = f", made by `{td['corpus']['command']}`" if td.get("corpus") else ""
    return f"""# Call risk model `{model.version}` (trained)

**What it is.** P(escalation within {card['labels']['horizon_s']:g} s, or already happened | the call so far)
(for calls labelled without an escalation time: P(the call is rated escalated as a whole | the call so far)),
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
A call is flagged when its risk ever reaches the threshold (the live trigger; with no keyword behind the crossing,
once it has held on {card.get('confirm_utterances', 1)} customer utterance(s) in a row). Lead time = escalation time −
time of the first alert (end of the utterance that crossed); positive = warned before the customer asked.

{table}
{_whole_call_md(card)}
{_retraining_md(card)}Full report with plots: `callradar evaluate --model <this folder>`.

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


def _retraining_md(card: dict) -> str:
    """The learning curve, the held-out comparison a promotion is judged by, and the reasons learnt."""
    out = ""
    tp = card.get("text_part") or {}
    if tp:
        out += (f"## Text part\nWhat the words say: a logistic regression on the call's pooled utterance embeddings "
                f"(customer mean, agent mean), fitted out of fold, one feature (`{TEXT_FEATURE}`) of the model above. "
                f"**{'On' if tp['chosen'] else 'Off'}** (`--text-part {tp['mode']}`): {tp['why']}. The text heads are "
                "not refitted on these calls.\n\n")
        rows = [(what, tp[key]["on" if key == "cv" else "with"], tp[key]["off" if key == "cv" else "without"])
                for key, what in (("cv", "call-grouped CV, training calls"), ("heldout", "held-out calls")) if tp.get(key)]
        if rows:
            out += ("| call AUROC | with, highest risk | without, highest risk | with, end of call | without, end of call |\n"
                    "| --- | --- | --- | --- | --- |\n")
            out += "".join(f"| {what} | {fmt_metric(w['auroc'])} | {fmt_metric(wo['auroc'])} | "
                           f"{fmt_metric(w['auroc_end_of_call'])} | {fmt_metric(wo['auroc_end_of_call'])} |\n"
                           for what, w, wo in rows)
            out += "\n"
    curve = card.get("learning_curve") or []
    if curve:
        out += (f"## Learning curve\nHeld-out call AUROC and PR-AUC when fitting on part of the training calls "
                f"(drawn by outcome, whole calls; mean ± sd over {curve[0]['seeds']} draws). Still rising at the "
                "right: more labelled calls would help.\n\n| calls | escalated | AUROC | PR-AUC |\n"
                "| --- | --- | --- | --- |\n")
        out += "".join(f"| {p['calls']} | {p['escalated']} | {fmt_metric(p['auroc_mean'])} ± {fmt_metric(p['auroc_sd'])} "
                       f"| {fmt_metric(p['pr_auc_mean'])} ± {fmt_metric(p['pr_auc_sd'])} |\n" for p in curve)
        other = tp.get("learning_curve_other") or []
        if other:
            out += (f"\n{'Without' if tp['chosen'] else 'With'} the text part, same draws: "
                    + ", ".join(f"{p['calls']} calls {fmt_metric(p['auroc_mean'])} ± {fmt_metric(p['auroc_sd'])}"
                                for p in other) + ".\n")
        out += "\n"
    comp = card.get("heldout_comparison")
    if comp:
        b, h = comp["baseline"], comp["heldout"]
        where = (f"`{h['path']}`" if h["source"] == "file"
                 else f"{h.get('share', 0):.0%} of each outcome of the training file, seed {h.get('seed')}")
        out += (f"## Against the current model\nOn {h['calls']} held-out calls ({h['escalated']} escalated; {where}), "
                f"threshold {comp['threshold']}, against risk {b['registry_version']} (`{b['model_version']}`), "
                "the model that ran when this one was trained. `callradar models promote` refuses this model "
                "when its call AUROC here is lower than the model it replaces by more than the tolerance "
                "(docs/models.md).\n\n| metric | new | current |\n| --- | --- | --- |\n")
        out += "".join(f"| {k} | {fmt_metric(comp['new'].get(k))} | {fmt_metric(comp['baseline_metrics'].get(k))} |\n"
                       for k in comp["new"])
        advice = operating_point_advice(comp)
        if advice:
            out += f"\n**Operating point.** {as_sentence(advice)}\n"
        out += "\n"
    reasons = card.get("reasons_learnt") or []
    if reasons:
        out += "## Reasons it learnt\nLargest weights, per standard deviation of the feature:\n\n"
        out += "".join(f"- {r['weight']:+.3f} {r['words']} (`{r['feature']}`: {r['direction']})\n" for r in reasons)
        out += "\n"
    return out
