"""Live scoring = a score after every customer turn; how to turn it into one alert-worthy number per call.
LR today+dyn (whole-call trained) and the shipped risk model, prefix scores aggregated several ways."""
import json
import sys

import numpy as np

sys.path.insert(0, "/tmp/exp14")
from risk_exp import I_D, I_T, SHIPPED, XW, calls, lrcv, splits, src, y
from sklearn.metrics import roc_auc_score


def wauc(te, s):
    s = np.asarray(s, float); return float(np.mean([roc_auc_score(y[te][src[te] == k], s[src[te] == k]) for k in np.unique(src[te])]))
def aggs(p):
    p = np.asarray(p, float)
    w3 = np.array([p[max(0, i - 2): i + 1].min() for i in range(len(p))])  # held for 3 readings
    e = p.copy()
    for i in range(1, len(p)):
        e[i] = 0.7 * e[i - 1] + 0.3 * p[i]
    return {"max": p.max(), "max after 3rd customer turn": p[2:].max() if len(p) > 2 else p[-1], "max of 3-reading minimum (persistence)": w3.max(),
            "max of EWMA(0.3)": e.max(), "final (end of call)": p[-1]}
res = {}
sp = splits()["train 1000 / test 500 (random, 5 seeds)"][:3] + splits()["ReDial(1000) -> CCPE(500)"]
idx = np.r_[I_T, I_D]
out = {}
for k, (tr, te) in enumerate(sp):
    clf = lrcv(XW[tr][:, idx], y[tr])
    per = [aggs(clf.decision_function(calls[i]["X"][:, idx].astype(float))) for i in te]
    ship = [aggs([SHIPPED["risk"].predict(r).risk for r in calls[i]["today_rows"]]) for i in te]
    for name in per[0]:
        out.setdefault(("LR today+dyn", name), []).append(wauc(te, [p[name] for p in per]))
        out.setdefault(("shipped risk", name), []).append(wauc(te, [p[name] for p in ship]))
for (m, a), v in out.items():
    res.setdefault(m, {})[a] = {"random3_mean": round(float(np.mean(v[:3])), 3), "random3_sd": round(float(np.std(v[:3])), 3), "redial_to_ccpe": round(float(v[3]), 3)}
    print(m, a, res[m][a])
json.dump(res, open("/tmp/exp14/results/risk_aggregate.json", "w"), indent=1)
