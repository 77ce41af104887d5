"""Which features carry the signal: univariate within-source AUROC of each today/dynamics feature (whole call), and the
standardised LR coefficients of 'LR today + dynamics' fitted on all 1500 (what a model card's reasons would show)."""
import json
import sys

import numpy as np

sys.path.insert(0, "/tmp/exp14")
from risk_exp import I_D, I_T, XW, lrcv, names, src, y
from sklearn.metrics import roc_auc_score

rows = []
for j in np.r_[I_T, I_D]:
    a = [roc_auc_score(y[src == k], XW[src == k, j]) if XW[src == k, j].std() > 0 else 0.5 for k in ("ReDial", "CCPE")]
    rows.append((names[j], round(a[0], 3), round(a[1], 3)))
clf = lrcv(XW[:, np.r_[I_T, I_D]], y)
coef = clf[-1].coef_[0]
out = {"univariate_auroc_redial_ccpe": rows, "C": float(clf[-1].C_[0]),
       "coef": sorted([(names[j], round(float(c), 3)) for j, c in zip(np.r_[I_T, I_D], coef)], key=lambda t: -abs(t[1]))}
json.dump(out, open("/tmp/exp14/results/risk_reasons.json", "w"), indent=1)
for r in sorted(rows, key=lambda r: -abs(r[1] - 0.5) - abs(r[2] - 0.5)): print(r)
print("C", out["C"]); print(out["coef"][:20])
