"""Fine-tune all-MiniLM-L6-v2 end to end on shippable sources only (GoEmotions all, Bitext training fold, call-style set,
GoEmotions neutral dev rows for intent), multi-task heads: sentiment 3-class, frustration, intent. Research (session 20).
61,029 rows, one epoch, batch 32, AdamW (encoder 1e-4, heads 1e-3), 30 warm-up steps, linear decay, max 64 tokens, no
class balancing (the research's recipe, docs/research/issue-14-prediction.md B); 891 s on 2 cores (AVX-512).
usage: .venv/bin/python bench/research/issue14/finetune_ship.py OUT [max_rows] [bench]"""
import math, os, sys, time, json
import numpy as np, torch
torch.set_num_threads(int(os.environ.get("FT_THREADS", "2")))
from transformers import AutoModel, AutoTokenizer
from callradar.models.encoder import resolve_model
from callradar.training import sentiment as S, intent as I, data as D

out_dir = sys.argv[1]; max_rows = int(sys.argv[2]) if len(sys.argv) > 2 else 0; bench = len(sys.argv) > 3
data_dir = D.default_data_dir()
LAB = ["negative", "neutral", "positive"]
rows = []  # (text, sentiment idx or -1, frustration or -1, intent or -1)
ss = S.training_sources(data_dir, None, 0)
for t, y, f in zip(ss["goemotions"]["texts"], ss["goemotions"]["y"], ss["goemotions"]["frustration"]):
    rows.append((t, LAB.index(y), int(f), -1))
for r in D.load_callstyle():
    rows.append((r["text"], LAB.index(r["sentiment"]) if r["sentiment"] in LAB else -1, int(r["frustration"]), int(r["intent"])))
isrc = I.training_sources(data_dir, 0)
for name in ("bitext", I.GOEMOTIONS_NEUTRAL):
    for t, y in zip(isrc[name]["texts"], isrc[name]["y"]):
        rows.append((t, 1 if name == I.GOEMOTIONS_NEUTRAL else -1, 0 if name == I.GOEMOTIONS_NEUTRAL else -1, int(y)))
rng = np.random.default_rng(0)
order = rng.permutation(len(rows))
if max_rows:
    order = order[:max_rows]
print("rows", len(rows), "training on", len(order), flush=True)

path = resolve_model("all-MiniLM-L6-v2")
tok = AutoTokenizer.from_pretrained(path); enc = AutoModel.from_pretrained(path)
heads = torch.nn.ModuleDict({"sentiment": torch.nn.Linear(384, 3), "frustration": torch.nn.Linear(384, 1), "intent": torch.nn.Linear(384, 1)})
opt = torch.optim.AdamW([{"params": enc.parameters(), "lr": 1e-4}, {"params": heads.parameters(), "lr": 1e-3}], weight_decay=0.01)
B = 32; steps = math.ceil(len(order) / B); warm = 30
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, 1 - s / steps))

def pool(texts):
    b = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    h = enc(**b).last_hidden_state; m = b["attention_mask"].unsqueeze(-1).float()
    return (h * m).sum(1) / m.sum(1).clamp(min=1)

enc.train(); t0 = time.time()
for s in range(steps):
    batch = [rows[i] for i in order[s * B:(s + 1) * B]]
    e = pool([r[0] for r in batch])
    ys = torch.tensor([r[1] for r in batch]); yf = torch.tensor([r[2] for r in batch], dtype=torch.float32)
    yi = torch.tensor([r[3] for r in batch], dtype=torch.float32)
    loss = 0
    if (ys >= 0).any():
        loss = loss + torch.nn.functional.cross_entropy(heads["sentiment"](e)[ys >= 0], ys[ys >= 0])
    if (yf >= 0).any():
        loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(heads["frustration"](e)[:, 0][yf >= 0], yf[yf >= 0])
    if (yi >= 0).any():
        loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(heads["intent"](e)[:, 0][yi >= 0], yi[yi >= 0])
    opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    if s % 50 == 0 or s == steps - 1:
        el = time.time() - t0
        print(f"step {s+1}/{steps} loss {float(loss):.3f} {((s+1)*B)/el:.1f} rows/s eta {(steps-s-1)*el/(s+1)/60:.1f} min", flush=True)
    if bench and s == 40:
        sys.exit(0)
os.makedirs(out_dir, exist_ok=True)
enc.save_pretrained(out_dir); tok.save_pretrained(out_dir)
torch.save(heads.state_dict(), os.path.join(out_dir, "heads.pt"))
json.dump({"rows": len(order), "seconds": round(time.time() - t0, 1)}, open(os.path.join(out_dir, "train.json"), "w"))
print("saved", out_dir, round(time.time() - t0, 1), "s", flush=True)
