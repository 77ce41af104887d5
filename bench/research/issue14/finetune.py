"""Part B: fine-tune all-MiniLM-L6-v2 end to end (multi-task: sentiment 3-class, frustration, intent) on CPU; timed.
usage: finetune.py TRAIN_SOURCES(comma) [epochs] [n_per_source]   -> results/finetune_<sources>.json
Tests on every source's test rows (GoEmotions test split; other sources: all rows not used in training)."""
import json
import os
import sys
import time

threads = int(os.environ.get("FT_THREADS", "1"))
import numpy as np
import torch

torch.set_num_threads(threads)
sys.path.insert(0, "/tmp/exp14")
from sklearn.metrics import f1_score, roc_auc_score
from sources import load_sources
from transformers import AutoModel, AutoTokenizer

from callradar.models.encoder import resolve_model

train_sources = sys.argv[1].split(",")
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
n_per = int(sys.argv[3]) if len(sys.argv) > 3 else 6000
LAB = ["negative", "neutral", "positive"]
S = load_sources()
am = S["amazon"]["score"].astype(float)
S["amazon"]["intent"] = np.where(am <= -1.0, 1.0, np.where(am > -0.25, 0.0, np.nan))
rng = np.random.default_rng(0)

def lab(df, task, i):
    v = df[task][i]
    if task == "sentiment":
        return LAB.index(v) if v in LAB else -1
    return -1 if v is None or (isinstance(v, float) and np.isnan(v)) else int(v)

rows, used = [], {}
for s in train_sources:
    df = S[s]
    idx = np.flatnonzero(df["split"] != "test") if s == "goemotions" else np.arange(len(df))
    idx = rng.choice(idx, min(n_per, len(idx)), replace=False)
    used[s] = set(idx.tolist())
    for i in idx:
        rows.append((df["text"][i], lab(df, "sentiment", i), lab(df, "frustration", i), lab(df, "intent", i)))
print("train rows", len(rows), flush=True)

path = resolve_model("all-MiniLM-L6-v2")
tok = AutoTokenizer.from_pretrained(path)
enc = AutoModel.from_pretrained(path)
heads = torch.nn.ModuleDict({"sentiment": torch.nn.Linear(384, 3), "frustration": torch.nn.Linear(384, 1), "intent": torch.nn.Linear(384, 1)})
LR_ENC = float(os.environ.get("FT_LR", "3e-5"))
opt = torch.optim.AdamW([{"params": enc.parameters(), "lr": LR_ENC}, {"params": heads.parameters(), "lr": 1e-3}], weight_decay=0.01)
for p in heads.parameters():
    p.data *= 1.0
opt_heads_lr = None

def embed(texts, train=False):
    b = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    out = enc(**b).last_hidden_state
    m = b["attention_mask"].unsqueeze(-1).float()
    return (out * m).sum(1) / m.sum(1).clamp(min=1)

# the text is lower-cased + punctuation removed for half the rows (ASR style), as the shipped intent head does
import re


def asr(t):
    t = re.sub(r"[^a-z0-9' ]+", " ", t.lower())
    return " ".join(t.split())

B = 32
steps_total = epochs * (len(rows) // B)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 30) * max(0.0, 1 - s / steps_total))
t0 = time.time()
enc.train()
step = 0
for ep in range(epochs):
    order = rng.permutation(len(rows))
    for k in range(0, len(order) - B + 1, B):
        batch = [rows[i] for i in order[k:k + B]]
        texts = [asr(r[0]) if rng.random() < 0.5 else r[0] for r in batch]
        z = embed(texts, True)
        loss = 0
        ys = torch.tensor([r[1] for r in batch]); m = ys >= 0
        if m.any():
            loss = loss + torch.nn.functional.cross_entropy(heads["sentiment"](z[m]), ys[m])
        for j, t in ((2, "frustration"), (3, "intent")):
            yb = torch.tensor([r[j] for r in batch], dtype=torch.float); m = yb >= 0
            if m.any():
                loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(heads[t](z[m]).squeeze(-1), yb[m])
        opt.zero_grad(); loss.backward(); opt.step(); sched.step(); step += 1
        if step % 50 == 0:
            print(f"ep {ep} step {step}/{steps_total} loss {float(loss):.3f} {time.time()-t0:.0f}s", flush=True)
train_s = time.time() - t0
enc.eval()
res = {"train_sources": train_sources, "rows": len(rows), "epochs": epochs, "threads": threads, "train_seconds": round(train_s),
       "test": {}}
with torch.no_grad():
    for s, df in S.items():
        idx = np.flatnonzero(df["split"] == "test") if s == "goemotions" else np.array([i for i in range(len(df)) if i not in used.get(s, ())])
        if len(idx) == 0:
            continue
        idx = np.sort(np.random.default_rng(1).permutation(idx)[:2000])
        texts = [df["text"][i] for i in idx]
        Z = torch.cat([embed(texts[k:k + 256]) for k in range(0, len(texts), 256)])
        r = {}
        ys = np.array([lab(df, "sentiment", i) for i in idx]); m = ys >= 0
        if s == "goemotions":
            m &= df["single"][idx].astype(bool)
        if m.sum() > 0:
            r["sentiment_macro_f1"] = f1_score(ys[m], heads["sentiment"](Z).argmax(1).numpy()[m], average="macro")
        for t in ("frustration", "intent"):
            yb = np.array([lab(df, t, i) for i in idx]); m = yb >= 0
            if m.sum() > 0 and len(set(yb[m])) == 2:
                r[f"{t}_auroc"] = roc_auc_score(yb[m], heads[t](Z).squeeze(-1).numpy()[m])
        # frozen baseline on the very same training rows: LR (C=1) on cached MiniLM embeddings, one per task
        from sklearn.linear_model import LogisticRegression
        Ecache = {k: np.load(f"/tmp/exp14/cache/emb_{k}.npy") for k in S}
        fb = {}
        for j, t in ((1, "sentiment"), (2, "frustration"), (3, "intent")):
            Xf = np.array([Ecache[src_][i] for src_ in train_sources for i in sorted(used[src_])])
            Yf = np.array([lab(S[src_], t, i) for src_ in train_sources for i in sorted(used[src_])])
            mm = Yf >= 0
            if len(set(Yf[mm])) < 2:
                continue
            clf = LogisticRegression(C=1.0, max_iter=3000).fit(Xf[mm], Yf[mm])
            yt = np.array([lab(df, t, i) for i in idx]); mt = yt >= 0
            if t == "sentiment" and s == "goemotions":
                mt &= df["single"][idx].astype(bool)
            if mt.sum() == 0 or (t != "sentiment" and len(set(yt[mt])) < 2):
                continue
            xt = Ecache[s][idx][mt]
            fb[f"frozen_{t}"] = f1_score(yt[mt], clf.predict(xt), average="macro") if t == "sentiment" else roc_auc_score(yt[mt], clf.decision_function(xt))
        r.update(fb)
        res["test"][s] = {k: round(float(v), 4) for k, v in r.items()} | {"n": int(len(idx))}
        print(s, res["test"][s], flush=True)
res["total_seconds"] = round(time.time() - t0)
name = "_".join(train_sources) + f"_lr{LR_ENC:g}"
json.dump(res, open(f"/tmp/exp14/results/finetune_{name}.json", "w"), indent=1)
torch.save({"enc": enc.state_dict(), "heads": heads.state_dict()}, f"/tmp/exp14/cache/ft_{name}.pt")
