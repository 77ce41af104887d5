"""Per-utterance text scores: one encoder pass feeds sentiment, intent and the keyword rules.

Intent fusion (customer utterances only): noisy-OR of the head's probability with
the strongest keyword hit of each category and with the utterance's negativity,

    intent = 1 - (1 - p_head) * prod_c (1 - weight_c * score_c) * (1 - w_neg * P(negative))

where weight_c is the category's ``intent_weight`` in keywords.yaml and score_c
its best hit (1.0 exact, lower for fuzzy); w_neg is the intent card's
``negativity_weight`` (0 on older cards). A complaint is mostly said as
dissatisfaction, not as a request ("third bill that's wrong", a review-style rant),
and the head, taught by requests, misses it; negativity alone lifts intent to at
most w_neg (0.3 bundled: under the 0.5 at which an utterance counts as a request),
so it orders complaints above calm text without making a remark a request. A clear "supervisor" lifts any head
probability to at least 0.9; a misheard "manger" (0.86) to about 0.77; several
hits of one category count once. The head handles paraphrases no rule lists;
the rules handle ASR-garbled words the head has never seen. Agent utterances keep
the head's own probability (an agent saying "my supervisor" is not the customer
escalating) and get an empathy score instead.
"""

from __future__ import annotations

import threading
from pathlib import Path

from callradar.models.encoder import TextEncoder, load_encoder, same_encoder
from callradar.models.hf_head import HFClassifier, HFIntentModel, HFSentimentModel, HFSpec
from callradar.models.intent import IntentModel
from callradar.models.keywords import DEFAULT_RULES, KeywordRules
from callradar.models.sentiment import ArtifactError, SentimentModel
from callradar.models.types import SPEAKERS, KeywordHit, TextScores


def fuse_intent(p_head: float, hits: tuple[KeywordHit, ...], weights: dict[str, float], negativity: float = 0.0) -> float:
    """Noisy-OR of the head probability with the best hit per keyword category and ``negativity``
    (already weighted: w_neg * P(negative))."""
    best: dict[str, float] = {}
    for h in hits:
        best[h.category] = max(best.get(h.category, 0.0), h.score)
    q = (1.0 - p_head) * (1.0 - negativity)
    for category, score in best.items():
        q *= 1.0 - weights.get(category, 0.0) * score
    return 1.0 - q


def fuse_customer_intents(p_head, texts: list[str], p_negative, rules: KeywordRules, negativity_weight: float) -> list[float]:
    """The intent ``score_batch`` gives each of these texts as a customer utterance, from head and
    sentiment outputs already computed (training and benchmarks: no second encoder pass)."""
    return [fuse_intent(float(p), rules.match(t), rules.weights, negativity_weight * float(n))
            for p, t, n in zip(p_head, texts, p_negative, strict=True)]


class TextScorer:
    """Scores batches of utterances; thread-safe (the encoder serialises its forward passes)."""

    def __init__(
        self,
        encoder: TextEncoder,
        sentiment: SentimentModel,
        intent: IntentModel,
        rules: KeywordRules,
        check_encoder: bool = True,
    ):
        if check_encoder:
            for name, model in (("sentiment", sentiment), ("intent", intent)):
                fp = model.card.get("encoder")
                if fp and not same_encoder(fp, encoder):
                    raise ArtifactError(
                        f"the {name} head was trained on encoder {fp.get('model')!r} ({fp.get('dim')}-d), "
                        f"which embeds differently from {encoder.path}; retrain it or set CALLRADAR_ENCODER_MODEL"
                    )
        self.encoder, self.sentiment, self.intent, self.rules = encoder, sentiment, intent, rules

    @classmethod
    def load(
        cls,
        encoder_model: str = "all-MiniLM-L6-v2",
        sentiment_dir: Path | None = None,
        intent_dir: Path | None = None,
        rules_path: Path | None = None,
        sentiment_hf: HFSpec | None = None,
        intent_hf: HFSpec | None = None,
    ) -> "TextScorer":
        """Heads from their folders; a Hugging Face model in ``sentiment_hf`` / ``intent_hf`` replaces one."""
        encoder = load_encoder(encoder_model)
        sentiment = SentimentModel.load(sentiment_dir, dim=encoder.dim)
        if sentiment_hf:  # the folder's frustration head stays: it reads the shared embeddings
            sentiment = HFSentimentModel(HFClassifier(sentiment_hf, encoder.device),
                                         sentiment.heads["frustration"], sentiment.card)
        intent = (HFIntentModel(HFClassifier(intent_hf, encoder.device)) if intent_hf
                  else IntentModel.load(intent_dir, dim=encoder.dim))
        return cls(encoder, sentiment, intent, KeywordRules.from_yaml(rules_path or DEFAULT_RULES))

    def score_batch(self, texts: list[str], speakers: list[str], batch_size: int = 64) -> list[TextScores]:
        if len(texts) != len(speakers):
            raise ValueError(f"{len(texts)} texts but {len(speakers)} speakers")
        bad = {s for s in speakers if s not in SPEAKERS}
        if bad:
            raise ValueError(f"unknown speaker(s) {sorted(bad)}; expected one of {SPEAKERS}")
        emb = self.encoder.encode(list(texts), batch_size=batch_size)
        sentiments = self.sentiment.predict(emb, texts)
        p_intent = self.intent.predict(emb, texts)
        w_neg = getattr(self.intent, "negativity_weight", 0.0)
        out = []
        for text, speaker, (label, scores, frustration), p, vector in zip(texts, speakers, sentiments, p_intent, emb):
            hits = self.rules.match(text)
            if speaker == "customer":
                negativity = w_neg * float(scores.get("negative", 0.0))
                intent, empathy = fuse_intent(float(p), hits, self.rules.weights, negativity), 0.0
            else:
                intent, empathy = float(p), self.rules.empathy(text)
            out.append(TextScores(label, scores, frustration, round(intent, 6), hits, empathy, vector))
        return out

    def score(self, text: str, speaker: str = "customer") -> TextScores:
        return self.score_batch([text], [speaker])[0]


_SCORERS: dict[tuple, TextScorer] = {}
_LOCK = threading.Lock()


def build_text_scorer(
    encoder_model: str,
    sentiment_dir: Path,
    intent_dir: Path,
    rules_path: Path,
    sentiment_hf: HFSpec | None = None,
    intent_hf: HFSpec | None = None,
) -> TextScorer:
    """The process-wide scorer for exactly these model files (loaded once, then shared).

    Keyed by the folders, so a hot reload to a new risk version reuses the
    loaded text models, and one to a new head loads only that.
    """
    key = (encoder_model, Path(sentiment_dir), Path(intent_dir), Path(rules_path), sentiment_hf, intent_hf)
    with _LOCK:
        if key not in _SCORERS:
            _SCORERS[key] = TextScorer.load(*key)
        return _SCORERS[key]
