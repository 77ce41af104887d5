"""Part B: leave-one-domain-out for the text heads (sentiment 3-class, frustration, escalation intent/complaint).
Frozen all-MiniLM-L6-v2 embeddings (cache/emb_*.npy from embed_texts.py). Baselines in the same run: the shipped heads
(and the live intent fusion with keyword rules) and VADER."""
import json
import os
import sys
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, "/tmp/exp14")
sys.path.insert(0, "/work/main")
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sources import load_sources

from callradar.models.intent import IntentModel
from callradar.models.keywords import DEFAULT_RULES, KeywordRules
from callradar.models.sentiment import SentimentModel, vader_features
from callradar.models.text_scorer import fuse_intent

LAB = ["negative", "neutral", "positive"]
S = load_sources()
E = {k: np.load(f"/tmp/exp14/cache/emb_{k}.npy") for k in S}
V = {k: vader_features(list(S[k]["text"])) for k in S}
rng = np.random.default_rng(0)

# complaint proxy on Amazon review snippets: mean rating <= -1.0 complaint, > -0.25 not; between dropped
am = S["amazon"]["score"].astype(float)
S["amazon"]["intent"] = np.where(am <= -1.0, 1.0, np.where(am > -0.25, 0.0, np.nan))

def test_mask(name, task):
    df = S[name]
    if name == "goemotions":
        m = df["split"] == "test"
        if task == "sentiment":
            m &= df["single"].astype(bool)
        return m
    return np.ones(len(df), bool)

def train_mask(name):
    df = S[name]
    return (df["split"] != "test") if name == "goemotions" else np.ones(len(df), bool)

def labels(name, task):
    col = S[name][task]
    if task == "sentiment":
        return np.array([LAB.index(s) if s in LAB else -1 for s in col])
    return np.array([-1 if (v is None or (isinstance(v, float) and np.isnan(v))) else int(v) for v in col])

CAP = 4000
def train_set(sources, task, vader):
    X, Y, W = [], [], []
    for s in sources:
        yl = labels(s, task)
        m = train_mask(s) & (yl >= 0)
        idx = np.flatnonzero(m)
        if len(idx) > CAP:
            idx = rng.choice(idx, CAP, replace=False)
        if task == "intent" and s == "goemotions":  # neutral-only chit-chat negatives, as today
            idx = idx[:3000]
        x = E[s][idx]
        if vader:
            x = np.hstack([x, V[s][idx]])
        X.append(x); Y.append(yl[idx]); W.append(np.full(len(idx), 1.0 / len(idx)))  # each source weighs the same
    return np.vstack(X), np.concatenate(Y), np.concatenate(W) * 1000

def fit(X, Y, W, balanced, C=1.0):
    if balanced:  # class balance on top of source balance
        for c in np.unique(Y):
            W = W.copy(); W[Y == c] *= len(Y) / (len(np.unique(Y)) * (Y == c).sum())
    return LogisticRegression(C=C, max_iter=3000).fit(X, Y, sample_weight=W)

shipped_sent = SentimentModel.load(None, dim=384)
shipped_int = IntentModel.load(None, dim=384)
rules = KeywordRules.from_yaml(DEFAULT_RULES)

def shipped(name, task, m):
    texts = list(S[name]["text"][m])
    if task == "intent":
        p = shipped_int.predict(E[name][m], texts)
        return np.array([fuse_intent(float(pi), rules.match(t), rules.weights) for pi, t in zip(p, texts)]), p
    out = shipped_sent.predict(E[name][m], texts)
    if task == "sentiment":
        return np.array([LAB.index(o[0]) for o in out]), None
    return np.array([o[2] for o in out]), None

def metric(task, y, s):
    if task == "sentiment":
        return f1_score(y, s, average="macro")
    return roc_auc_score(y, s)

def vader_pred(name, task, m):
    comp = V[name][m][:, 3]
    if task == "sentiment":
        return np.where(comp >= 0.05, 2, np.where(comp <= -0.05, 0, 1))
    return -comp  # negativity

TASKS = {"sentiment": ["goemotions", "amazon", "movie", "nyt", "own"],
         "frustration": ["goemotions", "amazon", "movie", "nyt", "own"],
         "intent": ["bitext", "own", "amazon", "goemotions"]}

if __name__ == "__main__":
    res = {}
    for task, srcs in TASKS.items():
        res[task] = {}
        held_list = [s for s in srcs if not (task == "intent" and s == "goemotions")]
        for held in held_list:
            m = test_mask(held, task)
            yl = labels(held, task)
            m &= yl >= 0
            yt = yl[m]
            r = {"n_test": int(m.sum())}
            s_ship, p_head = shipped(held, task, m)
            r["shipped head" + (" + keyword fusion (live)" if task == "intent" else "")] = metric(task, yt, s_ship)
            if p_head is not None:
                r["shipped head alone"] = metric(task, yt, p_head)
            r["VADER"] = metric(task, yt, vader_pred(held, task, m))
            others = [s for s in srcs if s != held]
            for vader in (False, True):
                for bal in (False, True):
                    X, Y, W = train_set(others, task, vader)
                    clf = fit(X, Y, W, bal)
                    xt = E[held][m] if not vader else np.hstack([E[held][m], V[held][m]])
                    s = clf.predict(xt) if task == "sentiment" else clf.decision_function(xt)
                    r[f"LR emb{' + VADER' if vader else ''}{' balanced' if bal else ''} (LODO)"] = metric(task, yt, s)
            # same recipe as today: only GoEmotions (sentiment/frustration) or Bitext+GE-neutral (intent)
            base = ["goemotions"] if task != "intent" else ["bitext", "goemotions"]
            base = [b for b in base if b != held]
            if base and (task != "intent" or "bitext" in base):
                X, Y, W = train_set(base, task, True)
                clf = fit(X, Y, W, False)
                xt = np.hstack([E[held][m], V[held][m]])
                s = clf.predict(xt) if task == "sentiment" else clf.decision_function(xt)
                r["LR emb + VADER, today's sources only"] = metric(task, yt, s)
            res[task][held] = r
            print(task, held, json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
    json.dump(res, open("/tmp/exp14/results/heads_lodo.json", "w"), indent=1)
