"""Trigger stage logic: scores in, supervisor alerts and agent-assist prompts out."""

from __future__ import annotations

import time

from agents.triggers import Triggers
from pipeline.records import Alert, Score


class TriggerProcessor:
    def __init__(self, triggers: Triggers):
        self.triggers = triggers

    def on_score(self, score: Score) -> list[Alert]:
        categories = [k["category"] for k in score.keywords if isinstance(k, dict) and "category" in k]
        fired = self.triggers.on_score(
            score.call_id, score.utterance_id, score.end, score.risk, score.reasons, categories
        )
        now = time.time()
        alerts = []
        for doc in fired:
            doc = {**doc, "call_time": score.end, "audio_end_ts": score.audio_end_ts, "created_ts": now}
            alerts.append(Alert.from_dict(doc))
        return alerts
