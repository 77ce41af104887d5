"""Which intent training mix fires least on the real calm calls while catching implicit complaints?"""
import importlib.util
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

sys.argv = ["heads_lodo.py"]
exec(open("/tmp/exp14/heads_lodo.py").read().split("if __name__")[0])
from callradar.models.encoder import load_encoder

enc = load_encoder("all-MiniLM-L6-v2")
T = json.load(open("/work/main/bench/results/transcription.json"))["texts"]
cust = [t["adaptive-4"] for t in T if t["set"] == "real" and ":caller:" in t["name"] and t["adaptive-4"].strip()]
ec = np.hstack([enc.encode(cust), vader_features(cust)])
spec = importlib.util.spec_from_file_location("mq", "/work/main/bench/model_quality.py"); mq = importlib.util.module_from_spec(spec); spec.loader.exec_module(mq)
ct = [t for t, _ in mq.CALL_STYLE]; cy = np.array([l for _, l in mq.CALL_STYLE]); ex = np.hstack([enc.encode(ct), vader_features(ct)])
res = {}
for mix in (["bitext", "goemotions"], ["bitext", "goemotions", "own"], ["bitext", "goemotions", "own", "amazon"]):
    for bal in (False, True):
        X, Y, W = train_set(mix, "intent", True); clf = fit(X, Y, W, bal)
        p = 1 / (1 + np.exp(-clf.decision_function(ec)))
        r = {"calm-call customer utts >= 0.5": int((p >= 0.5).sum()), "calm-call max": round(float(p.max()), 3),
             "Bye": round(float(p[cust.index("Bye")]), 3), "Here I can leave.": round(float(p[cust.index("Here I can leave.")]), 3),
             "CALL_STYLE AUROC": round(roc_auc_score(cy, clf.decision_function(ex)), 3)}
        for held in ("own", "amazon"):
            if held not in mix:
                m = test_mask(held, "intent"); yl = labels(held, "intent"); m &= yl >= 0
                r[f"{held} AUROC (held out)"] = round(roc_auc_score(yl[m], clf.decision_function(np.hstack([E[held][m], V[held][m]]))), 3)
        res[f"{'+'.join(mix)}{' balanced' if bal else ''}"] = r
        print("+".join(mix), bal, r, flush=True)
json.dump(res, open("/tmp/exp14/results/heads_intent_variants.json", "w"), indent=1)
