"""Label horizon and shrinkage for calls labelled by a whole-call rating (session 11; docs/benchmarks.md).

fit_risk_model variants on the rated dialogues' cached features (1000 train / 500 test of
bench/satisfaction_check.py's split; measurement only, nothing is saved): call AUROC of the highest
risk over the call and at its end; ``diag`` shows where calm calls peak; ``cv`` repeats the
comparison by 5-fold CV on the 1000 training calls alone. Inputs: a satisfaction_check --work
folder (W below) whose feature cache holds both files; the cache keys are those the run printed.

    .venv/bin/python bench/satisfaction_check.py --work W --embeddings E
    W=... TRAIN_KEY=... TEST_KEY=... .venv/bin/python bench/research/issue14/risk_horizon.py [variant names | diag | cv]
"""
import json, os, sys, numpy as np
from sklearn.metrics import roc_auc_score
from callradar.training.labelled_calls import read_calls
from callradar.training.features import CallFeatures
from callradar.training.risk import fit_risk_model, DEFAULT_EXCLUDED
from callradar.models.call_features import FEATURE_NAMES
W = os.environ.get("W", "/tmp/s11/sat-old")
C = W + "/state/cache/risk-features/"
def load(jsonl, key):
    calls = read_calls(jsonl, labelled_only=True)
    docs = json.load(open(C + key + ".json"))
    assert len(calls) == len(docs)
    return [CallFeatures(c, d["rows"], np.array(d["times"], float)) for c, d in zip(calls, docs)]
tr = load(W + "/train.jsonl", os.environ.get("TRAIN_KEY", "44b5c4df39000eb23a2d5fbe"))  # the keys of session 11's run
te = load(W + "/test.jsonl", os.environ.get("TEST_KEY", "76bd8237b5343794de44c41b"))
y = np.array([c.call.outcome == "escalated" for c in te], int)
src = np.array([c.call.source for c in te])
def score(model, how):
    out = []
    for cf in te:
        r = [model.predict(row).risk for row in cf.rows]
        out.append(max(r) if how == "max" else r[-1])
    return np.array(out)
def report(name, model):
    res = {}
    for how in ("max", "end"):
        s = score(model, how)
        per = [roc_auc_score(y[src == k], s[src == k]) for k in sorted(set(src))]
        res[how] = f"pooled {roc_auc_score(y, s):.3f} mean-src {np.mean(per):.3f}"
    print(f"{name:40s} max: {res['max']} | end: {res['end']}", flush=True)
default = tuple(n for n in FEATURE_NAMES if n not in DEFAULT_EXCLUDED)
allf = tuple(FEATURE_NAMES)
variants = {
  "default": {},
  "all features": {"features": allf},
  "no monotone": {"monotone": False},
  "horizon 1e6": {"horizon_s": 1e6},
  "shrink 15": {"shrink_k": 15.0},
  "all feats + horizon 1e6": {"features": allf, "horizon_s": 1e6},
  "horizon 1e6 + shrink 15": {"horizon_s": 1e6, "shrink_k": 15.0},
  "horizon 1e6 + shrink 30": {"horizon_s": 1e6, "shrink_k": 30.0},
  "shrink 30": {"shrink_k": 30.0},
  "no slope": {"features": tuple(n for n in default if n != "cust_neg_slope")},
  "no slope + horizon 60 + shrink 15": {"features": tuple(n for n in default if n != "cust_neg_slope"), "horizon_s": 60.0, "shrink_k": 15.0},
  "no slope + horizon 1e6 + shrink 30": {"features": tuple(n for n in default if n != "cust_neg_slope"), "horizon_s": 1e6, "shrink_k": 30.0},
  "horizon 60": {"horizon_s": 60.0},
  "horizon 60 + shrink 15": {"horizon_s": 60.0, "shrink_k": 15.0},
}
for name, kw in variants.items():
    if len(sys.argv) > 1 and name not in sys.argv[1:]:
        continue
    m, d = fit_risk_model(tr, **kw)
    report(name, m)

if "diag" in sys.argv:
    m, d = fit_risk_model(tr, horizon_s=1e6)
    print({n: round(c * 1, 3) for n, c, s in zip(m.feature_names, m.coef, m.scales) if c})
    print("dropped", d["dropped_wrong_sign"])
    pos = {"calm": [], "escalated": []}
    for cf in te:
        r = [m.predict(row).risk for row in cf.rows]
        pos[cf.call.outcome].append(int(np.argmax(r)) / max(1, len(r) - 1))
    for k, v in pos.items():
        v = np.array(v); print(k, "argmax position quartiles", np.percentile(v, [25, 50, 75]).round(2), "first-third share", (v < 0.34).mean().round(2))
    # which feature moves the max on calm calls: contribution at argmax minus at end
    names = m.feature_names
    diff = np.zeros(len(names))
    for cf in te:
        if cf.call.outcome != "calm": continue
        r = [m.predict(row).risk for row in cf.rows]; i = int(np.argmax(r))
        a, b = cf.rows[i], cf.rows[-1]
        diff += np.array([c / s * ((a.get(n, 0) - b.get(n, 0))) if s else 0 for n, c, s in zip(names, m.coef, m.scales)])
    order = np.argsort(-diff)[:8]
    print("calm calls, logit at argmax minus at end, by feature:", [(names[j], round(diff[j] / 373, 3)) for j in order])

if "cv" in sys.argv:
    from sklearn.model_selection import StratifiedKFold
    ytr = np.array([c.call.outcome == "escalated" for c in tr], int)
    nos = tuple(n for n in default if n != "cust_neg_slope")
    cands = {"default": {}, "horizon 1e6 + shrink 30": {"horizon_s": 1e6, "shrink_k": 30.0},
             "no slope + horizon 1e6 + shrink 30": {"features": nos, "horizon_s": 1e6, "shrink_k": 30.0},
             "horizon 60 + shrink 15": {"horizon_s": 60.0, "shrink_k": 15.0}}
    for name, kw in cands.items():
        s = np.zeros(len(tr))
        for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(tr)), ytr):
            import contextlib, io
            with contextlib.redirect_stderr(io.StringIO()):
                m, _ = fit_risk_model([tr[i] for i in a], **kw)
            for i in b:
                s[i] = max(m.predict(row).risk for row in tr[i].rows)
        print(f"CV on the 1000 training calls, {name:38s} max-over-call AUROC {roc_auc_score(ytr, s):.3f}", flush=True)
