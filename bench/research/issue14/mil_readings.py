"""Labels for the moments of a rated call that look worst: multiple-instance refits (session 18; measurement only).

A rating says a dialogue went badly somewhere, not where. `callradar train risk` labels every prefix of such a call
positive (session 17): its reading at the call's end ranks the rated dialogues well, its highest reading over the call
(the one an alert acts on) no better than before. Multiple-instance learning reads the label as "at least one moment
of this call is bad": refit with only each dissatisfied call's top-scoring prefixes (by the previous fit) as positives,
every prefix of a satisfied call negative, a few rounds. Does the highest reading rank better? Call AUROC of the
highest reading and of the end reading, held out (the 500) and by 5-fold CV on the 1000, same cached features as
peak_readings.py; nothing is saved (the rated dialogues are measurement only).

    W=<satisfaction_check --work folder> TRAIN_KEY=... TEST_KEY=... .venv/bin/python bench/research/issue14/mil_readings.py
"""
import contextlib
import io
import math
import os
import sys

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, os.path.dirname(__file__))
from peak_readings import SHIPPED, W, load  # noqa: E402

from callradar.training.features import CallFeatures  # noqa: E402
from callradar.training.risk import fit_risk_model  # noqa: E402

ROUNDS = 3
KEEP = {"all prefixes (today)": None, "top 1": ("n", 1), "top 3": ("n", 3), "top 25 %": ("share", 0.25),
        "top 50 %": ("share", 0.5)}


def readings(model, cf):
    return np.array([model.predict(row).risk for row in cf.rows])


def subset(cf, idx):
    idx = np.sort(idx)
    return CallFeatures(cf.call, [cf.rows[i] for i in idx], cf.times[idx],
                        None if cf.pooled is None else cf.pooled[idx])


def fit(cfs, **kw):
    with contextlib.redirect_stderr(io.StringIO()):
        return fit_risk_model(cfs, features=SHIPPED, horizon_s=1e6, **kw)[0]


def fit_mil(cfs, keep):
    model = fit(cfs)
    if keep is None:
        return model
    for _ in range(ROUNDS):
        chosen = []
        for cf in cfs:
            if cf.call.outcome != "escalated":
                chosen.append(cf)
                continue
            r = readings(model, cf)
            k = keep[1] if keep[0] == "n" else math.ceil(keep[1] * len(r))
            chosen.append(subset(cf, np.argsort(-r)[:max(1, min(k, len(r)))]))
        model = fit(chosen)
    return model


def summary(model, cf):
    r = readings(model, cf)
    return r.max(), r[-1]


def report(name, fit_fn, tr, te, width=24):
    """One line: call AUROC of the highest and the end reading, held out and by 5-fold CV on the training calls."""
    y_tr = np.array([c.call.outcome == "escalated" for c in tr], int)
    y_te = np.array([c.call.outcome == "escalated" for c in te], int)
    m = fit_fn(tr)
    held = np.array([summary(m, cf) for cf in te])
    cv = np.zeros((len(tr), 2))
    for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(tr)), y_tr):
        mf = fit_fn([tr[i] for i in a])
        for i in b:
            cv[i] = summary(mf, tr[i])
    print(f"{name:{width}s} highest: held-out {roc_auc_score(y_te, held[:, 0]):.3f} CV {roc_auc_score(y_tr, cv[:, 0]):.3f}"
          f" | end: held-out {roc_auc_score(y_te, held[:, 1]):.3f} CV {roc_auc_score(y_tr, cv[:, 1]):.3f}", flush=True)


def main():
    tr, te = load(W + "/train.jsonl", os.environ["TRAIN_KEY"]), load(W + "/test.jsonl", os.environ["TEST_KEY"])
    for name, keep in KEEP.items():
        report(name, lambda cfs, keep=keep: fit_mil(cfs, keep), tr, te)

if __name__ == "__main__":
    main()
