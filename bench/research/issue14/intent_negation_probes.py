"""Held-out negation probes for escalation-intent heads (session 13), read as live scoring reads them.

Written before the candidate head trained on the call-style set's negation rows was looked at, and kept
apart from its templates (training/callstyle.py, negated_request and NEGATIONS): other phrasings. The fused
intent (head + keyword rules, customer side) is what the risk model and the alerts read.

    .venv/bin/python bench/research/issue14/intent_negation_probes.py INTENT_DIR... [--each]
"""
import argparse
from pathlib import Path

import numpy as np

CALM_NEGATED = [  # a request or complaint word, negated: not an escalation
    "No, I don't want to speak to anyone else, you're fine.", "I'm not looking to cancel anything.",
    "There's no need to involve your manager.", "I'm not making a complaint, just asking.",
    "I won't be leaving, don't worry.", "I don't need a refund, just the receipt.",
    "No, I'm not switching providers.", "I'm not going anywhere, I like the service.",
    "I never said I wanted to close the account.", "It's not worth escalating, honestly.",
]
NEGATED_COMPLAINT = [  # negated, and a complaint all the same
    "I'm not happy with how this has been handled.", "Nobody ever calls me back.",
    "This still hasn't been sorted out.", "You haven't fixed anything.",
    "I've not had a single straight answer from you people.", "That is not good enough, I want this resolved today.",
    "I can't keep calling you every week about this.", "No one has bothered to explain the charges.",
]
PLAIN = [  # plain requests, complaints and churn: must stay high
    "Put me through to a supervisor.", "I want to cancel my contract today.", "I'd like to file a formal complaint.",
    "I'm going to take my business to another company.", "Let me talk to your manager.", "I want my money back.",
    "This is the fourth time I've called about this.", "I'll be reporting you to the ombudsman.",
]
GROUPS = {"calm negated (want < 0.5)": CALM_NEGATED, "negated complaint (want >= 0.5)": NEGATED_COMPLAINT,
          "plain request (want >= 0.5)": PLAIN}


def main() -> int:
    from callradar.models.text_scorer import TextScorer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("heads", nargs="+", type=Path, help="intent model folders")
    ap.add_argument("--sentiment", type=Path, default=Path("models/artifacts/sentiment"))
    ap.add_argument("--each", action="store_true", help="print every probe's reading")
    args = ap.parse_args()
    for folder in args.heads:
        scorer = TextScorer.load(sentiment_dir=args.sentiment, intent_dir=folder)
        print(f"== {folder}")
        for name, texts in GROUPS.items():
            p = np.array([s.intent for s in scorer.score_batch(texts, ["customer"] * len(texts))])
            print(f"  {name}: {int((p >= 0.5).sum())} / {len(p)} at >= 0.5, mean {p.mean():.2f}")
            if args.each:
                for t, v in zip(texts, p):
                    print(f"    {v:.2f}  {t}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
