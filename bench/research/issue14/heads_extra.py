"""Part B extras: (1) complaint = intent fused with negativity, LODO; (2) heads trained on ALL sources, checked on the two
real calm calls' customer utterances (false escalation-intent firings) and on the bench's CALL_STYLE probes."""
import importlib.util
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

sys.argv = ["heads_lodo.py"]
from scipy.stats import rankdata

exec(open("/tmp/exp14/heads_lodo.py").read().split("if __name__")[0])
from callradar.models.encoder import load_encoder

res = {"fusion": {}}
for held in ("own", "amazon"):
    m = test_mask(held, "intent"); yl = labels(held, "intent"); m &= yl >= 0
    Xi, Yi, Wi = train_set([s for s in ("bitext", "own", "amazon", "goemotions") if s != held], "intent", True)
    ci = fit(Xi, Yi, Wi, True)
    Xs, Ys, Ws = train_set([s for s in ("goemotions", "amazon", "movie", "nyt", "own") if s != held], "sentiment", True)
    cs = fit(Xs, Ys, Ws, True)
    xt = np.hstack([E[held][m], V[held][m]])
    si = ci.decision_function(xt); ps = cs.predict_proba(xt); neg = ps[:, 0] - ps[:, 2]
    r = {"intent LR (LODO)": roc_auc_score(yl[m], si), "negativity of sentiment LR (LODO)": roc_auc_score(yl[m], neg),
         "rank mean of the two": roc_auc_score(yl[m], rankdata(si) + rankdata(neg)),
         "VADER negativity": roc_auc_score(yl[m], -V[held][m][:, 3])}
    res["fusion"][held] = r
    print(held, {k: round(v, 3) for k, v in r.items()}, flush=True)

# heads on all sources
Xi, Yi, Wi = train_set(["bitext", "own", "amazon", "goemotions"], "intent", True); ci = fit(Xi, Yi, Wi, True)
Xs, Ys, Ws = train_set(["goemotions", "amazon", "movie", "nyt", "own"], "sentiment", True); cs = fit(Xs, Ys, Ws, True)
enc = load_encoder("all-MiniLM-L6-v2")
T = json.load(open("/work/main/bench/results/transcription.json"))["texts"]
cust = [t["adaptive-4"] for t in T if t["set"] == "real" and ":caller:" in t["name"] and t["adaptive-4"].strip()]
e = enc.encode(cust); v = vader_features(cust)
p_new = 1 / (1 + np.exp(-ci.decision_function(np.hstack([e, v]))))
p_old = shipped_int.predict(e, cust)
ps = cs.predict_proba(np.hstack([e, v]))
old_s = shipped_sent.predict(e, cust)
watch = ["Bye", "Here I can leave.", "No, man, that's it.", "T i", "l l e", "Right.", "That's fine."]
res["real_calls"] = {"customer_utterances": len(cust),
                     "intent>=0.5 shipped": int((p_old >= 0.5).sum()), "intent>=0.5 new(all sources, balanced)": int((p_new >= 0.5).sum()),
                     "negative label shipped": int(sum(o[0] == "negative" for o in old_s)), "negative label new": int((ps.argmax(1) == 0).sum()),
                     "watch": {w: {"shipped_intent": round(float(p_old[cust.index(w)]), 3), "new_intent": round(float(p_new[cust.index(w)]), 3),
                                   "shipped_neg": round(old_s[cust.index(w)][1]["negative"], 3), "new_neg": round(float(ps[cust.index(w), 0]), 3)}
                               for w in watch if w in cust},
                     "top_new": sorted([(round(float(p), 3), c) for p, c in zip(p_new, cust)], reverse=True)[:6],
                     "top_shipped": sorted([(round(float(p), 3), c) for p, c in zip(p_old, cust)], reverse=True)[:6]}
print(json.dumps(res["real_calls"], indent=1), flush=True)
spec = importlib.util.spec_from_file_location("mq", "/work/main/bench/model_quality.py"); mq = importlib.util.module_from_spec(spec); spec.loader.exec_module(mq)
ct = [t for t, _ in mq.CALL_STYLE]; cy = np.array([l for _, l in mq.CALL_STYLE])
e = enc.encode(ct); v = vader_features(ct)
res["call_style_40"] = {"shipped head": roc_auc_score(cy, shipped_int.predict(e, ct)),
                        "shipped + keywords": roc_auc_score(cy, [fuse_intent(float(p), rules.match(t), rules.weights) for p, t in zip(shipped_int.predict(e, ct), ct)]),
                        "new (all sources incl. own set)": roc_auc_score(cy, ci.decision_function(np.hstack([e, v]))),
                        "VADER negativity": roc_auc_score(cy, -v[:, 3])}
print(res["call_style_40"])
json.dump(res, open("/tmp/exp14/results/heads_extra.json", "w"), indent=1, default=str)
