"""Trigger stage logic: scores in, supervisor alerts and agent-assist prompts out.

Call events (calls.events) tell it each call's queue and customer tier, which
the escalation matrix routes by. :meth:`TriggerProcessor.snapshot` and
:meth:`~TriggerProcessor.restore` let the app keep each call's state in a
changelog-backed table; a score seen before (redelivered after a restart) is
skipped by its ``utterance_id``, so no alert is sent twice.
"""

from __future__ import annotations

import time

from callradar.agents.triggers import Triggers
from callradar.pipeline.records import Alert, CallEvent, Score
from callradar.pipeline.stages.dedup import SeenIds


class TriggerProcessor:
    def __init__(self, triggers: Triggers, shed_assist_after_s: float = float("inf")):
        """``shed_assist_after_s``: a score this far behind its audio skips assist retrieval."""
        self.triggers = triggers
        self.seen = SeenIds()  # utterance ids whose scores were handled, per call
        self.shed_assist_after_s = shed_assist_after_s
        self.shed = 0  # scores handled without assist retrieval because they were late

    def on_event(self, event: CallEvent) -> list[str]:
        """Takes a call's metadata; returns the finished calls it forgot (their saved state can go)."""
        forgotten = self.triggers.on_call_event(event.call_id, event.event, event.ts, event.queue,
                                                event.customer_tier)
        for call_id in forgotten:
            self.seen.forget(call_id)
        return forgotten

    def on_score(self, score: Score) -> list[Alert]:
        if not self.seen.first_time(score.call_id, score.utterance_id):
            return []
        now = time.time()
        # Overloaded: the alert goes out as always, the optional retrieval work is shed.
        retrieve = not score.audio_end_ts or now - score.audio_end_ts <= self.shed_assist_after_s
        self.shed += not retrieve
        categories = [k["category"] for k in score.keywords if isinstance(k, dict) and "category" in k]
        fired = self.triggers.on_score(
            score.call_id, score.utterance_id, score.end, score.risk, score.reasons, categories,
            speaker=score.speaker, text=score.text, retrieve=retrieve, intent=score.intent,
        )
        alerts = []
        for doc in fired:
            doc = {**doc, "call_time": score.end, "audio_end_ts": score.audio_end_ts, "created_ts": now}
            alerts.append(Alert.from_dict(doc))
        return alerts

    def forget(self, call_id: str) -> None:
        """Drop a finished call's state at once (``callradar analyze``; live, ended calls age out)."""
        self.triggers.end_call(call_id)
        self.seen.forget(call_id)

    def knows(self, call_id: str) -> bool:
        return call_id in self.triggers.calls

    def snapshot(self, call_id: str) -> dict:
        return {"trigger": self.triggers.snapshot(call_id), "seen": self.seen.of(call_id)}

    def restore(self, call_id: str, snapshot: dict) -> None:
        self.triggers.restore(call_id, snapshot["trigger"])
        self.seen.restore(call_id, snapshot["seen"])
