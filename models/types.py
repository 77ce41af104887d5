"""Plain types passed between the models and the stages (no implementations here)."""

from __future__ import annotations

from dataclasses import dataclass, field

SENTIMENT_LABELS = ("negative", "neutral", "positive")
SPEAKERS = ("agent", "customer")  # the two channels of a call, and who said an utterance
MODEL_SAMPLE_RATE = 16000  # what Whisper consumes; the transcribe stage segments at it too
MODEL_KINDS = ("risk", "sentiment", "intent")  # what the model registry versions
# Formats that unpickle when loaded (torch.load, joblib, pickle, numpy archives): never
# accepted into the registry nor loaded by `callradar evaluate`.
UNSAFE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".bin", ".npz"})


@dataclass(frozen=True)
class KeywordHit:
    """One keyword rule that matched an utterance, possibly through an ASR error."""

    category: str  # supervisor_request, cancellation, legal_threat, complaint, repeat_contact, ...
    phrase: str  # the rule's canonical phrase
    matched: str  # the words in the utterance that matched it
    score: float = 1.0  # 1.0 exact; lower for fuzzy or phonetic matches


@dataclass(frozen=True)
class TextScores:
    """What the per-utterance text models say about one utterance."""

    sentiment: str  # one of SENTIMENT_LABELS
    sentiment_scores: dict[str, float]  # label -> probability, sums to 1
    frustration: float  # 0..1, anger/annoyance/frustration strength
    intent: float  # P(asks to escalate, complains or threatens to leave)
    keywords: tuple[KeywordHit, ...] = ()
    empathy: float = 0.0  # agent utterances: 0..1 how much empathy phrasing was used
    # The encoder's L2-normalised embedding (float32 vector) the heads read; the call
    # features use it to see a customer repeating a request. Never put on a record.
    embedding: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ScoredUtterance:
    """One utterance with its text scores: the unit the call features are built from."""

    speaker: str  # agent | customer
    start: float
    end: float
    text: str
    scores: TextScores
    # From speech to text, where known (live calls, archived calls): whether it is a noise fragment.
    confidence: float | None = None
    no_speech_prob: float | None = None


@dataclass(frozen=True)
class RiskReading:
    """P(escalation | the call so far) and the features that pushed it most."""

    risk: float
    reasons: list[dict] = field(default_factory=list)  # {"feature", "value", "contribution", "text"}
    model_version: str = ""
