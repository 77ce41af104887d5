"""Does a sentiment head's reading of negations carry dissatisfaction in the rated dialogues? (session 12)

Per dialogue (all 1,500 of a `bench/satisfaction_check.py` work folder, measurement only): the mean and the
highest P(negative) over the customer's utterances, as an AUROC for "dissatisfied"; over all utterances, those
with a negation word (the risk features' NEGATION, models/call_features.py) and those without; and the share read negative.

    .venv/bin/python bench/research/issue14/sat_negation.py --work SAT_WORK --embeddings /tmp/h4cache/sat_emb \\
        models/artifacts/sentiment NAME=SENTIMENT_DIR...
"""
import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from callradar.models.sentiment import SentimentModel
from callradar.models.call_features import NEGATION


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="a satisfaction_check work folder (train/test.jsonl)")
    ap.add_argument("--embeddings", type=Path, required=True, help="texts.json + embeddings.npy of its utterances")
    ap.add_argument("heads", nargs="+", help="sentiment model folders, optionally NAME=FOLDER")
    args = ap.parse_args()
    texts = json.loads((args.embeddings / "texts.json").read_text())
    emb = np.load(args.embeddings / "embeddings.npy")
    index = {t: i for i, t in enumerate(texts)}
    calls = [json.loads(line) for f in ("train.jsonl", "test.jsonl") for line in (args.work / f).open()]
    cust = [(c["call_id"], c["outcome"] != "calm", u["text"]) for c in calls for u in c["utterances"]
            if u["speaker"] == "customer" and u["text"] in index]
    utts = [t for _, _, t in cust]
    negated = np.array([bool(NEGATION.search(t.lower())) for t in utts])
    print(f"{len(calls)} dialogues, {len(utts)} customer utterances, {negated.mean():.1%} with a negation word")
    for spec in args.heads:
        name, _, folder = spec.rpartition("=")
        p_neg = np.array([o[1]["negative"] for o in
                          SentimentModel.load(Path(folder)).predict(emb[[index[t] for t in utts]], utts)])
        out = {}
        for tag, keep in (("all", np.ones_like(negated)), ("with negation", negated), ("without", ~negated)):
            by_call = {}
            for (cid, dissatisfied, _), v, k in zip(cust, p_neg, keep):
                if k:
                    by_call.setdefault(cid, [dissatisfied, []])[1].append(v)
            y = [v[0] for v in by_call.values()]
            out[tag] = {"calls": len(y), "auroc_mean": round(roc_auc_score(y, [np.mean(v[1]) for v in by_call.values()]), 3),
                        "auroc_highest": round(roc_auc_score(y, [np.max(v[1]) for v in by_call.values()]), 3)}
        read_neg = p_neg >= 0.5
        out["read negative"] = {"with negation": round(float(read_neg[negated].mean()), 3),
                                "without": round(float(read_neg[~negated].mean()), 3)}
        print(name or folder, json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
