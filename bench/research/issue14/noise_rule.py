"""Part D: do ASR noise fragments drive risk on the two real calm calls? Texts of the 136 real utterances as transcribed
by the project's own transcription benchmark (bench/results/transcription.json, tiny.en, several decode policies);
customer utterances in channel order through the shipped TextScorer, CallState and shipped risk model; alerts counted as
crossings of 0.6 with re-arm below 0.4 (the risk model card's thresholds).
Rules compared (applied in the score stage before CallState.add):
  none      today
  short     utterances with < 3 words of >= 2 letters: head sentiment/frustration/intent not used (neutral, 0, 0);
            keyword hits kept (precise), timing kept
  short+kw  as short, and the head's intent needs >= 4 words (else only the keyword fusion counts)
Also: the same rules on call-style escalation utterances, to see what recall they cost."""
import json
import os
import re
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch

torch.set_num_threads(1)
sys.path.insert(0, "/tmp/exp14"); sys.path.insert(0, "/work/main")
from callradar.models.call_features import CallState
from callradar.models.risk import RiskModel
from callradar.models.text_scorer import TextScorer, fuse_intent
from callradar.models.types import ScoredUtterance, TextScores

sc = TextScorer.load()
risk = RiskModel.load("/work/main/models/artifacts/risk")
T = json.load(open("/work/main/bench/results/transcription.json"))["texts"]
real = [t for t in T if t["set"] == "real"]

def words(text):
    return [w for w in re.findall(r"[A-Za-z']+", text) if len(w.strip("'")) >= 2]

def score(texts, speakers, rule):
    emb = sc.encoder.encode(texts, batch_size=64)
    sents = sc.sentiment.predict(emb, texts); p = sc.intent.predict(emb, texts)
    out = []
    for t, spk, (lab, ss, fr), pi in zip(texts, speakers, sents, p):
        hits = sc.rules.match(t)
        n = len(words(t))
        if rule in ("short", "short+kw") and n < 3:
            lab, ss, fr, pi = "neutral", {"negative": 0.0, "neutral": 1.0, "positive": 0.0}, 0.0, 0.0
        if rule == "short+kw" and n < 4:
            pi = 0.0
        it = fuse_intent(float(pi), hits, sc.rules.weights) if spk == "customer" else float(pi)
        out.append(TextScores(lab, ss, fr, it, hits, 0.0))
    return out

res = {}
for policy in ("naive", "adaptive-1", "adaptive-4", "adaptive-8"):
    for rule in ("none", "short", "short+kw"):
        alerts, top = {}, []
        for call in ("auto_repairs_40", "auto_repairs_49"):
            utts = sorted([t for t in real if t["name"].startswith(call + ":caller") or t["name"].startswith(call + ":customer")],
                          key=lambda t: int(t["name"].split(":")[-1]))
            texts = [u[policy] or "" for u in utts]
            keep = [i for i, x in enumerate(texts) if x.strip()]
            texts = [texts[i] for i in keep]
            scores = score(texts, ["customer"] * len(texts), rule)
            st, armed, n_alerts, t = CallState(), True, 0, 0.0
            for x, s, i in zip(texts, scores, keep):
                d = utts[i]["duration_s"]
                st.add(ScoredUtterance("customer", t, t + d, x, s)); t += d + 3.0
                r = risk.predict(st.features()).risk
                if armed and r >= 0.6:
                    n_alerts += 1; armed = False; top.append((call, x, round(s.intent, 3), round(r, 3)))
                elif r < 0.4:
                    armed = True
            alerts[call] = n_alerts
        res[f"{policy}/{rule}"] = {"alerts": alerts, "alerting_utterances": top}
        print(policy, rule, alerts, top, flush=True)

# recall cost: call-style escalation utterances that a rule would silence (fewer than 3 / 4 words)
sys.path.insert(0, "/work/main/bench")
import importlib.util

spec = importlib.util.spec_from_file_location("mq", "/work/main/bench/model_quality.py"); mq = importlib.util.module_from_spec(spec); spec.loader.exec_module(mq)
own = [json.loads(l) for l in open("/tmp/exp14/data/own/callstyle.jsonl")]
pos = [t for t, l in mq.CALL_STYLE if l == 1] + [r["text"] for r in own if r["intent"] == 1]
res["recall_cost"] = {"positives": len(pos), "under_3_words": sum(len(words(t)) < 3 for t in pos),
                      "under_4_words": sum(len(words(t)) < 4 for t in pos),
                      "examples_under_4": [t for t in pos if len(words(t)) < 4][:15]}
print(res["recall_cost"])
json.dump(res, open("/tmp/exp14/results/noise_rule.json", "w"), indent=1)
