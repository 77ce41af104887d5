"""Escalation intent: P(the customer asks for escalation, complains, or threatens to leave).

A logistic-regression head on sentence embeddings (plus, where its card names them, VADER's
scores of the text, as the sentiment head reads them), trained by ``training/intent.py`` (the
sources and the intent mapping are in its model card).
Keyword evidence and, where the card sets ``negativity_weight``, the sentiment head's
negativity are fused in ``models/text_scorer.py``, not here, so this number stays the
head's own probability.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from callradar.models.sentiment import ARTIFACTS_DIR, ArtifactError, LinearHead, load_heads


def negativity_weight(card: dict) -> float:
    """How much of a customer utterance's P(negative) counts as complaint evidence (0: none; older cards)."""
    w = card.get("negativity_weight", 0.0)
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 0.5:
        raise ArtifactError(f"intent card: negativity_weight must be a number in 0..0.5, got {w!r}")
    return float(w)


class IntentModel:
    kind = "intent"

    def __init__(self, heads: dict[str, LinearHead], card: dict):
        head = heads.get("escalation")
        if head is None or head.activation != "sigmoid":
            raise ArtifactError("intent model needs one sigmoid head named 'escalation'")
        self.head, self.card = head, card
        self.negativity_weight = negativity_weight(card)

    @classmethod
    def load(cls, folder: Path | None = None, dim: int | None = None) -> "IntentModel":
        heads, card = load_heads(Path(folder or ARTIFACTS_DIR / "intent"), cls.kind, dim)
        return cls(heads, card)

    def predict(self, embeddings: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """(n,) float probabilities. ``texts`` (one per row) is needed when the head reads text features."""
        return self.head(self.head.inputs(embeddings, texts)).astype(np.float64)
