"""Leave one domain out for the bundled sentiment head (the average): the call-style set held out.

The bundled head is the plain average of the old GoEmotions network and the mixed recipe's head
(GoEmotions + the call-style set; h4_average.py). To hold the call-style set out of it, the new part
is refitted without it (the recipe's own LODO row) and averaged with the old part, which never saw
it. GoEmotions cannot be held out of the average: its old part is GoEmotions.

    CALLRADAR_EMBEDDING_CACHE=/tmp/h4cache/emb .venv/bin/python bench/research/issue14/avg_lodo.py \\
        --old /tmp/h4gate/mix/sentiment --out bench/research/issue14/results/avg_lodo.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from h4_average import averaged

from callradar.models.encoder import load_encoder
from callradar.models.sentiment import VADER_FEATURES, SentimentModel
from callradar.training import data as D
from callradar.training.sentiment import SENTIMENT_HEAD, _features, _fit_head, _macro_f1, training_sources

LABELS = np.array(["negative", "neutral", "positive"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="the old (GoEmotions network) sentiment head's folder")
    ap.add_argument("--bundled", type=Path, default=Path("models/artifacts/sentiment"))
    ap.add_argument("--max-train", type=int, default=16000, help="GoEmotions rows, as the shipped recipe drew")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    encoder = load_encoder("all-MiniLM-L6-v2")
    sources = training_sources(D.default_data_dir(), args.max_train, args.seed)
    feats = {n: _features(encoder, s["texts"], f"sentiment-{n}") for n, s in sources.items()}
    held = D.CALLSTYLE_SOURCE
    rest = [n for n in sources if n != held]
    new_without = _fit_head(np.vstack([feats[n][1] for n in rest]), np.concatenate([sources[n]["y"] for n in rest]),
                            SENTIMENT_HEAD, list(VADER_FEATURES), args.seed)
    old = SentimentModel.load(args.old).heads["sentiment"]
    heads = {"old (never saw it)": old,
             "new recipe without it": new_without,
             "average without it (LODO of the bundled recipe)": averaged(old, new_without, 0.5, feats[held][1]),
             "bundled (trained on it: in-domain, for reference)": SentimentModel.load(args.bundled).heads["sentiment"]}
    xf, y = feats[held][1], sources[held]["y"]
    comp = xf[:, -1]
    vader = np.where(comp >= 0.05, "positive", np.where(comp <= -0.05, "negative", "neutral"))
    row = {"held_out": held, "rows": int(len(y)), "trained_on": rest, "vader": _macro_f1(y, vader),
           **{name: _macro_f1(y, LABELS[h(xf).argmax(1)]) for name, h in heads.items()}}
    print(json.dumps(row, indent=1))
    args.out.write_text(json.dumps(row, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
