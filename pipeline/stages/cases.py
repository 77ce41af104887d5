"""Case stage logic: supervisor alerts open escalation cases, missed response times climb the hierarchy.

The case core is agents/cases.py; this keeps one worker's :class:`CaseBook` for the
partitions it owns and says what to publish. It runs in the trigger worker
(pipeline/kafka/app.py), whose consumer group reads calls.alerts, calls.events and
calls.cases co-partitioned with calls.scores: the worker that owns a call's trigger
state owns its cases too, and nothing else ever acts on them.

Events change the book only as they come back from calls.cases (:meth:`CaseProcessor.apply`),
so every reader agrees on who won a race; a redelivered event (same id) changes
nothing. Side effects happen on a *live* apply only, never while rebuilding what an
earlier owner already handled: the webhook of the route an opened, handed over or
breached case lands on, and the call's outcome when a case is resolved.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, MutableMapping

from callradar.agents.cases import Breach, CaseBook, CaseRefused
from callradar.agents.routing import EscalationMatrix
from callradar.pipeline.records import Alert, CallEvent, CaseEvent, MalformedMessage

NOTIFIED_KINDS = ("opened", "handed_over", "breached")  # the events that put a case on a route
# An alert older than this opens no case: a worker reading calls.alerts from its start (a new
# consumer group, or offsets expired) must not open and breach every alert still retained.
MAX_ALERT_AGE_S = 900.0
# A webhook for an event older than this is not sent: a ping about a case long since moved on helps nobody.
NOTIFY_MAX_AGE_S = 600.0
# A breach whose event has not come back after this long is published again (same ids: it counts once).
BREACH_RESEND_S = 30.0
AGENT_KEEP_S = 600.0  # how long a call's agent is kept after the call ends: alerts lag the end event
AGENT_MAX_S = 86_400.0  # ... or after it started, when its end never came
MAX_KNOWN_ALERTS = 10_000  # alerts kept for the webhook body until their case event comes back


class CaseProcessor:
    """One worker's cases, by partition; no Kafka, no clock of its own (``now`` is passed in or read).

    ``agents``: call id -> {"agent_id", "started_ts", "ended_ts"}, a mapping the caller
    may back with a changelog table so a restart keeps the agents of calls in progress.
    ``notifier``: agents/notify.py Notifier (None: no webhooks).
    """

    def __init__(self, matrix: EscalationMatrix, notifier=None, agents: MutableMapping | None = None,
                 max_alert_age_s: float = MAX_ALERT_AGE_S, clock=time.time):
        self.matrix, self.notifier, self.clock = matrix, notifier, clock
        self.book = CaseBook(matrix)
        self.agents = agents if agents is not None else {}
        self.max_alert_age_s = max_alert_age_s
        self.partition_of: dict[str, int] = {}  # case_id -> partition of its call
        self.breaching: dict[str, tuple[int, float]] = {}  # case_id -> (version the breach was made on, when)
        self.alerts: dict[str, dict] = {}  # alert_id -> fields, for the webhook body of its case event
        self.old_alerts = 0  # supervisor alerts too old to open a case
        self.notified = 0  # webhook messages queued
        self.skipped = 0  # case events that changed nothing: read again (a restart, a rebuild), or lost a race

    # ------------------------------------------------------------ input

    def on_call_event(self, event: CallEvent) -> None:
        """Remember the call's agent (from ``started``) for the cases its alerts open."""
        known = self.agents.get(event.call_id)
        if event.event == "started":
            if event.agent_id:
                self.agents[event.call_id] = {"agent_id": event.agent_id, "started_ts": event.ts, "ended_ts": 0.0}
        elif known is not None:
            self.agents[event.call_id] = {**known, "ended_ts": event.ts or self.clock()}

    def on_alert(self, alert: Alert, now: float | None = None) -> CaseEvent | None:
        """The opened event to publish for a supervisor alert; None when it opens no case.

        Raises MalformedMessage for a supervisor alert whose route a case cannot use.
        """
        now = self.clock() if now is None else now
        if alert.alert_type != "escalation_risk" or alert.route.get("case_id"):
            return None
        if alert.created_ts and now - alert.created_ts > self.max_alert_age_s:
            self.old_alerts += 1
            return None
        known = self.agents.get(alert.call_id) or {}
        try:
            event = self.book.open(alert, now=now, agent_id=known.get("agent_id", ""))
        except CaseRefused as exc:
            raise MalformedMessage(f"alert: {exc.reason}") from None
        if event is not None:
            self._remember(alert.to_dict())
        return event

    def apply(self, event: CaseEvent, partition: int, live: bool = True, now: float | None = None) -> dict | None:
        """Apply one event from calls.cases; returns the calls.outcomes record (Outcome fields) to publish, if any.

        ``live``: the event is news to this stage, so its side effects are due (the
        webhook, the outcome); False while rebuilding what an earlier owner handled.
        """
        if not self.book.apply(event):
            self.skipped += 1
            return None
        self.partition_of[event.case_id] = partition
        if not live:
            self.alerts.pop(event.alert_id, None)
            return None
        now = self.clock() if now is None else now
        if event.kind in NOTIFIED_KINDS:
            alert = self.alerts.pop(event.alert_id, None) if event.alert_id else None
            if self.notifier is not None and now - event.ts <= NOTIFY_MAX_AGE_S:
                self.notified += self.notifier.notify_case(self.matrix, event, alert or self._alert_of(event))
        if event.kind == "resolved":
            return self.book.call_outcome(event.call_id)
        return None

    # ------------------------------------------------------------ response times

    def breaches(self, now: float | None = None, partitions: Iterable[int] | None = None) -> list[Breach]:
        """Overdue cases on ``partitions`` (None: all) to breach now: each case once until its event comes back."""
        now = self.clock() if now is None else now
        owned = None if partitions is None else set(partitions)
        out = []
        for breach in self.book.breaches(now):
            case = self.book.cases[breach.event.case_id]
            if owned is not None and self.partition_of.get(case.case_id) not in owned:
                continue
            made = self.breaching.get(case.case_id)
            if made is not None and made[0] == case.version and now - made[1] < BREACH_RESEND_S:
                continue  # published, not back yet
            self.breaching[case.case_id] = (case.version, now)
            self._remember(breach.alert)
            out.append(breach)
        for case_id in [c for c, (version, _) in self.breaching.items()
                        if c not in self.book.cases or self.book.cases[c].version != version]:
            del self.breaching[case_id]
        return out

    # ------------------------------------------------------------ ownership

    def forget_partitions(self, partitions: Iterable[int]) -> int:
        """Drop the cases of partitions this worker no longer owns; returns how many."""
        gone = set(partitions)
        dropped = [c for c, p in self.partition_of.items() if p in gone]
        for case_id in dropped:
            case = self.book.cases.pop(case_id, None)
            del self.partition_of[case_id]
            self.breaching.pop(case_id, None)
            if case is not None:
                for alert_id in case.alert_ids:
                    self.book.by_alert.pop(alert_id, None)
                self.book.seen.difference_update(e.event_id for e in case.events)
        return len(dropped)

    def evict(self, now: float | None = None) -> list[str]:
        """Forget the agents of calls that ended a while ago; returns their call ids."""
        now = self.clock() if now is None else now
        old = [call_id for call_id, a in list(self.agents.items())
               if (a.get("ended_ts") and now - a["ended_ts"] > AGENT_KEEP_S)
               or now - (a.get("started_ts") or now) > AGENT_MAX_S]
        for call_id in old:
            self.agents.pop(call_id, None)
        return old

    @property
    def open_cases(self) -> int:
        return len(self.book.open_cases())

    # ------------------------------------------------------------ helpers

    def _remember(self, alert: dict) -> None:
        self.alerts[alert["alert_id"]] = alert
        while len(self.alerts) > MAX_KNOWN_ALERTS:
            del self.alerts[next(iter(self.alerts))]

    def _alert_of(self, event: CaseEvent) -> dict | None:
        """The alert fields a webhook shows, from the case, when the alert itself is not at hand (a restart)."""
        case = self.book.cases.get(event.case_id)
        if not event.alert_id or case is None:
            return None
        return {"alert_id": event.alert_id, "risk": case.risk, "message": "", "call_time": case.call_time}
