"""Per-prefix features of the satisfaction dialogues: today's call features (project code), pooled utterance
embeddings, and conversation dynamics. Cached to cache/risk_feats.pkl."""
import os
import pickle
import re
import sys

import numpy as np

sys.path.insert(0, "/tmp/exp14")
from sat_data import load_all

from callradar.models.call_features import FEATURE_NAMES, features_for_call
from callradar.models.types import ScoredUtterance

CORRECTION = re.compile(r"^(no|nope|nah|not)\b|\bi said\b|\bi meant\b|\bthat's not what\b|\bthat is not what\b|\bi already (said|told|mentioned)\b|"
                        r"\byou('re| are) not listening\b|\bi didn't (say|ask)\b|\bi did not (say|ask)\b|\bi told you\b|\bagain\b.*\?$", re.I)
AGENT_REASK = re.compile(r"\b(sorry|pardon)\b.*\?|\bcould you repeat\b|\bsay that again\b|\bi didn't (catch|understand|get)\b|"
                         r"\bcan you clarify\b|\bwhat do you mean\b|\bnot sure i understand\b|\brephrase\b|\bcan you say a little more\b|"
                         r"\bcould you say more\b|\bsay a little more\b|\bwhat else\b", re.I)
HOLD = re.compile(r"\bhold\b|\btransfer|\bput you through\b|\bone moment\b|\bbear with me\b|\bjust a (sec|second|minute)\b", re.I)
NEGATION = re.compile(r"\b(not|no|never|don't|doesn't|didn't|haven't|hasn't|isn't|wasn't|can't|won't|nothing)\b", re.I)
THANKS = re.compile(r"\b(thanks|thank you|great|perfect|awesome|love|cool)\b", re.I)
QWORD = re.compile(r"^(what|why|how|when|where|who|which|can|could|do|does|did|is|are|will|would)\b", re.I)

DYN_NAMES = ("n_turns", "cust_turn_share", "cust_mean_words", "agent_mean_words", "cust_rep_maxcos", "cust_rep_count",
             "agent_rep_maxcos", "corrections", "agent_reask", "cust_q_unanswered", "cust_questions", "hold_transfer",
             "cust_negation_rate", "cust_thanks_rate", "cust_neg_mean", "cust_neg_last", "cust_pos_mean", "frus_mean",
             "cust_short_rate", "agent_cust_cos_mean", "consec_cust_max")

def is_question(t):
    t = t.strip()
    return t.endswith("?") or bool(QWORD.match(t))

def dynamics(turns, emb, scores):
    """turns: list of dicts (speaker, text); emb: their embeddings; scores: TextScores. Everything so far."""
    cust = [i for i, u in enumerate(turns) if u["speaker"] == "customer"]
    agent = [i for i, u in enumerate(turns) if u["speaker"] == "agent"]
    n = len(turns)
    def maxcos(idx, thr=0.8):
        idx = [i for i in idx if len(turns[i]["text"].split()) >= 3]
        if len(idx) < 2:
            return 0.0, 0
        e = emb[idx]
        s = e @ e.T
        np.fill_diagonal(s, -1)
        low = np.tril(s, -1)
        rep = int((low.max(axis=1) >= thr).sum())
        return float(s.max()), rep
    c_max, c_rep = maxcos(cust)
    a_max, _ = maxcos(agent)
    corr = sum(1 for i in cust if CORRECTION.search(turns[i]["text"]))
    reask = sum(1 for i in agent if AGENT_REASK.search(turns[i]["text"]))
    unanswered = 0
    for i in cust:
        if is_question(turns[i]["text"]):
            nxt = i + 1
            if nxt < n and turns[nxt]["speaker"] == "customer":
                unanswered += 1
    qs = sum(1 for i in cust if is_question(turns[i]["text"]))
    hold = sum(1 for u in turns if HOLD.search(u["text"]))
    negs = [scores[i].sentiment_scores.get("negative", 0) - scores[i].sentiment_scores.get("positive", 0) for i in cust]
    poss = [scores[i].sentiment_scores.get("positive", 0) for i in cust]
    frus = [scores[i].frustration for i in cust]
    # agent reply relevance: cosine of each agent turn with the preceding customer turn
    rel = [float(emb[i] @ emb[i - 1]) for i in agent if i > 0 and turns[i - 1]["speaker"] == "customer"]
    run, best = 0, 0
    for u in turns:
        run = run + 1 if u["speaker"] == "customer" else 0
        best = max(best, run)
    nc = max(1, len(cust))
    return np.array([
        n, len(cust) / max(1, n),
        np.mean([len(turns[i]["text"].split()) for i in cust]) if cust else 0.0,
        np.mean([len(turns[i]["text"].split()) for i in agent]) if agent else 0.0,
        c_max, c_rep, a_max, corr, reask, unanswered, qs / nc, hold,
        sum(1 for i in cust if NEGATION.search(turns[i]["text"])) / nc,
        sum(1 for i in cust if THANKS.search(turns[i]["text"])) / nc,
        np.mean(negs) if negs else 0.0, negs[-1] if negs else 0.0, np.mean(poss) if poss else 0.0,
        np.mean(frus) if frus else 0.0,
        sum(1 for i in cust if len(turns[i]["text"].split()) <= 3) / nc,
        np.mean(rel) if rel else 0.0, best,
    ], dtype=float)

def pooled(turns, emb):
    d = emb.shape[1]
    c = [i for i, u in enumerate(turns) if u["speaker"] == "customer"]
    a = [i for i, u in enumerate(turns) if u["speaker"] == "agent"]
    cm = emb[c].mean(0) if c else np.zeros(d)
    cx = emb[c].max(0) if c else np.zeros(d)
    am = emb[a].mean(0) if a else np.zeros(d)
    return np.concatenate([cm, cx, am])

if __name__ == "__main__":
    ds = load_all()
    emb_all = np.load("/tmp/exp14/cache/sat_emb.npy")
    sc_all = pickle.load(open(os.environ.get("SAT_SCORES", "/tmp/exp14/cache/sat_scores.pkl"), "rb"))["scores"]
    out, k = [], 0
    for d in ds:
        n = len(d["turns"])
        emb, scores = emb_all[k:k + n], sc_all[k:k + n]
        k += n
        su = [ScoredUtterance(u["speaker"], u["start"], u["end"], u["text"], s) for u, s in zip(d["turns"], scores)]
        rows = features_for_call(su)
        today = np.array([[r[f] for f in FEATURE_NAMES] for r in rows])
        # prefixes after each customer turn and after the last turn
        ends = sorted(set([i for i, u in enumerate(d["turns"]) if u["speaker"] == "customer"] + [n - 1]))
        P = []
        for e in ends:
            t = d["turns"][: e + 1]
            P.append(np.concatenate([today[e], dynamics(t, emb[: e + 1], scores[: e + 1]), pooled(t, emb[: e + 1])]))
        first_bad = next((i for i, u in enumerate(d["turns"]) if u["rating"] is not None and u["rating"] <= 2), None)
        out.append({"id": d["id"], "source": d["source"], "y": d["y"], "prefix_ends": ends, "X": np.array(P, dtype=np.float32),
                    "today_rows": rows, "times": [u["end"] for u in d["turns"]], "first_bad": first_bad,
                    "cust_text": " ".join(u["text"] for u in d["turns"] if u["speaker"] == "customer"),
                    "agent_text": " ".join(u["text"] for u in d["turns"] if u["speaker"] == "agent"),
                    "seq": np.concatenate([emb, np.array([[u["speaker"] == "customer",
                                                           s.sentiment_scores.get("negative", 0), s.sentiment_scores.get("positive", 0),
                                                           s.frustration, s.intent] for u, s in zip(d["turns"], scores)])], 1).astype(np.float32)})
    names = list(FEATURE_NAMES) + list(DYN_NAMES) + [f"emb_{p}{i}" for p in ("cmean", "cmax", "amean") for i in range(emb_all.shape[1])]
    pickle.dump({"calls": out, "names": names}, open(os.environ.get("RISK_FEATS", "/tmp/exp14/cache/risk_feats.pkl"), "wb"))
    print("calls", len(out), "dims", len(names))
