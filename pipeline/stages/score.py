"""Score stage logic: utterances in, per-utterance text scores and the call's risk out.

The call features come from callradar.models.call_features, the same code training runs,
so the live risk and the trained risk model never see different features.
Offline scoring (``callradar score``) runs this same class over a file.

Hot reload: built with :meth:`ScoreProcessor.from_settings`, the processor looks
at the model registry's pointer files at most once every
``settings.models_reload_s`` seconds (one stat() per kind, before a batch), and
when one changed loads the promoted versions and swaps them in as one set
between batches. A batch is always scored by one set, and its version is in
every Score's ``model_version``. Call state (the features so far) is kept
across a swap: the new risk model reads the same features.

Crash recovery: :meth:`snapshot` and :meth:`restore` give a call's state as plain
JSON, which the app keeps in a changelog-backed table; an utterance seen before
(redelivered after a restart) is skipped by its ``utterance_id``, so it is
neither scored twice nor counted twice in the call's features.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from callradar.models.call_features import CallState
from callradar.models.types import ScoredUtterance
from callradar.pipeline.records import Score, Utterance
from callradar.pipeline.stages.dedup import SeenIds

log = logging.getLogger(__name__)


class ScoreProcessor:
    def __init__(self, text_scorer, risk_model, idle_timeout_s: float = 1800.0):
        """Fixed models (tests, tools); :meth:`from_settings` gives the registry's, with hot reload."""
        from callradar.models.registry import ModelSet

        self.models = ModelSet(text_scorer, risk_model, {})
        self.model_version = risk_model.version  # what every Score carries
        self.idle_timeout_s = idle_timeout_s
        self.calls: dict[str, CallState] = {}
        self.seen = SeenIds()  # utterance ids already scored, per call
        self.last_seen: dict[str, float] = {}
        self.evicted: list[str] = []  # calls forgotten since the app last looked
        self._watch = None  # (settings, registry, every_s) when hot reload is on
        self._next_check = 0.0
        self._stamp = None

    @classmethod
    def from_settings(cls, settings, pins: dict[str, str] | None = None, watch: bool | None = None) -> ScoreProcessor:
        """Models from the registry (``pins``: kind -> version or folder, for offline scoring).

        ``watch`` (default: on unless pinned) re-reads the registry for promoted versions.
        """
        from callradar.models.registry import Registry

        registry = Registry(settings.models_root)
        stamp = registry.stamp()  # taken first, so no change is missed
        models = load_models(settings, registry, pins)
        processor = cls(models.text_scorer, models.risk_model)
        processor.models, processor.model_version = models, models.version
        if watch if watch is not None else not pins:
            processor._watch = (settings, registry, float(settings.models_reload_s))
            processor._stamp = stamp
            processor._next_check = time.monotonic() + processor._watch[2]
        return processor

    def maybe_reload(self) -> bool:
        """Swap in newly promoted models if the registry changed; True when it swapped.

        Cheap when nothing changed: at most one stat() per kind every ``models_reload_s``.
        A promoted version that fails to load is logged and the running set kept.
        """
        if self._watch is None or time.monotonic() < self._next_check:
            return False
        settings, registry, every_s = self._watch
        self._next_check = time.monotonic() + every_s
        stamp = registry.stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            models = load_models(settings, registry)
        except Exception as exc:  # noqa: BLE001 - a bad promotion must not stop live scoring
            log.error("model registry changed but the new models do not load; still running %s: %s",
                      self.model_version, exc)
            return False
        if models.version == self.model_version:
            return False
        log.info("models reloaded: %s -> %s", self.model_version, models.version)
        self.models, self.model_version = models, models.version  # between batches: score() runs on one thread
        return True

    def score(self, utterances: list[Utterance], now: float | None = None) -> list[Score]:
        """Score a batch (one encoder pass), then update each call in arrival order.

        Utterances already scored (same ``utterance_id``) are skipped: one Score per utterance.
        """
        fresh = [u for u in utterances if self.seen.first_time(u.call_id, u.utterance_id)]
        if len(fresh) < len(utterances):
            log.info("skipped, already scored: %s", sorted({u.utterance_id for u in utterances} - {u.utterance_id for u in fresh}))
        utterances = fresh
        if not utterances:
            return []
        self.maybe_reload()
        models, model_version = self.models, self.model_version  # one set for the whole batch
        now = time.time() if now is None else now
        text_scores = models.text_scorer.score_batch(
            [u.text for u in utterances], [u.speaker for u in utterances]
        )
        out = []
        for utt, ts in zip(utterances, text_scores):
            state = self.calls.get(utt.call_id)
            if state is None:
                state = self.calls[utt.call_id] = CallState()
            self.last_seen[utt.call_id] = now
            state.add(ScoredUtterance(utt.speaker, utt.start, utt.end, utt.text, ts, utt.confidence, utt.no_speech_prob))
            reading = models.risk_model.predict(state.features(pooled=models.risk_model.text_part is not None))
            out.append(
                Score(
                    utterance_id=utt.utterance_id,
                    call_id=utt.call_id,
                    speaker=utt.speaker,
                    start=utt.start,
                    end=utt.end,
                    text=utt.text,
                    sentiment=ts.sentiment,
                    sentiment_scores={k: round(v, 4) for k, v in ts.sentiment_scores.items()},
                    frustration=round(ts.frustration, 4),
                    intent=round(ts.intent, 4),
                    keywords=[asdict(k) for k in ts.keywords],
                    risk=round(reading.risk, 4),
                    reasons=reading.reasons,
                    model_version=model_version,
                    audio_end_ts=utt.audio_end_ts,
                    scored_ts=time.time(),
                )
            )
        self._evict_idle(now)
        return out

    def _evict_idle(self, now: float) -> None:
        for call_id in [c for c, t in self.last_seen.items() if now - t > self.idle_timeout_s]:
            self.forget(call_id)
            self.evicted.append(call_id)

    def forget(self, call_id: str) -> None:
        """Drop a call's state (``callradar analyze`` does once a call is done)."""
        self.calls.pop(call_id, None)
        self.seen.forget(call_id)
        self.last_seen.pop(call_id, None)

    def snapshot(self, call_id: str) -> dict:
        """One call's state as plain JSON: its features so far and the utterances they include."""
        return {"features": self.calls[call_id].snapshot(), "seen": self.seen.of(call_id)}

    def restore(self, call_id: str, snapshot: dict, now: float | None = None) -> None:
        """Take back a call's state after a restart (from :meth:`snapshot`)."""
        self.calls[call_id] = CallState.restore(snapshot["features"])
        self.seen.restore(call_id, snapshot["seen"])
        log.info("%s: state restored, %d utterance(s) already scored", call_id, len(snapshot["seen"]))
        self.last_seen[call_id] = time.time() if now is None else now

    @property
    def live_calls(self) -> int:
        return len(self.calls)


def hf_spec(settings, kind: str):
    """The Hugging Face model CALLRADAR_<KIND>_MODEL puts in place of a text head, or None."""
    from callradar.models.hf_head import HFSpec

    name = getattr(settings, f"{kind}_model")
    return HFSpec(kind, name, getattr(settings, f"{kind}_model_labels")) if name else None


def load_models(settings, registry=None, pins: dict[str, str] | None = None):
    """The model set the settings ask for: the registry's (``settings.models_root``) current versions,
    ``pins`` over them, Hugging Face heads where set; see callradar.models.registry.load_model_set."""
    from callradar.models.registry import Registry, load_model_set

    registry = registry if registry is not None else Registry(settings.models_root)
    return load_model_set(registry, encoder_model=settings.encoder_model, pins=pins,
                          sentiment_hf=hf_spec(settings, "sentiment"), intent_hf=hf_spec(settings, "intent"))
