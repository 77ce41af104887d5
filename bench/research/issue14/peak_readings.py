"""Where the highest reading over a call comes from: smoothed readings and a warm-up (session 16; measurement only).

The retrained risk model ranks rated dialogues far better by its reading at the call's end than by its highest
reading over the call (the one an alert acts on; docs/benchmarks.md, session 11). Would a smoothed reading, or one
that ignores the first customer utterances, close that gap? Call AUROC of each summary of the readings, for
fit_risk_model on the 1000 training dialogues tested on the 500 (and by 5-fold CV on the 1000 alone), on the
features satisfaction_check.py cached (nothing is saved; the rated dialogues are measurement only).

    W=<satisfaction_check --work folder> TRAIN_KEY=... TEST_KEY=... .venv/bin/python bench/research/issue14/peak_readings.py
"""
import contextlib
import io
import json
import os

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from callradar.agents.triggers import counts_for_confirmation
from callradar.models.call_features import FEATURE_NAMES
from callradar.training.features import CallFeatures
from callradar.training.labelled_calls import read_calls
from callradar.training.risk import DEFAULT_EXCLUDED, fit_risk_model

W = os.environ["W"]
CACHE = W + "/state/cache/risk-features/"
SHIPPED = tuple(n for n in FEATURE_NAMES if n not in (*DEFAULT_EXCLUDED, "cust_pos_mean"))  # as intent_gate.sh fits
CUMULATIVE = ("cust_neg_mean", "frustration_mean", "cust_neg_peak", "frustration_max", "kw_supervisor_request",
              "kw_cancellation", "kw_legal_threat", "kw_complaint", "kw_repeat_contact", "intent_corroborated",
              "cust_corrections", "cust_repeats", "cust_repeat_max", "cust_negation_rate")
VARIANTS = {"shipped recipe (horizon 20 s)": {},
            "every prefix positive (horizon 1e6)": {"horizon_s": 1e6},
            "cumulative features only, horizon 1e6": {"features": CUMULATIVE, "horizon_s": 1e6}}


def load(jsonl, key):
    calls = read_calls(jsonl, labelled_only=True)
    docs = json.load(open(CACHE + key + ".json"))
    return [CallFeatures(c, d["rows"], np.array(d["times"], float)) for c, d in zip(calls, docs)]


def logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def summaries(model, cf) -> dict[str, float]:
    r = np.array([model.predict(row).risk for row in cf.rows])
    said = [counts_for_confirmation(u.speaker, u.text) for u in cf.call.utterances[: len(r)]]
    cust = r[np.array(said + [True] * (len(r) - len(said)))] if any(said) else r
    out = {"highest": r.max(), "at the end": r[-1],
           "highest held 2 customer utterances": max(min(a, b) for a, b in zip(cust, cust[1:])) if len(cust) > 1 else cust[0]}
    for a in (0.5, 0.3):
        e, best = None, -np.inf
        for v in logit(cust):
            e = v if e is None else a * v + (1 - a) * e
            best = max(best, e)
        out[f"highest EWMA {a} of the logit"] = best
    for k in (3, 5):
        out[f"highest from the customer's utterance {k}"] = cust[k - 1:].max() if len(cust) >= k else cust[-1]
    return out


def aurocs(y, rows):
    return {k: roc_auc_score(y, [s[k] for s in rows]) for k in rows[0]}


def main():
    tr, te = load(W + "/train.jsonl", os.environ["TRAIN_KEY"]), load(W + "/test.jsonl", os.environ["TEST_KEY"])
    y_tr = np.array([c.call.outcome == "escalated" for c in tr], int)
    y_te = np.array([c.call.outcome == "escalated" for c in te], int)
    for name, kw in VARIANTS.items():
        kw = {"features": SHIPPED, **kw}
        with contextlib.redirect_stderr(io.StringIO()):
            model, _ = fit_risk_model(tr, **kw)
        test = aurocs(y_te, [summaries(model, cf) for cf in te])
        cv_rows = [None] * len(tr)
        for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(tr)), y_tr):
            with contextlib.redirect_stderr(io.StringIO()):
                m, _ = fit_risk_model([tr[i] for i in a], **kw)
            for i in b:
                cv_rows[i] = summaries(m, tr[i])
        cv = aurocs(y_tr, cv_rows)
        for k in test:
            print(f"{name:40s} {k:42s} held-out {test[k]:.3f}  CV {cv[k]:.3f}", flush=True)


if __name__ == "__main__":
    main()
