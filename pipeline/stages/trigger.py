"""Trigger stage logic: scores in, supervisor alerts and agent-assist prompts out.

Call events (calls.events) tell it each call's queue and customer tier, which
the escalation matrix routes by.
"""

from __future__ import annotations

import time

from agents.triggers import Triggers
from pipeline.records import Alert, CallEvent, Score


class TriggerProcessor:
    def __init__(self, triggers: Triggers):
        self.triggers = triggers

    def on_event(self, event: CallEvent) -> None:
        self.triggers.on_call_event(event.call_id, event.event, event.ts, event.queue, event.customer_tier)

    def on_score(self, score: Score) -> list[Alert]:
        categories = [k["category"] for k in score.keywords if isinstance(k, dict) and "category" in k]
        fired = self.triggers.on_score(
            score.call_id, score.utterance_id, score.end, score.risk, score.reasons, categories,
            speaker=score.speaker, text=score.text,
        )
        now = time.time()
        alerts = []
        for doc in fired:
            doc = {**doc, "call_time": score.end, "audio_end_ts": score.audio_end_ts, "created_ts": now}
            alerts.append(Alert.from_dict(doc))
        return alerts
