"""The call archive: finished live calls (transcript, scores, alerts) to Parquet for retraining.

:class:`CallArchive` is pure bookkeeping: it takes the records of
``calls.events``, ``calls.transcripts``, ``calls.scores``, ``calls.alerts``,
``calls.outcomes``, ``calls.feedback`` and ``calls.cases`` in any interleaving and hands back
each call, whole, once it has ended (plus a grace period for transcripts still
in flight) or gone idle.
``callradar archive`` (pipeline/cli/archive.py) runs it, through :class:`ArchiveWriter`,
as a consumer group of its own rather than as a Faust stage: archiving must never
slow the live path, it scales and restarts independently, and the worker stays
free of disk I/O.

Delivery is at least once: offsets are committed only up to the oldest message
of a call not yet written, so a crash re-reads unwritten calls; a call written
twice is merged on read (utterances and alerts deduplicated by id). Outcomes go
to ``labels.jsonl`` in the archive folder as they arrive (before or after the
call itself is written), which is also where ``callradar label import`` puts them.
Agents' feedback goes to ``feedback.jsonl`` the same way: an agent often rates a
prompt after the call has ended and been written, and reading the folder joins
the marks to their calls whatever the order. Escalation cases' events go to
``cases.jsonl`` for the same reason (a supervisor resolves a case after the call),
and each written call carries its cases as far as this process saw them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from callradar.pipeline.records import Alert, CallEvent, CaseEvent, Feedback, MalformedMessage, Score, Topics, Utterance
from callradar.training.labelled_calls import (
    CallAlert,
    CallCase,
    CallFeedback,
    CallUtterance,
    LabelledCall,
    Outcome,
    append_case_events,
    append_feedback,
    append_labels,
    latest_feedback,
    write_calls,
)

log = logging.getLogger(__name__)

GRACE_S = 30.0  # after "ended": transcription of the last utterances can lag the end event
IDLE_S = 900.0  # a call that never sent "ended" is written after this long without news
SOURCE = "archive"


@dataclass
class _Pending:
    call_id: str
    first_seen: float
    last_seen: float
    ended_at: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    utterances: dict[str, CallUtterance] = field(default_factory=dict)  # by utterance_id; written in call-time order
    alerts: dict[str, CallAlert] = field(default_factory=dict)
    outcome: Outcome | None = None
    feedback: list[CallFeedback] = field(default_factory=list)
    case_events: list[CaseEvent] = field(default_factory=list)  # as they came, for the cases' state when written

    def utterance(self, utterance_id: str, speaker: str, start: float, end: float, text: str) -> CallUtterance:
        u = self.utterances.get(utterance_id)
        if u is None:
            u = self.utterances[utterance_id] = CallUtterance(speaker, start, end, text, utterance_id=utterance_id)
        return u

    def to_call(self) -> LabelledCall | None:
        if not self.utterances:
            return None  # nothing was said (or transcribed): nothing to learn from
        return LabelledCall(
            call_id=self.call_id,
            outcome=self.outcome.outcome if self.outcome else None,
            escalation_time=self.outcome.escalation_time if self.outcome else None,
            # In call-time order: a call's transcripts and scores come on different topics, in any order.
            utterances=sorted(self.utterances.values(), key=lambda u: (u.start, u.end)),
            alerts=list(self.alerts.values()),
            metadata=self.metadata,
            source=SOURCE,
            feedback=self.feedback,
            cases=_cases(self.case_events),
        )


def _cases(events: list[CaseEvent]) -> list[CallCase]:
    """The call's cases as the events this process saw leave them; cases.jsonl has them all."""
    if not events:
        return []
    from callradar.agents.cases import CaseBook
    from callradar.agents.routing import EscalationMatrix

    book = CaseBook.rebuild(events, EscalationMatrix((), {}))  # applying needs no routes
    return sorted((CallCase.from_case(c) for c in book.cases.values()), key=lambda c: c.opened_ts)


class CallArchive:
    """Accumulates live calls until they are finished; no I/O, so it is tested without Kafka."""

    def __init__(self, grace_s: float = GRACE_S, idle_s: float = IDLE_S):
        self.grace_s, self.idle_s = grace_s, idle_s
        self._calls: dict[str, _Pending] = {}
        self._written: dict[str, float] = {}  # recently written call ids: late news re-opens them as ended

    def _call(self, call_id: str, now: float) -> _Pending:
        p = self._calls.get(call_id)
        if p is None:
            p = self._calls[call_id] = _Pending(call_id, now, now)
            if call_id in self._written:  # a late utterance of a call already written: it has ended
                p.ended_at = now
        p.last_seen = now
        return p

    @property
    def pending(self) -> list[str]:
        return list(self._calls)

    def add_event(self, event: CallEvent, now: float) -> None:
        p = self._call(event.call_id, now)
        if event.event == "started":
            meta = {"agent_id": event.agent_id, "queue": event.queue, "customer_tier": event.customer_tier,
                    **{k: str(v) for k, v in event.metadata.items() if not isinstance(v, (dict, list))}}
            p.metadata.update({k: str(v) for k, v in meta.items() if v not in ("", None)})
        else:
            p.ended_at = now

    def add_utterance(self, utt: Utterance, now: float) -> None:
        u = self._call(utt.call_id, now).utterance(utt.utterance_id, utt.speaker, utt.start, utt.end, utt.text)
        u.confidence = utt.confidence

    def add_score(self, score: Score, now: float) -> None:
        u = self._call(score.call_id, now).utterance(score.utterance_id, score.speaker, score.start, score.end, score.text)
        u.sentiment, u.frustration, u.intent = score.sentiment, score.frustration, score.intent
        u.risk, u.model_version = score.risk, score.model_version

    def add_alert(self, alert: Alert, now: float) -> None:
        self._call(alert.call_id, now).alerts[alert.alert_id] = CallAlert(
            alert.alert_id, alert.alert_type, alert.trigger, alert.risk, alert.call_time, alert.utterance_id
        )

    def add_outcome(self, outcome: Outcome) -> None:
        """Attach an outcome to a call still being collected (the caller also records it in labels.jsonl)."""
        if outcome.call_id in self._calls:
            self._calls[outcome.call_id].outcome = outcome

    def add_feedback(self, feedback: Feedback) -> None:
        """Attach a mark to a call still being collected (the caller also records it in feedback.jsonl)."""
        p = self._calls.get(feedback.call_id)
        if p is not None:
            p.feedback = latest_feedback(*p.feedback, CallFeedback.from_record(feedback))

    def add_case_event(self, event: CaseEvent) -> None:
        """Attach a case event to a call still being collected (the caller also records it in cases.jsonl)."""
        p = self._calls.get(event.call_id)
        if p is not None:
            p.case_events.append(event)

    def finished(self, now: float) -> list[LabelledCall]:
        """Take out the calls that ended ``grace_s`` ago or have been idle ``idle_s``."""
        done = [cid for cid, p in self._calls.items()
                if (p.ended_at is not None and now - p.ended_at >= self.grace_s) or now - p.last_seen >= self.idle_s]
        return self._take(done, now)

    def drain(self, now: float) -> list[LabelledCall]:
        """Take out every call (shutdown, or partitions moving to another archive process)."""
        return self._take(list(self._calls), now)

    def _take(self, call_ids: list[str], now: float) -> list[LabelledCall]:
        out = []
        for cid in call_ids:
            call = self._calls.pop(cid).to_call()
            self._written[cid] = now
            if call is not None:
                out.append(call)
        for cid in [c for c, t in self._written.items() if now - t > self.idle_s]:
            del self._written[cid]
        return out


# ---------------------------------------------------------------- what the archive process writes


class _OffsetBook:
    """Per call, the oldest offset it holds in each partition: what must not be committed yet."""

    def __init__(self) -> None:
        self.held: dict[str, dict] = {}  # call_id -> {(topic, partition): offset}

    def hold(self, call_id: str, tp, offset: int) -> None:
        self.held.setdefault(call_id, {}).setdefault(tp, offset)

    def keep_only(self, call_ids) -> None:
        """Forget the calls that are no longer in progress (written, or dropped as empty)."""
        keep = set(call_ids)
        for cid in [c for c in self.held if c not in keep]:
            del self.held[cid]

    def committable(self, tp, position: int) -> int:
        return min([offsets[tp] for offsets in self.held.values() if tp in offsets] + [position])


def part_name(n: int) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"calls-{stamp}-{os.getpid()}-{n:04d}.parquet"


class ArchiveWriter:
    """Runs a CallArchive on the topics' records and writes finished calls into ``out_dir``.

    No Kafka here: ``callradar archive`` (pipeline/cli/archive.py) reads the topics with
    the Kafka layer's group reader, which hands each record to :meth:`on_record`, calls
    :meth:`on_tick` every second or so and commits per partition only what
    :meth:`committable` allows. ``dead_letter(record, reason)`` takes an outcome or a
    mark that cannot be read (no stage reads those topics).
    """

    def __init__(self, topics: Topics, out_dir: Path, *, dead_letter: Callable[[object, str], None],
                 grace_s: float = GRACE_S, idle_s: float = IDLE_S, report: Callable[[str], object] = print):
        self.out_dir, self.report, self.dead_letter = Path(out_dir), report, dead_letter
        self.archive, self.book = CallArchive(grace_s, idle_s), _OffsetBook()
        self.written = self.parts = 0
        self.handlers = {
            topics.events: (CallEvent, self.archive.add_event),
            topics.transcripts: (Utterance, self.archive.add_utterance),
            topics.scores: (Score, self.archive.add_score),
            topics.alerts: (Alert, self.archive.add_alert),
        }
        # Outcomes, feedback and case events are appended to their side files at once, so they hold
        # back no offsets.
        self.side_files = {topics.outcomes: (Outcome, append_labels, self.archive.add_outcome),
                           topics.feedback: (Feedback, append_feedback, self.archive.add_feedback),
                           topics.cases: (CaseEvent, append_case_events, self.archive.add_case_event)}
        self.read_by_a_stage = {topics.cases}  # the case stage dead-letters what it cannot read
        self.out_dir.mkdir(parents=True, exist_ok=True)

    @property
    def topics(self) -> list[str]:
        """The topics to read."""
        return [*self.handlers, *self.side_files]

    def on_record(self, rec, now: float | None = None) -> None:
        """One record as read (topic, partition, offset, key, value, headers)."""
        now = time.time() if now is None else now
        if rec.topic in self.side_files:
            kind, append, attach = self.side_files[rec.topic]
            try:
                record = kind.decode(rec.value)
            except MalformedMessage as exc:
                if rec.topic in self.read_by_a_stage:
                    log.debug("skipping malformed %s message: %s", rec.topic, exc)
                else:  # no stage reads this topic: dead-letter it like the stages do
                    self.dead_letter(rec, str(exc))
                return
            append(self.out_dir, [record])
            attach(record)
            return
        kind, add = self.handlers[rec.topic]
        try:
            record = kind.decode(rec.value)
        except MalformedMessage as exc:  # the stage that consumes this topic dead-letters it
            log.debug("skipping malformed %s message: %s", rec.topic, exc)
            return
        add(record, now)
        self.book.hold(record.call_id, (rec.topic, rec.partition), rec.offset)

    def on_tick(self, now: float | None = None) -> None:
        """Write the calls that are finished."""
        self._write(self.archive.finished(time.time() if now is None else now))

    def on_revoked(self) -> None:
        """Another archive process takes partitions over: write what we have first.

        It may read these calls again; reading the archive merges the duplicates.
        """
        self._write(self.archive.drain(time.time()))

    def on_stop(self, interrupted: bool = False) -> None:
        """On the way out nothing in progress is lost: every call is written."""
        if interrupted:
            self.report("interrupted: writing the calls in progress")
        self._write(self.archive.drain(time.time()))

    def committable(self, partition, position: int) -> int:
        """How far ``partition`` may be committed: its oldest offset of a call not yet written, else ``position``."""
        return self.book.committable(partition, position)

    def _write(self, calls: list[LabelledCall]) -> None:
        if calls:
            self.parts += 1
            path = write_calls(self.out_dir / part_name(self.parts), calls)
            self.written += len(calls)
            self.report(
                f"archived {len(calls)} call(s) to {path.name} ({sum(len(c.utterances) for c in calls)} utterances, "
                f"{sum(len(c.alerts) for c in calls)} alerts, {sum(len(c.feedback) for c in calls)} feedback marks, "
                f"{sum(c.outcome is not None for c in calls)} labelled); "
                f"{len(self.archive.pending)} call(s) in progress"
            )
        self.book.keep_only(self.archive.pending)
