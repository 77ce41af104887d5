"""Text sources as DataFrames: text, sentiment (negative/neutral/positive or None), frustration (0/1 or NaN),
intent (0/1 or NaN), group (for grouped splits)."""
import csv
import json
from pathlib import Path

import numpy as np


class DF(dict):
    """columns -> numpy arrays (no pandas in the project venv)."""
    def __len__(self):
        return len(next(iter(self.values())))

def frame(rows):
    keys = rows[0].keys()
    return DF({k: np.array([r.get(k) for r in rows], dtype=object) for k in keys})


D = Path("/work/shared/data")
POS = set("admiration amusement approval caring desire excitement gratitude joy love optimism pride relief".split())
NEG = set("anger annoyance disappointment disapproval disgust embarrassment fear grief nervousness remorse sadness".split())
FRUS = {"anger", "annoyance", "disapproval", "disgust"}
POSITIVE_INTENTS = {"contact_human_agent", "complaint", "delete_account"}

def goemotions(split="all"):
    labels = (D / "sentiment/goemotions/labels.txt").read_text().split()
    rows = []
    for sp in (["train", "dev", "test"] if split == "all" else [split]):
        for line in (D / f"sentiment/goemotions/{sp}.tsv").read_text(encoding="utf-8").splitlines():
            text, ids, cid = line.split("\t")
            em = [labels[int(i)] for i in ids.split(",")]
            groups = {"positive" if e in POS else "negative" if e in NEG else "neutral" for e in em}
            if len(em) == 1:
                sent = "positive" if em[0] in POS else "negative" if em[0] in NEG else "neutral"
            elif "positive" in groups and "negative" in groups:
                sent = None
            else:
                sent = "positive" if "positive" in groups else "negative" if "negative" in groups else "neutral"
            rows.append({"text": text, "sentiment": sent, "frustration": float(any(e in FRUS for e in em)),
                         "intent": 0.0 if em == ["neutral"] else np.nan, "group": cid, "split": sp, "single": len(em) == 1})
    return frame(rows)

def bitext():
    rows = []
    with open(D / "intents/bitext/bitext_customer_support_21k.csv", encoding="utf-8-sig") as f:
        for r in csv.DictReader(f):
            if r["intent"] == "contact_customer_service":
                continue
            it = r["intent"]
            rows.append({"text": r["utterance"], "sentiment": None, "frustration": np.nan,
                         "intent": float(it in POSITIVE_INTENTS), "group": it + "|" + r["utterance"].lower().strip(), "label": it})
    return frame(rows)

def vader_gt(name):
    rows = []
    for line in Path(f"/tmp/exp14/data/vader_gt/{name}Snippets_GroundTruth.txt").read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        sid, score, text = parts[0], float(parts[1]), "\t".join(parts[2:])
        # mean rating in [-4, 4]; 3 classes with a neutral band (|mean| < 0.5), as the VADER paper's polarity split uses 0
        sent = "positive" if score >= 0.5 else "negative" if score <= -0.5 else "neutral"
        rows.append({"text": text, "sentiment": sent, "frustration": float(score <= -1.5), "intent": np.nan,
                     "group": sid.split("_")[0], "score": score})
    return frame(rows)

def own():
    rows = [json.loads(l) for l in Path("/tmp/exp14/data/own/callstyle.jsonl").read_text().splitlines()]
    for r in rows:
        r["intent"], r["frustration"], r["group"] = float(r["intent"]), float(r["frustration"]), r["template"]
    return frame(rows)

def subsample(df, n, seed=0, keep=None):
    idx = np.arange(len(df))
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(df), bool)
    if keep is not None:
        mask |= keep
    rest = idx[~mask]
    mask[rng.choice(rest, size=min(n, len(rest)), replace=False)] = True
    return type(df)({k: v[mask] for k, v in df.items()})

def load_sources():
    """GoEmotions: its test split + 8,000 train rows; Bitext: 6,000 rows; movie snippets: 4,000 (CPU time; seeded)."""
    ge = goemotions()
    ge = subsample(ge, 8000, keep=(ge["split"] == "test"))
    return {"goemotions": ge, "bitext": subsample(bitext(), 6000), "amazon": vader_gt("amazonReview"),
            "movie": subsample(vader_gt("movieReview"), 4000), "nyt": vader_gt("nytEditorial"), "own": own()}
