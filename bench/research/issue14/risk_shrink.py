"""Max over the call with early-prefix shrinkage: every feature pulled toward the training mean by n/(n+k),
n = customer turns so far (the same transform live and in training), so a 2-turn prefix cannot look extreme."""
import json
import sys

import numpy as np

sys.path.insert(0, "/tmp/exp14")
from risk_exp import I_D, I_T, XW, calls, lrcv, names, splits, src, y
from sklearn.metrics import roc_auc_score


def wauc(te, s):
    s = np.asarray(s, float); return float(np.mean([roc_auc_score(y[te][src[te] == k], s[src[te] == k]) for k in np.unique(src[te])]))
idx = np.r_[I_T, I_D]
j_n, j_share = names.index("n_turns"), names.index("cust_turn_share")
def ncust(X):
    return np.maximum(1.0, np.round(X[:, j_n] * X[:, j_share]))
def shrink(X, mu, k):
    f = (ncust(X) / (ncust(X) + k))[:, None]
    return mu + (X[:, idx] - mu) * f
sp = splits()["train 1000 / test 500 (random, 5 seeds)"][:3] + splits()["ReDial(1000) -> CCPE(500)"]
res = {}
for k in (0, 3, 6, 12):
    a_max, a_fin = [], []
    for tr, te in sp:
        mu = XW[tr][:, idx].mean(0)
        clf = lrcv(shrink(XW[tr], mu, k), y[tr])
        a_max.append(wauc(te, [clf.decision_function(shrink(calls[i]["X"].astype(float), mu, k)).max() for i in te]))
        a_fin.append(wauc(te, clf.decision_function(shrink(XW[te], mu, k))))
    res[k] = {"max over call": {"random3": round(float(np.mean(a_max[:3])), 3), "sd": round(float(np.std(a_max[:3])), 3), "redial_to_ccpe": round(a_max[3], 3)},
              "end of call": {"random3": round(float(np.mean(a_fin[:3])), 3), "redial_to_ccpe": round(a_fin[3], 3)}}
    print(k, res[k], flush=True)
json.dump(res, open("/tmp/exp14/results/risk_shrink.json", "w"), indent=1)
