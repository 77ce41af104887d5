"""Score stage logic: utterances in, per-utterance text scores and the call's risk out.

The call features come from models.call_features, the same code training runs,
so the live risk and the trained risk model never see different features.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from models.call_features import CallState
from models.types import ScoredUtterance
from pipeline.records import Score, Utterance


class ScoreProcessor:
    def __init__(self, text_scorer, risk_model, idle_timeout_s: float = 1800.0):
        self.text_scorer = text_scorer
        self.risk_model = risk_model
        self.idle_timeout_s = idle_timeout_s
        self.calls: dict[str, CallState] = {}
        self.last_seen: dict[str, float] = {}

    def score(self, utterances: list[Utterance], now: float | None = None) -> list[Score]:
        """Score a batch (one encoder pass), then update each call in arrival order."""
        if not utterances:
            return []
        now = time.time() if now is None else now
        text_scores = self.text_scorer.score_batch(
            [u.text for u in utterances], [u.speaker for u in utterances]
        )
        out = []
        for utt, ts in zip(utterances, text_scores):
            state = self.calls.get(utt.call_id)
            if state is None:
                state = self.calls[utt.call_id] = CallState()
            self.last_seen[utt.call_id] = now
            state.add(ScoredUtterance(utt.speaker, utt.start, utt.end, utt.text, ts))
            reading = self.risk_model.predict(state.features())
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
                    model_version=reading.model_version,
                    audio_end_ts=utt.audio_end_ts,
                    scored_ts=time.time(),
                )
            )
        self._evict_idle(now)
        return out

    def _evict_idle(self, now: float) -> None:
        for call_id in [c for c, t in self.last_seen.items() if now - t > self.idle_timeout_s]:
            self.calls.pop(call_id, None)
            self.last_seen.pop(call_id, None)

    @property
    def live_calls(self) -> int:
        return len(self.calls)
