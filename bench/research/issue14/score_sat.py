"""Embed + score every utterance of the satisfaction dialogues with the SHIPPED text models (project code)."""
import os
import pickle
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, "/tmp/exp14")
from sat_data import load_all

from callradar.models.text_scorer import TextScorer, fuse_intent
from callradar.models.types import TextScores

ds = load_all()
texts = [u["text"] for d in ds for u in d["turns"]]
speakers = [u["speaker"] for d in ds for u in d["turns"]]
sc = TextScorer.load()
t0 = time.time()
uniq = sorted(set(texts))
idx = {t: i for i, t in enumerate(uniq)}
emb_u = sc.encoder.encode(uniq, batch_size=64)
print("encoded", len(uniq), "in", time.time() - t0, flush=True)
emb = emb_u[[idx[t] for t in texts]]
sents = sc.sentiment.predict(emb, texts)
p_int = sc.intent.predict(emb, texts)
scores = []
for text, spk, (label, ss, fr), p in zip(texts, speakers, sents, p_int):
    hits = sc.rules.match(text)
    if spk == "customer":
        it, emp = fuse_intent(float(p), hits, sc.rules.weights), 0.0
    else:
        it, emp = float(p), sc.rules.empathy(text)
    scores.append(TextScores(label, ss, fr, round(it, 6), hits, emp))
np.save("/tmp/exp14/cache/sat_emb.npy", emb.astype(np.float32))
pickle.dump({"scores": scores, "p_head": np.asarray(p_int)}, open("/tmp/exp14/cache/sat_scores.pkl", "wb"))
print("done", time.time() - t0, flush=True)
