"""Session 13: the bundled intent head (logistic) and the network of intent_mlp.py averaged (logits, weight W for the
network), folded into one network head, and all three read on the same rows: the Amazon complaint proxy (measurement
only), the two real calm calls' customer utterances, the intent negation probes. Fused with the keyword rules, as live.

    .venv/bin/python bench/research/issue14/intent_average.py OUT_DIR [W=0.5]   # after intent_mlp.py (its --out below)
"""
import sys
from pathlib import Path
import numpy as np
from callradar.models.sentiment import LinearHead, save_heads, load_heads
from callradar.models.encoder import load_encoder
from callradar.training import data as D
from sklearn.metrics import roc_auc_score
lr_dir, mlp_dir, out = Path("models/artifacts/intent"), Path("/tmp/s13/int/mlp/intent"), Path(sys.argv[1])
w = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
lr, card = load_heads(lr_dir, "intent"); lr = lr["escalation"]
mlp = load_heads(mlp_dir, "intent")[0]["escalation"]
dim = mlp.hidden_coef.shape[1]
eye = np.eye(dim, dtype=np.float32)
head = LinearHead(coef=np.hstack([w * mlp.coef, (1 - w) * lr.coef, -(1 - w) * lr.coef]),
                  intercept=w * mlp.intercept + (1 - w) * lr.intercept, classes=["escalation"], activation="sigmoid",
                  extra_features=list(lr.extra_features), hidden_coef=np.vstack([mlp.hidden_coef, eye, -eye]),
                  hidden_intercept=np.concatenate([mlp.hidden_intercept, np.zeros(2 * dim, np.float32)]))
from callradar.models.keywords import DEFAULT_RULES, KeywordRules
from callradar.models.text_scorer import fuse_intent
sys.path.insert(0, "bench/research/issue14")
import intent_negation_probes as P
rules = KeywordRules.from_yaml(DEFAULT_RULES)
enc = load_encoder()
ta, sa = D.load_vader_set(Path("/tmp/s13/vader_gt"), "amazon")
m = (sa <= -1.0) | (sa > -0.25)
ta = [t for t, k in zip(ta, m) if k]; ya = (sa[m] <= -1.0).astype(int)
calm = D.calm_call_customer_texts()
probes = [t for g in P.GROUPS.values() for t in g]
sets = {"amazon": ta, "calm": calm, "probes": probes}
cache = Path("/tmp/s13/avg_emb"); cache.mkdir(parents=True, exist_ok=True)
emb = {}
for k, t in sets.items():
    f = cache / f"{k}.npy"
    emb[k] = np.load(f) if f.exists() else enc.encode(t)
    np.save(f, emb[k])
xa = lr.inputs(emb["amazon"], ta)
logit = lambda h: np.log(h(xa)) - np.log1p(-h(xa))  # noqa: E731
want = 1 / (1 + np.exp(-(w * logit(mlp) + (1 - w) * logit(lr))))
assert np.abs(head(xa) - want).max() < 1e-4, "the folded head does not reproduce the average"
def fused(h, k):
    t = sets[k]; p = h(h.inputs(emb[k], t))
    return np.array([fuse_intent(float(v), rules.match(x), rules.weights) for v, x in zip(p, t)])
for name, h in (("shipped LR", lr), ("MLP", mlp), (f"avg w={w}", head)):
    a = roc_auc_score(ya, fused(h, "amazon")); c = fused(h, "calm"); pr = fused(h, "probes")
    i = 0; parts = []
    for g, texts in P.GROUPS.items():
        v = pr[i:i + len(texts)]; i += len(texts); parts.append(f"{g.split(' (')[0]} {int((v >= 0.5).sum())}/{len(v)} mean {v.mean():.2f}")
    print(f"{name}: amazon fused AUROC {a:.4f}; calm-call utts >=0.5 {int((c >= 0.5).sum())} max {c.max():.3f}; " + "; ".join(parts))
out.mkdir(parents=True, exist_ok=True)
card = dict(card); card["created"] = "averaged (session 13 research)"
save_heads(out, "intent", {"escalation": head}, card)
print("wrote", out)
