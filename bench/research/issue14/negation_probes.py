"""Held-out negation probes for sentiment heads (session 12), and each head's reading of them.

Written before the call-style set's negation rows (training/callstyle.py, NEGATIONS) and kept apart from them:
other phrasings, none a template. Calm ones should not read negative; negative ones should.

    .venv/bin/python bench/research/issue14/negation_probes.py SENTIMENT_DIR... [--each]
"""
import argparse
from pathlib import Path

import numpy as np

CALM = [  # negated, not negative: expected neutral or positive
    "No, honestly, that's fine.", "I'm not annoyed at all.", "It's not a big deal.", "No, you've been fine.",
    "There's nothing wrong with the service.", "I don't have any issue with that.", "No, I'm not in any rush.",
    "That's not a problem for me.", "Nah, don't worry.", "It's not terrible.", "I'm not unhappy with it.",
    "No, no, it's okay.", "Nothing else, thank you.", "I wouldn't say it's bad.", "No, I didn't mean it like that.",
    "I'm not cross with you.",
]
NEGATIVE = [  # negated and negative: expected negative
    "I'm not happy about this at all.", "That's not acceptable.", "No, that's not what I asked for.",
    "You haven't helped at all.", "This isn't good enough.", "I don't like how this was handled.",
    "Nobody has helped me.", "I'm not satisfied.", "This doesn't work.", "No, it's still broken.",
    "I can't believe nobody told me.", "It's not okay to treat people like this.",
]


def main() -> int:
    from callradar.models.encoder import load_encoder
    from callradar.models.sentiment import SentimentModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("heads", nargs="+", type=Path, help="sentiment model folders")
    ap.add_argument("--each", action="store_true", help="print every probe's reading")
    args = ap.parse_args()
    texts = CALM + NEGATIVE
    emb = np.asarray(load_encoder().encode(texts))
    for folder in args.heads:
        out = SentimentModel.load(folder).predict(emb, texts)
        p_neg = np.array([o[1]["negative"] for o in out])
        neg = np.array([o[0] == "negative" for o in out])
        k = len(CALM)
        print(f"{folder}: calm probes read negative {neg[:k].sum()}/{k} (mean P(negative) {p_neg[:k].mean():.2f}); "
              f"negative probes read negative {neg[k:].sum()}/{len(NEGATIVE)} (mean {p_neg[k:].mean():.2f})")
        if args.each:
            for t, o in zip(texts, out):
                print(f"    {o[1]['negative']:.2f} {o[0]:8s} {t}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
