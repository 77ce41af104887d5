"""Part D with the fine-tuned heads in place of the shipped ones (keyword fusion, CallState, shipped risk model unchanged)."""
import glob
import json
import re
import sys

import torch

torch.set_num_threads(1)
sys.path.insert(0, "/work/main")
from transformers import AutoModel, AutoTokenizer

from callradar.models.call_features import CallState
from callradar.models.encoder import resolve_model
from callradar.models.keywords import DEFAULT_RULES, KeywordRules
from callradar.models.risk import RiskModel
from callradar.models.text_scorer import fuse_intent
from callradar.models.types import ScoredUtterance, TextScores

path = resolve_model("all-MiniLM-L6-v2"); tok = AutoTokenizer.from_pretrained(path); enc = AutoModel.from_pretrained(path)
st = torch.load(sorted(glob.glob("/tmp/exp14/cache/ft_goemotions_bitext_amazon_movie_nyt*.pt"))[-1]); enc.load_state_dict(st["enc"]); enc.eval()
heads = torch.nn.ModuleDict({"sentiment": torch.nn.Linear(384, 3), "frustration": torch.nn.Linear(384, 1), "intent": torch.nn.Linear(384, 1)}); heads.load_state_dict(st["heads"])
rules = KeywordRules.from_yaml(DEFAULT_RULES); risk = RiskModel.load("/work/main/models/artifacts/risk")
T = json.load(open("/work/main/bench/results/transcription.json"))["texts"]
real = [t for t in T if t["set"] == "real"]
def words(x): return [w for w in re.findall(r"[A-Za-z']+", x) if len(w.strip("'")) >= 2]
res = {}
for rule in ("none", "short"):
    out = {}
    for call in ("auto_repairs_40", "auto_repairs_49"):
        utts = sorted([t for t in real if t["name"].startswith(call + ":caller")], key=lambda t: int(t["name"].split(":")[-1]))
        texts = [u["adaptive-4"] for u in utts if u["adaptive-4"].strip()]
        with torch.no_grad():
            b = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
            h = enc(**b).last_hidden_state; m = b["attention_mask"].unsqueeze(-1).float(); z = (h * m).sum(1) / m.sum(1)
            ps = torch.softmax(heads["sentiment"](z), -1).numpy(); fr = torch.sigmoid(heads["frustration"](z)).squeeze(-1).numpy(); pi = torch.sigmoid(heads["intent"](z)).squeeze(-1).numpy()
        s_, armed, n, t, mx = CallState(), True, 0, 0.0, 0.0
        for x, p, f, i in zip(texts, ps, fr, pi):
            sc = {"negative": float(p[0]), "neutral": float(p[1]), "positive": float(p[2])}
            if rule == "short" and len(words(x)) < 3:
                sc, f, i = {"negative": 0.0, "neutral": 1.0, "positive": 0.0}, 0.0, 0.0
            ts = TextScores(max(sc, key=sc.get), sc, float(f), fuse_intent(float(i), rules.match(x), rules.weights), rules.match(x), 0.0)
            s_.add(ScoredUtterance("customer", t, t + 2, x, ts)); t += 5
            r = risk.predict(s_.features()).risk; mx = max(mx, r)
            if armed and r >= 0.6: n += 1; armed = False
            elif r < 0.4: armed = True
        out[call] = {"alerts": n, "max_risk": round(mx, 3)}
    res[rule] = out; print(rule, out, flush=True)
json.dump(res, open("/tmp/exp14/results/noise_ft.json", "w"), indent=1)
