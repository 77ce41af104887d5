"""Escalation intent fused with the sentiment head's negativity: AUROC on the proxies, by weight.

    .venv/bin/python bench/research/issue14/intent_negativity.py --vader-gt DIR [--cache DIR] [--out FILE]

intent(w) = 1 - (1 - intent without negativity) * (1 - w * P(negative)), as models/text_scorer.py fuses a
customer utterance (keyword rules included), for w in WEIGHTS, with the bundled heads. Rows: VADER's rated
review and newspaper sentences as complaint proxies (rated <= -1.0 complaint, > -0.25 not; measurement only),
held-out Bitext, the call-style set, the call probes, the negation probes; and the two real calm calls'
customer utterances (how many reach 0.5). DIR: VADER's ground-truth files (vaderSentiment 3.3.2 sdist).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import intent_negation_probes as NP  # noqa: E402

from callradar.models.text_scorer import TextScorer, fuse_intent  # noqa: E402
from callradar.models.sentiment import vader_features  # noqa: E402
from callradar.training import data as D  # noqa: E402
from callradar.training import intent as I  # noqa: E402

WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5)


def proxy(folder: Path, name: str):
    texts, score = D.load_vader_set(folder, name)
    keep = (score <= -1.0) | (score > -0.25)
    return [t for t, k in zip(texts, keep) if k], (score[keep] <= -1.0).astype(int)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vader-gt", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=None, help="embedding cache folder (default: the project's)")
    ap.add_argument("--out", type=Path, default=Path("bench/research/issue14/results/intent_negativity.json"))
    args = ap.parse_args(argv)
    scorer = TextScorer.load()
    sets = {f"{n} review/editorial sentences, complaint proxy": proxy(args.vader_gt, n) for n in ("amazon", "movie", "nyt")}
    texts_b, intents_b, y_b, _, _, te = I.bitext_split(D.default_data_dir(), 0)
    keep = ~np.isin(intents_b[te], list(I.EXCLUDED_INTENTS))
    sets["bitext held-out fold"] = (list(texts_b[te][keep]), y_b[te][keep])
    own = D.load_callstyle(negations=True)
    sets["call-style set (in the head's training)"] = ([r["text"] for r in own], np.array([r["intent"] for r in own]))
    sets["call probes"] = ([t for t, _ in I.CALL_PROBES], np.array([y for _, y in I.CALL_PROBES]))
    neg = NP.CALM_NEGATED + NP.NEGATED_COMPLAINT + NP.PLAIN
    sets["negation probes"] = (neg, np.array([0] * len(NP.CALM_NEGATED) + [1] * (len(neg) - len(NP.CALM_NEGATED))))

    def read(texts, desc):
        emb = D.embed_cached(scorer.encoder, list(texts), desc, args.cache)
        p = scorer.intent.predict(emb, texts)
        base = np.array([fuse_intent(float(v), scorer.rules.match(t), scorer.rules.weights) for v, t in zip(p, texts)])
        p_neg = np.array([s["negative"] for _, s, _ in scorer.sentiment.predict(emb, texts)])
        return base, p_neg, -vader_features(list(texts))[:, -1]

    out = {"weights": WEIGHTS, "rows": {}}
    for name, (texts, y) in sets.items():
        base, p_neg, vader = read(texts, name.split()[0])
        row = {"n": len(y), "positive": int(y.sum()), "sentiment P(negative)": roc_auc_score(y, p_neg),
               "VADER negativity": roc_auc_score(y, vader)}
        row.update({f"w={w}": roc_auc_score(y, 1 - (1 - base) * (1 - w * p_neg)) for w in WEIGHTS})
        out["rows"][name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
        print(name, out["rows"][name], flush=True)
    calm = D.calm_call_customer_texts()
    base, p_neg, _ = read(calm, "calm-calls")
    out["calm_calls"] = {}
    for w in WEIGHTS:
        f = 1 - (1 - base) * (1 - w * p_neg)
        out["calm_calls"][f"w={w}"] = {"utterances": len(f), "at_or_above_0.5": int((f >= 0.5).sum()),
                                       "highest": [[calm[i], round(float(f[i]), 3)] for i in np.argsort(-f)[:3]]}
        print(f"calm calls w={w}", out["calm_calls"][f"w={w}"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
