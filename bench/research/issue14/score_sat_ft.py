"""Score the satisfaction dialogues with the fine-tuned heads (keyword fusion and empathy as the live path)."""
import glob
import pickle
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, "/tmp/exp14")
from sat_data import load_all
from transformers import AutoModel, AutoTokenizer

from callradar.models.encoder import resolve_model
from callradar.models.keywords import DEFAULT_RULES, KeywordRules
from callradar.models.text_scorer import fuse_intent
from callradar.models.types import TextScores

path = resolve_model("all-MiniLM-L6-v2"); tok = AutoTokenizer.from_pretrained(path); enc = AutoModel.from_pretrained(path)
st = torch.load(sorted(glob.glob("/tmp/exp14/cache/ft_goemotions_bitext_amazon_movie_nyt*.pt"))[-1]); enc.load_state_dict(st["enc"]); enc.eval()
heads = torch.nn.ModuleDict({"sentiment": torch.nn.Linear(384, 3), "frustration": torch.nn.Linear(384, 1), "intent": torch.nn.Linear(384, 1)}); heads.load_state_dict(st["heads"])
rules = KeywordRules.from_yaml(DEFAULT_RULES)
ds = load_all()
texts = [u["text"] for d in ds for u in d["turns"]]; speakers = [u["speaker"] for d in ds for u in d["turns"]]
uniq = sorted(set(texts)); idx = {t: i for i, t in enumerate(uniq)}
t0 = time.time(); P, F, I = [], [], []
with torch.no_grad():
    for k in range(0, len(uniq), 128):
        b = tok(uniq[k:k + 128], padding=True, truncation=True, max_length=64, return_tensors="pt")
        h = enc(**b).last_hidden_state; m = b["attention_mask"].unsqueeze(-1).float(); z = (h * m).sum(1) / m.sum(1)
        P.append(torch.softmax(heads["sentiment"](z), -1).numpy()); F.append(torch.sigmoid(heads["frustration"](z)).squeeze(-1).numpy()); I.append(torch.sigmoid(heads["intent"](z)).squeeze(-1).numpy())
P, F, I = np.concatenate(P), np.concatenate(F), np.concatenate(I)
print("encoded", len(uniq), time.time() - t0, flush=True)
scores = []
for text, spk in zip(texts, speakers):
    j = idx[text]; sc = {"negative": float(P[j, 0]), "neutral": float(P[j, 1]), "positive": float(P[j, 2])}
    hits = rules.match(text)
    it, emp = (fuse_intent(float(I[j]), hits, rules.weights), 0.0) if spk == "customer" else (float(I[j]), rules.empathy(text))
    scores.append(TextScores(max(sc, key=sc.get), sc, float(F[j]), round(it, 6), hits, emp))
pickle.dump({"scores": scores}, open("/tmp/exp14/cache/sat_scores_ft.pkl", "wb"))
print("done", time.time() - t0)
