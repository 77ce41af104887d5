"""The fine-tuned multi-task model on the two real calm calls' customer utterances (false escalation firings)."""
import glob
import json

import torch

torch.set_num_threads(1)
from transformers import AutoModel, AutoTokenizer

from callradar.models.encoder import resolve_model

path = resolve_model("all-MiniLM-L6-v2")
tok = AutoTokenizer.from_pretrained(path); enc = AutoModel.from_pretrained(path)
f = sorted(glob.glob("/tmp/exp14/cache/ft_goemotions_bitext_amazon_movie_nyt*.pt"))[-1]
st = torch.load(f)
enc.load_state_dict(st["enc"])
heads = torch.nn.ModuleDict({"sentiment": torch.nn.Linear(384, 3), "frustration": torch.nn.Linear(384, 1), "intent": torch.nn.Linear(384, 1)})
heads.load_state_dict(st["heads"]); enc.eval()
T = json.load(open("/work/main/bench/results/transcription.json"))["texts"]
cust = [t["adaptive-4"] for t in T if t["set"] == "real" and ":caller:" in t["name"] and t["adaptive-4"].strip()]
with torch.no_grad():
    b = tok(cust, padding=True, truncation=True, max_length=64, return_tensors="pt")
    h = enc(**b).last_hidden_state; m = b["attention_mask"].unsqueeze(-1).float(); z = (h * m).sum(1) / m.sum(1)
    p = torch.sigmoid(heads["intent"](z)).squeeze(-1).numpy(); s = torch.softmax(heads["sentiment"](z), -1).numpy()
res = {"intent>=0.5": int((p >= 0.5).sum()), "max": round(float(p.max()), 3), "negative label": int((s.argmax(1) == 0).sum()),
       "watch": {w: round(float(p[cust.index(w)]), 3) for w in ["Bye", "Here I can leave.", "No, man, that's it.", "T i"] if w in cust},
       "top": sorted([(round(float(a), 3), c) for a, c in zip(p, cust)], reverse=True)[:5]}
print(json.dumps(res, indent=1))
json.dump(res, open("/tmp/exp14/results/ft_realcalls.json", "w"), indent=1)
