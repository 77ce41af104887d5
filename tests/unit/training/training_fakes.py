"""Small stand-ins for the training tests: a Bitext-shaped CSV and a text scorer without torch.

The corpus, training and evaluation code only needs "a Bitext-format file" and
"something with score_batch"; these keep those tests to a second and free of
the shared data folder.
"""

from __future__ import annotations

import csv
from pathlib import Path

from callradar.models.types import SENTIMENT_LABELS, KeywordHit, TextScores

INTENT_TEXTS = {
    ("ORDER", "track_order"): ["where is my order {n}", "track the order number {n}", "has order {n} shipped yet"],
    ("PAYMENT", "payment_issue"): ["my payment {n} failed", "I got an error paying invoice {n}",
                                   "the card was charged twice for {n}"],
    ("ACCOUNT", "edit_account"): ["change the email on account {n}", "update my phone number for {n}",
                                  "edit the address of profile {n}"],
    ("DELIVERY", "delivery_options"): ["what delivery options for parcel {n}", "can parcel {n} come on saturday",
                                       "is express delivery possible for {n}"],
    ("FEEDBACK", "complaint"): ["I want to file a complaint about order {n}", "I am not happy, complaint number {n}",
                                "lodge a complaint for service {n}"],
    ("CONTACT", "contact_human_agent"): ["let me talk to a human about {n}", "I want a real person now {n}",
                                         "get me a human agent {n}"],
    ("ACCOUNT", "delete_account"): ["delete my account {n}", "close my profile {n} now", "remove user account {n}"],
}


def write_fake_bitext(path: Path, per_template: int = 8) -> Path:
    """About 170 rows in Bitext's columns; every intent has enough distinct texts for both sides of a split."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["flags", "utterance", "category", "intent"])
        for (category, intent), templates in INTENT_TEXTS.items():
            for k, template in enumerate(templates):
                for n in range(per_template):
                    flags = "BLW" if n % 4 == 0 else "BL"
                    text = template.format(n=f"{k}{n}x")
                    if "W" in flags:
                        text = "damn it, " + text
                    w.writerow([flags, text, category, intent])
        w.writerow(["BLZ", "typo row that must be left out", "ORDER", "track_order"])
    return path


ANGRY = ("damn", "complaint", "not happy", "failed", "error", "twice")
ESCALATION = ("human", "person", "delete", "close my", "remove")


class StubScorer:
    """Word rules instead of models: negative on trouble words, intent on escalation words."""

    encoder = type("E", (), {"name": "stub"})()
    sentiment = type("S", (), {"card": {"name": "stub-sentiment"}})()
    intent = type("I", (), {"card": {"name": "stub-intent"}})()

    def score_batch(self, texts, speakers, batch_size=64):
        out = []
        for text, speaker in zip(texts, speakers):
            t = text.lower()
            angry = any(w in t for w in ANGRY)
            esc = any(w in t for w in ESCALATION)
            label = "negative" if angry or esc else "neutral"
            probs = dict(zip(SENTIMENT_LABELS, (0.8, 0.15, 0.05) if label == "negative" else (0.1, 0.8, 0.1)))
            hits = (KeywordHit("complaint", "complaint", "complaint"),) if "complaint" in t else ()
            empathy = 0.6 if speaker == "agent" and "sorry" in t else 0.0
            intent = 0.9 if esc else (0.5 if "complaint" in t else 0.05)
            out.append(TextScores(label, probs, 0.7 if angry else 0.05, intent if speaker == "customer" else 0.02,
                                  hits, empathy))
        return out
