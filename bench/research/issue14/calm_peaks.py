"""Three more tries at the highest reading over a rated call (session 19; measurement only).

The highest reading (what an alert acts on, the issue's retrain row) ranks the rated dialogues worse than the
reading at the call's end, because calm calls drift up somewhere over their many prefixes. Each try below aims at
those calm peaks:
- *each call counts once*: `train risk` fits one row per prefix, so a 40-turn call weighs eight times a 5-turn
  one; here every call gives the same number of prefixes, evenly spaced (repeated for short calls);
- *stronger shrinkage*: the n / (n + k) pull of averages toward the mean, k above the shipped 6;
- *hard negatives*: after a fit, each calm call's top-scoring prefixes are added again (twice or more), two rounds.
Call AUROC of the highest and of the end reading, held out (the 500) and by 5-fold CV on the 1000; same cached
features as peak_readings.py; nothing saved.

    W=<satisfaction_check --work folder> TRAIN_KEY=... TEST_KEY=... .venv/bin/python bench/research/issue14/calm_peaks.py
"""
import os
import sys

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.dirname(__file__))
from mil_readings import fit, readings, report, subset  # noqa: E402
from peak_readings import W, load  # noqa: E402

# name: (prefixes per call or None for every prefix, (top k, extra copies) of calm calls or None, fit keywords)
TRIES = {
    "every prefix once (today)": (None, None, {}),
    "each call counts once, 4 prefixes": (4, None, {}),
    "each call counts once, 8 prefixes": (8, None, {}),
    "each call counts once, 16 prefixes": (16, None, {}),
    "shrinkage k 12": (None, None, {"shrink_k": 12.0}),
    "shrinkage k 24": (None, None, {"shrink_k": 24.0}),
    "hard negatives: calm top 1, 5 more copies": (None, (1, 5), {}),
    "hard negatives: calm top 3, 2 more copies": (None, (3, 2), {}),
    "hard negatives: calm top 3, 5 more copies": (None, (3, 5), {}),
}
HARD_ROUNDS = 2


def evened(cfs, k):
    if k is None:
        return cfs
    return [subset(cf, np.linspace(0, len(cf.rows) - 1, k).round().astype(int)) for cf in cfs]


def fit_try(cfs, per_call, hard, kw):
    cfs = evened(cfs, per_call)
    model = fit(cfs, **kw)
    for _ in range(HARD_ROUNDS if hard else 0):
        out = []
        for cf in cfs:
            if cf.call.outcome == "escalated":
                out.append(cf)
                continue
            top = np.argsort(-readings(model, cf))[:hard[0]]
            out.append(subset(cf, np.concatenate([np.arange(len(cf.rows))] + [top] * hard[1])))
        model = fit(out, **kw)
    return model


def main():
    tr, te = load(W + "/train.jsonl", os.environ["TRAIN_KEY"]), load(W + "/test.jsonl", os.environ["TEST_KEY"])
    y_tr = np.array([c.call.outcome == "escalated" for c in tr], int)
    lengths = np.array([len(c.rows) for c in tr])
    print(f"prefixes per call: median {np.median(lengths):.0f}, 90th percentile {np.percentile(lengths, 90):.0f}; "
          f"call AUROC of the number of prefixes alone: {roc_auc_score(y_tr, lengths):.3f}", flush=True)
    for name, (per_call, hard, kw) in TRIES.items():
        report(name, lambda cfs, t=(per_call, hard, kw): fit_try(cfs, *t), tr, te, width=44)

if __name__ == "__main__":
    main()
