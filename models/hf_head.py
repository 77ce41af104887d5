"""A full Hugging Face sequence-classification model in place of the sentiment or intent head.

A team with a classifier fine-tuned on its own calls can use it without code
changes: ``CALLRADAR_SENTIMENT_MODEL`` / ``CALLRADAR_INTENT_MODEL`` = a local folder
or a hub id, resolved like the encoder (path, local HF cache, download where the
network allows; never a silent download offline).

Labels come from the model's ``config.id2label``:

- sentiment: each label maps to negative / neutral / positive, by name
  ("negative", "NEG", "Neutral", ...), or by star rating ("1 star" .. "5 stars":
  1-2 negative, 3 neutral, 4-5 positive). Anything else needs
  ``CALLRADAR_SENTIMENT_MODEL_LABELS="LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive"``.
  Probabilities of labels mapped to the same class add up; a class the model does
  not have gets 0. Frustration still comes from the linear frustration head.
- intent: P(escalation) is the probability of the labels that mean escalation,
  named in ``CALLRADAR_INTENT_MODEL_LABELS="complaint,contact_human_agent"``, or
  found by name (a label called escalation) or, for a two-label model without
  names, ``LABEL_1``.

Weights load from safetensors only (``use_safetensors=True``): a folder with only
a pickled ``pytorch_model.bin`` is refused, because unpickling runs code.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callradar.models.encoder import length_sorted_batches
from callradar.models.sentiment import ArtifactError, LinearHead
from callradar.models.types import SENTIMENT_LABELS

SENTIMENT_ALIASES = {
    "negative": "negative", "neg": "negative",
    "neutral": "neutral", "neu": "neutral",
    "positive": "positive", "pos": "positive",
}
STARS = re.compile(r"^([1-5])\s*stars?$")
# Found by name only when unambiguous; a multi-intent model (complaint, refund, ...) must say which count.
ESCALATION_NAMES = {"escalation", "escalate", "escalated"}


@dataclass(frozen=True)
class HFSpec:
    """Which Hugging Face model replaces a head, and the label mapping override (may be empty)."""

    kind: str  # sentiment | intent
    name_or_path: str
    labels: str = ""

    @property
    def short_name(self) -> str:
        return Path(self.name_or_path.rstrip("/")).name or self.name_or_path

    @property
    def setting(self) -> str:
        return f"CALLRADAR_{self.kind.upper()}_MODEL"


class HFClassifier:
    """Tokenizer + AutoModelForSequenceClassification; probabilities per label, batched."""

    def __init__(self, spec: HFSpec, device=None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from callradar.models.encoder import EncoderNotFound, resolve_model

        try:
            path = resolve_model(spec.name_or_path)
        except EncoderNotFound as exc:
            raise ArtifactError(f"{spec.setting}={spec.name_or_path!r}: {exc}") from None
        if not any(path.glob("*.safetensors")):
            raise ArtifactError(
                f"{spec.setting}={spec.name_or_path!r}: {path} has no .safetensors weights; pickled weights "
                "(pytorch_model.bin) are refused because loading them can run code. "
                "Re-save the model with save_pretrained(..., safe_serialization=True)"
            )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                str(path), local_files_only=True, use_safetensors=True
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"{spec.setting}={spec.name_or_path!r}: cannot load {path}: {exc}") from None
        self.spec, self.path = spec, path
        self.device = device if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model.eval().to(self.device)
        config = self.model.config
        self.labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        self.multi_label = config.problem_type == "multi_label_classification"
        self.max_length = min(512, int(getattr(self.tokenizer, "model_max_length", 512) or 512))
        self._lock = threading.Lock()

    def probabilities(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(n, labels) float64: softmax (sigmoid for multi-label models). Batches hold similar lengths."""
        import torch

        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not texts:
            return out
        with self._lock, torch.inference_mode():
            for chunk, batch in length_sorted_batches(self.tokenizer, texts, batch_size, self.max_length, self.device):
                logits = self.model(**batch).logits.float()
                probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
                out[chunk] = probs.cpu().numpy()
        return out


def _parse_pairs(text: str, setting: str) -> dict[str, str]:
    pairs = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        label, sep, target = part.rpartition("=")
        if not sep or not label.strip():
            raise ArtifactError(f"{setting}: {part!r} is not LABEL=negative|neutral|positive")
        pairs[label.strip()] = target.strip().lower()
    return pairs


def sentiment_mapping(labels: list[str], override: str = "") -> dict[str, str]:
    """Model label -> negative | neutral | positive."""
    setting = "CALLRADAR_SENTIMENT_MODEL_LABELS"
    if override:
        mapping = _parse_pairs(override, setting)
        unknown = [lab for lab in mapping if lab not in labels]
        bad = {t for t in mapping.values() if t not in SENTIMENT_LABELS}
        if unknown or bad:
            raise ArtifactError(
                f"{setting}: " + "; ".join(filter(None, [
                    f"the model has no label(s) {unknown} (it has {labels})" if unknown else "",
                    f"targets must be {'/'.join(SENTIMENT_LABELS)}, not {sorted(bad)}" if bad else "",
                ]))
            )
    else:
        mapping = {}
        for label in labels:
            name = label.strip().lower()
            stars = STARS.match(name)
            if name in SENTIMENT_ALIASES:
                mapping[label] = SENTIMENT_ALIASES[name]
            elif stars:
                n = int(stars.group(1))
                mapping[label] = "negative" if n <= 2 else "neutral" if n == 3 else "positive"
        unmapped = [lab for lab in labels if lab not in mapping]
        if unmapped:
            raise ArtifactError(
                f"the sentiment model's labels {labels} do not name negative/neutral/positive "
                f"(cannot map {unmapped}); set {setting}, e.g. "
                f"\"{','.join(f'{lab}=...' for lab in labels)}\""
            )
    missing = {"negative", "positive"} - set(mapping.values())
    if missing:
        raise ArtifactError(f"the sentiment model maps no label to {sorted(missing)} (mapping {mapping})")
    return mapping


def intent_positive_labels(labels: list[str], override: str = "") -> list[str]:
    """The model labels whose probability is P(escalation)."""
    setting = "CALLRADAR_INTENT_MODEL_LABELS"
    if override:
        chosen = [p.strip() for p in override.split(",") if p.strip()]
        unknown = [lab for lab in chosen if lab not in labels]
        if unknown:
            raise ArtifactError(f"{setting}: the model has no label(s) {unknown} (it has {labels})")
        return chosen
    chosen = [lab for lab in labels if lab.strip().lower() in ESCALATION_NAMES]
    if not chosen and labels == ["LABEL_0", "LABEL_1"]:
        chosen = ["LABEL_1"]
    if not chosen:
        raise ArtifactError(
            f"cannot tell which of the intent model's labels {labels} mean escalation; "
            f"set {setting}, e.g. \"{labels[-1]}\""
        )
    return chosen


class HFSentimentModel:
    """Sentiment from a HF classifier; frustration from the linear head on the shared embeddings."""

    kind = "sentiment"

    def __init__(self, classifier: HFClassifier, frustration: LinearHead, card: dict):
        self.classifier = classifier
        self.mapping = sentiment_mapping(classifier.labels, classifier.spec.labels)
        self.frustration = frustration
        # The frustration head still reads embeddings, so the encoder check applies to it.
        self.card = {"kind": "sentiment", "hf_model": classifier.spec.name_or_path, "labels": self.mapping,
                     "encoder": card.get("encoder")}

    def predict(self, embeddings: np.ndarray, texts: list[str] | None = None):
        """Per row: (label, {label: probability}, frustration), like SentimentModel."""
        if texts is None:
            raise ValueError("a Hugging Face sentiment model needs the texts, not only embeddings")
        probs = self.classifier.probabilities(texts)
        frustration = self.frustration(embeddings)
        columns = {s: [i for i, lab in enumerate(self.classifier.labels) if self.mapping.get(lab) == s]
                   for s in SENTIMENT_LABELS}
        out = []
        for p, f in zip(probs, frustration):
            grouped = {s: float(p[cols].sum()) if cols else 0.0 for s, cols in columns.items()}
            total = sum(grouped.values()) or 1.0
            scores = {s: v / total for s, v in grouped.items()}
            out.append((max(scores, key=scores.get), scores, float(f)))
        return out


class HFIntentModel:
    """P(escalation) from a HF classifier: the summed probability of the escalation labels."""

    kind = "intent"

    def __init__(self, classifier: HFClassifier):
        self.classifier = classifier
        positive = intent_positive_labels(classifier.labels, classifier.spec.labels)
        self.columns = [classifier.labels.index(lab) for lab in positive]
        self.card = {"kind": "intent", "hf_model": classifier.spec.name_or_path, "positive_labels": positive}

    def predict(self, embeddings: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        if texts is None:
            raise ValueError("a Hugging Face intent model needs the texts, not only embeddings")
        probs = self.classifier.probabilities(texts)[:, self.columns]
        p = probs.max(axis=1) if self.classifier.multi_label else probs.sum(axis=1)
        return np.clip(p, 0.0, 1.0)
