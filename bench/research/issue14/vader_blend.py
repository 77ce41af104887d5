"""Would the bundled sentiment head read other styles better pooled with a VADER-only head?

The bundled head (session 9: the average of two heads' logits) reads the embedding and VADER's four
scores, and still trails VADER's own rule off its training domains (review, film and newspaper
sentences; the issue's kept-apart social-media posts: 0.522 against VADER 0.529). A head on VADER's
four scores alone, fitted on the same GoEmotions training rows (the sentiment recipe's draw, classes
balanced), is a second opinion that cannot learn Reddit's words. Declared before looking: the
candidate is the three-way average of logits (old network, new head, VADER-only head, 1/3 each), i.e.
the bundled head's logits weighted 2/3 and the VADER-only head's 1/3; the other weights are printed
for information, not to choose by. Measurement only: the VADER sentence sets are never trained on.

    CALLRADAR_EMBEDDING_CACHE=/tmp/s13/emb .venv/bin/python bench/research/issue14/vader_blend.py \\
        --vader /tmp/s13/vader_gt --out /tmp/s17/vader_blend.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from callradar.models.encoder import load_encoder
from callradar.models.sentiment import VADER_FEATURES, SentimentModel, vader_features
from callradar.training import data as D
from callradar.training.sentiment import (
    SENTIMENT_HEAD,
    _features,
    _fit_head,
    _macro_f1,
    load_call_style,
    single_label,
    training_sources,
    vader_set_labels,
)

LABELS = np.array(["negative", "neutral", "positive"])
WEIGHTS = (0.0, 0.2, 1 / 3, 0.5, 1.0)  # of the VADER-only head; 1/3 is the declared candidate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundled", type=Path, default=Path("models/artifacts/sentiment"))
    ap.add_argument("--vader", type=Path, required=True, help="folder with VADER's *_GroundTruth.txt files")
    ap.add_argument("--max-train", type=int, default=16000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    sources = training_sources(D.default_data_dir(), args.max_train, args.seed)
    train_texts = [t for s in sources.values() for t in s["texts"]]
    train_y = np.concatenate([s["y"] for s in sources.values()])
    vader_only = _fit_head(vader_features(train_texts), train_y, SENTIMENT_HEAD, [], args.seed)
    bundled = SentimentModel.load(args.bundled).heads["sentiment"]
    encoder = load_encoder("all-MiniLM-L6-v2")

    sets = {}
    test = D.load_goemotions(D.default_data_dir(), "test")
    single = [i for i, e in enumerate(test.emotions) if single_label(e) is not None]
    texts = [test.texts[i] for i in single]
    sets["goemotions test"] = (texts, np.array([single_label(test.emotions[i]) for i in single]))
    sets["goemotions test, speech-style"] = ([D.speech_style(t) for t in texts], sets["goemotions test"][1])
    sets["call-style check set"] = load_call_style()
    for name in D.VADER_SETS:
        texts_v, score_v = D.load_vader_set(args.vader, name, max_rows=4000, seed=0)
        sets[f"VADER {name}"] = (texts_v, vader_set_labels(score_v)[0])
    sets["calm call customer utterances"] = (D.calm_call_customer_texts(), None)

    rows = {}
    for name, (texts, y) in sets.items():
        _, xf = _features(encoder, list(texts), name.replace(" ", "-").replace(",", ""))
        lb = np.log(np.clip(bundled(xf), 1e-30, 1))
        lv = np.log(np.clip(vader_only(xf[:, -len(VADER_FEATURES):]), 1e-30, 1))
        comp = xf[:, -1]
        rule = np.where(comp >= 0.05, "positive", np.where(comp <= -0.05, "negative", "neutral"))
        row = {"rows": len(texts)}
        for w in WEIGHTS:
            pred = LABELS[((1 - w) * lb + w * lv).argmax(1)]
            key = f"w={w:.2f}"
            row[key] = _macro_f1(y, pred) if y is not None else int((pred == "negative").sum())
        row["VADER rule"] = _macro_f1(y, rule) if y is not None else int((rule == "negative").sum())
        if y is not None:
            row["classes"] = {c: int((y == c).sum()) for c in LABELS}
        rows[name] = row
        print(name, json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"weights_of_vader_only": list(WEIGHTS), "declared": 1 / 3, "rows": rows},
                                   indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
