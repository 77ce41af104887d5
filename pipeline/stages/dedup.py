"""Per-call memory of the utterances a stage has handled, to skip redeliveries.

After a crash, Kafka redelivers whatever came after the last committed offset;
a stage that remembers (in its changelog-backed state) which utterance ids it
already handled skips them, so nothing is scored, counted or alerted twice.
"""

from __future__ import annotations

from collections import deque

KEPT_PER_CALL = 64  # a redelivery after a crash repeats a few seconds of a call: far fewer


class SeenIds:
    def __init__(self, keep: int = KEPT_PER_CALL):
        self.keep = keep
        self.by_call: dict[str, deque[str]] = {}
        self.duplicates = 0  # redeliveries skipped so far

    def first_time(self, call_id: str, utterance_id: str) -> bool:
        """True (and remembered) the first time; False for a repeat."""
        seen = self.by_call.setdefault(call_id, deque(maxlen=self.keep))
        if utterance_id in seen:
            self.duplicates += 1
            return False
        seen.append(utterance_id)
        return True

    def of(self, call_id: str) -> list[str]:
        return list(self.by_call.get(call_id, ()))

    def restore(self, call_id: str, ids: list[str]) -> None:
        self.by_call[call_id] = deque(ids, maxlen=self.keep)

    def forget(self, call_id: str) -> None:
        self.by_call.pop(call_id, None)
