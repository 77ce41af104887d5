"""Sentiment (negative / neutral / positive) and frustration from sentence embeddings.

The heads are trained by ``training/sentiment.py``: logistic regressions, or (the
sentiment head) a small network with one ReLU hidden layer. They are stored as
safetensors plus a JSON card, never pickle: loading a model must not run code
from a file. ``LinearHead`` and the artifact checks below are shared with the
intent head (``models/intent.py``).

A head may also read a few features computed from the text itself, named in its
card entry (``extra_features``); the only kind today is ``vader``: VADER's
neg / neu / pos / compound scores of the text, lower-cased and stripped of
punctuation first so that typed text and ASR output read the same. Its columns
follow the embedding's in ``coef``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from callradar.models.types import SENTIMENT_LABELS

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
WEIGHTS_FILE = "heads.safetensors"
CARD_FILE = "card.json"
FORMAT_VERSION = 1
VADER_FEATURES = ("vader_neg", "vader_neu", "vader_pos", "vader_compound")
KNOWN_EXTRA_FEATURES = set(VADER_FEATURES)

_PUNCT = re.compile(r"[^\w\s']+")
_VADER = None
_VADER_LOCK = threading.Lock()


def asr_normalise(text: str) -> str:
    """Lower case, punctuation (but apostrophes) to spaces, single spaces: how ASR output reads."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def vader_features(texts: list[str]) -> np.ndarray:
    """(n, 4) VADER neg, neu, pos, compound of each text after ``asr_normalise``."""
    global _VADER
    with _VADER_LOCK:
        if _VADER is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            _VADER = SentimentIntensityAnalyzer()
    out = np.empty((len(texts), len(VADER_FEATURES)), dtype=np.float32)
    for i, t in enumerate(texts):
        s = _VADER.polarity_scores(asr_normalise(t))
        out[i] = (s["neg"], s["neu"], s["pos"], s["compound"])
    return out


class ArtifactError(ValueError):
    """A model folder is missing, corrupt, or not the kind of model asked for."""


@dataclass
class LinearHead:
    """A linear layer + softmax (several classes) or sigmoid (one score); pure numpy.

    With ``hidden`` set, the inputs first pass one ReLU layer (``hidden_coef`` (h, dim),
    ``hidden_intercept`` (h,)) and ``coef`` is (k, h): a one-hidden-layer network.
    """

    coef: np.ndarray  # (k, dim), or (k, h) after a hidden layer
    intercept: np.ndarray  # (k,)
    classes: list[str]  # k names for softmax; one name (the positive class) for sigmoid
    activation: str  # "softmax" | "sigmoid"
    extra_features: list[str] = field(default_factory=list)  # text features after the embedding columns
    hidden_coef: np.ndarray | None = None  # (h, dim)
    hidden_intercept: np.ndarray | None = None  # (h,)

    def inputs(self, embeddings: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """The head's input rows: the embeddings, then its extra text features (which need ``texts``)."""
        if not self.extra_features:
            return embeddings
        if texts is None or len(texts) != len(embeddings):
            raise ValueError(
                f"this head also reads {self.extra_features} from the texts: pass predict(embeddings, texts) "
                f"with one text per row ({len(embeddings)} rows, "
                f"{'no texts' if texts is None else f'{len(texts)} texts'})"
            )
        return np.hstack([embeddings.astype(np.float32), vader_features(list(texts))])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        if self.hidden_coef is not None:
            x = np.maximum(x @ self.hidden_coef.T + self.hidden_intercept, 0.0)
        z = x @ self.coef.T + self.intercept
        if self.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z[:, 0]))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @classmethod
    def from_sklearn(cls, clf, activation: str, classes: list[str]) -> "LinearHead":
        return cls(
            np.asarray(clf.coef_, dtype=np.float32),
            np.asarray(clf.intercept_, dtype=np.float32),
            list(classes),
            activation,
        )


def save_heads(folder: Path, kind: str, heads: dict[str, LinearHead], card: dict) -> Path:
    """Write ``heads.safetensors`` and ``card.json`` (with the weights' sha256) to ``folder``."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, h in heads.items():
        tensors[f"{name}.coef"] = np.ascontiguousarray(h.coef, dtype=np.float32)
        tensors[f"{name}.intercept"] = np.ascontiguousarray(h.intercept, dtype=np.float32)
        if h.hidden_coef is not None:
            tensors[f"{name}.hidden.coef"] = np.ascontiguousarray(h.hidden_coef, dtype=np.float32)
            tensors[f"{name}.hidden.intercept"] = np.ascontiguousarray(h.hidden_intercept, dtype=np.float32)
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"kind": kind})
    card = dict(card)
    card.update(
        format_version=FORMAT_VERSION,
        kind=kind,
        weights_file=WEIGHTS_FILE,
        weights_sha256=hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest(),
        heads={
            n: {"classes": h.classes, "activation": h.activation}
            | ({"extra_features": list(h.extra_features)} if h.extra_features else {})
            | ({"hidden": {"units": int(h.hidden_coef.shape[0]), "activation": "relu"}} if h.hidden_coef is not None else {})
            for n, h in heads.items()
        },
    )
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return folder


def load_heads(folder: Path, kind: str, dim: int | None = None) -> tuple[dict[str, LinearHead], dict]:
    """Read and verify a head folder; any mismatch raises ``ArtifactError`` saying what is wrong."""
    folder = Path(folder)
    card_path, weights_path = folder / CARD_FILE, folder / WEIGHTS_FILE
    if not card_path.is_file() or not weights_path.is_file():
        raise ArtifactError(f"{folder}: not a {kind} model folder (needs {CARD_FILE} and {WEIGHTS_FILE})")
    try:
        card = json.loads(card_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{card_path}: not valid JSON ({exc})") from exc
    if not isinstance(card, dict) or card.get("kind") != kind:
        raise ArtifactError(
            f"{card_path}: holds a {card.get('kind') if isinstance(card, dict) else '?'!r} model, expected {kind!r}"
        )
    if card.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{card_path}: format_version {card.get('format_version')!r}, this code reads {FORMAT_VERSION}"
        )
    digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    if digest != card.get("weights_sha256"):
        raise ArtifactError(
            f"{weights_path}: sha256 {digest[:12]}... does not match card.json "
            f"({str(card.get('weights_sha256'))[:12]}...): the file is corrupt or was replaced"
        )
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{weights_path}: unreadable safetensors file ({exc})") from exc

    heads = {}
    for name, spec in card.get("heads", {}).items():
        coef, intercept = tensors.get(f"{name}.coef"), tensors.get(f"{name}.intercept")
        if coef is None or intercept is None:
            raise ArtifactError(f"{weights_path}: head {name!r} has no weights")
        k = 1 if spec["activation"] == "sigmoid" else len(spec["classes"])
        extra = spec.get("extra_features", [])
        if not isinstance(extra, list) or not set(extra) <= KNOWN_EXTRA_FEATURES:
            raise ArtifactError(f"{card_path}: head {name!r} asks for unknown text features {extra!r}")
        hidden_coef, hidden_intercept = _hidden_layer(name, spec, tensors, weights_path, card_path)
        first = coef if hidden_coef is None else hidden_coef
        if coef.ndim != 2 or coef.shape[0] != k or intercept.shape != (k,) or first.shape[1] <= len(extra):
            raise ArtifactError(f"{weights_path}: head {name!r} has shape {coef.shape}, expected ({k}, dim)")
        if hidden_coef is not None and coef.shape[1] != hidden_coef.shape[0]:
            raise ArtifactError(
                f"{weights_path}: head {name!r} has {hidden_coef.shape[0]} hidden units, "
                f"its output layer reads {coef.shape[1]}"
            )
        emb_dim = first.shape[1] - len(extra)
        if dim is not None and emb_dim != dim:
            raise ArtifactError(
                f"{weights_path}: head {name!r} expects {emb_dim}-d embeddings, the encoder gives {dim}"
            )
        layers = [coef, intercept] + ([hidden_coef, hidden_intercept] if hidden_coef is not None else [])
        if not all(np.isfinite(a).all() for a in layers):
            raise ArtifactError(f"{weights_path}: head {name!r} holds non-finite numbers")
        heads[name] = LinearHead(
            coef, intercept, list(spec["classes"]), spec["activation"], list(extra), hidden_coef, hidden_intercept
        )
    return heads, card


def _hidden_layer(name: str, spec: dict, tensors: dict, weights_path: Path, card_path: Path):
    """The head's ReLU hidden layer (weights, biases), or (None, None) when its card names none."""
    hidden = spec.get("hidden")
    if hidden is None:
        return None, None
    if not isinstance(hidden, dict) or hidden.get("activation") != "relu":
        raise ArtifactError(f"{card_path}: head {name!r} has a hidden layer this code cannot run: {hidden!r}")
    w, b = tensors.get(f"{name}.hidden.coef"), tensors.get(f"{name}.hidden.intercept")
    units = hidden.get("units")
    if w is None or b is None:
        raise ArtifactError(f"{weights_path}: head {name!r} has no hidden-layer weights")
    if w.ndim != 2 or w.shape[0] != units or b.shape != (units,):
        raise ArtifactError(
            f"{weights_path}: head {name!r} hidden layer has shape {w.shape}, expected ({units}, dim)"
        )
    return w, b


class SentimentModel:
    """3-class sentiment + a 0..1 frustration score (anger, annoyance, disapproval, disgust)."""

    kind = "sentiment"

    def __init__(self, heads: dict[str, LinearHead], card: dict):
        missing = {"sentiment", "frustration"} - heads.keys()
        if missing:
            raise ArtifactError(f"sentiment model lacks head(s) {sorted(missing)}")
        if sorted(heads["sentiment"].classes) != sorted(SENTIMENT_LABELS):
            raise ArtifactError(f"sentiment classes {heads['sentiment'].classes}, expected {SENTIMENT_LABELS}")
        self.heads, self.card = heads, card

    @classmethod
    def load(cls, folder: Path | None = None, dim: int | None = None) -> "SentimentModel":
        heads, card = load_heads(Path(folder or ARTIFACTS_DIR / "sentiment"), cls.kind, dim)
        return cls(heads, card)

    def predict(self, embeddings: np.ndarray, texts: list[str] | None = None) -> list[tuple[str, dict[str, float], float]]:
        """Per row: (label, {label: probability}, frustration).

        ``texts`` (one per row) is needed when a head reads text features as well
        (the card's ``extra_features``, e.g. VADER's scores); embeddings alone do
        for heads that read only them.
        """
        sent, frus = self.heads["sentiment"], self.heads["frustration"]
        probs = sent(sent.inputs(embeddings, texts))
        frustration = frus(frus.inputs(embeddings, texts))
        classes = self.heads["sentiment"].classes
        out = []
        for p, f in zip(probs, frustration):
            scores = {c: float(p[i]) for i, c in enumerate(classes)}
            scores = {label: scores[label] for label in SENTIMENT_LABELS}
            out.append((max(scores, key=scores.get), scores, float(f)))
        return out
