"""Escalation cases: what happens to a supervisor alert after it fires, as events on calls.cases.

Every supervisor alert opens a case. A supervisor claims it (acknowledged; the first
claim wins), may coach the call's agent, hand it over to another route, and resolves
it with an outcome (resolved at a tier, customer escalated, false alarm); a resolved
case can be reopened. A case nobody acknowledges within its route's response time
(``sla_s`` from the escalation matrix) is breached: it climbs one level of the
hierarchy and raises a new supervisor alert.

State is nothing but the events applied in topic order (:meth:`CaseBook.apply`), so
:meth:`CaseBook.rebuild` from calls.cases after a restart gives the same cases.
Actions (:meth:`CaseBook.acknowledge`, ...) only check and return the event to
publish; a holder applies events as they come back from the topic, never on the side,
so every console and worker sees the same winner. Each event carries the case version
it makes: of two events made against the same version (two supervisors clicking at
once, a claim racing a breach), the first on the topic wins and the other changes
nothing. Event ids are derived from their content, so a redelivery or a retried
request makes the same id and counts once.

A resolved case is also a label: :func:`outcome_for` and :meth:`CaseBook.call_outcome`
give the calls.outcomes record, and :func:`alert_precision` the share of each
trigger's alerts that supervisors confirmed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from callradar.agents.routing import EscalationMatrix
from callradar.agents.triggers import alert_id as make_alert_id
from callradar.pipeline.records import (
    CASE_OUTCOMES,
    MAX_CASE_TEXT,
    Alert,
    CaseEvent,
    MalformedMessage,
    route_problem,
)

SYSTEM = "system"  # the actor of opened and breached events
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"  # Case.status; open = waiting for a claim
PENDING, MET, BREACHED = "pending", "met", "breached"  # Case.response
OUTCOME_SOURCE = "case"
ESCALATED_FROM_TIER = 2  # a case resolved at this tier or above took more than the agent: the call escalated


class CaseRefused(ValueError):
    """An action the case cannot take; ``reason`` is for the person who tried it.

    ``code``: unknown (no such case), invalid (bad input), held (another supervisor has it),
    closed (resolved), not_resolved (reopen of an open case), stale (the case changed since
    the caller loaded it). ``status`` is the HTTP status the console answers with.
    """

    STATUS = {"unknown": 404, "invalid": 400, "held": 409, "closed": 409, "not_resolved": 409, "stale": 409}

    def __init__(self, code: str, reason: str, holder: str = ""):
        super().__init__(reason)
        self.code, self.reason, self.holder = code, reason, holder

    @property
    def status(self) -> int:
        return self.STATUS[self.code]


@dataclass
class Case:
    """One escalation case, as its events so far make it."""

    case_id: str
    call_id: str
    trigger: str
    alert_id: str  # the alert that opened it
    utterance_id: str
    call_time: float  # the opening alert's call time, seconds since the call started
    risk: float
    route: dict  # where the case is now
    opened_ts: float
    due_ts: float  # acknowledgement due by; 0 once acknowledged, or breached at the top
    agent_id: str = ""
    version: int = 1
    status: str = OPEN
    holder: str = ""  # the supervisor who acknowledged it
    acknowledged_ts: float = 0.0
    response: str = PENDING  # met | breached: was every response time kept
    breaches: int = 0
    alert_ids: list[str] = field(default_factory=list)  # the opening alert, then each breach's
    outcome: str = ""
    tier: int = 0  # resolved at
    note: str = ""
    resolved_ts: float = 0.0
    resolved_call_time: float = 0.0
    events: list[CaseEvent] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return self.status == RESOLVED

    def overdue(self, now: float) -> bool:
        return self.status == OPEN and self.due_ts > 0 and now >= self.due_ts

    def to_dict(self) -> dict:
        """Plain JSON for the console: the case and its history."""
        out = {k: v for k, v in self.__dict__.items() if k != "events"}
        out["events"] = [e.to_dict() for e in self.events]
        return out


@dataclass(frozen=True)
class Breach:
    """A breached event to publish on calls.cases and the supervisor alert (Alert fields) for calls.alerts."""

    event: CaseEvent
    alert: dict


class CaseBook:
    """Every case this process knows, rebuilt from calls.cases and kept current by :meth:`apply`."""

    def __init__(self, matrix: EscalationMatrix | None = None):
        self.matrix = matrix if matrix is not None else EscalationMatrix.load()
        self.cases: dict[str, Case] = {}
        self.by_alert: dict[str, str] = {}  # opening and breach alert ids -> case_id
        self.seen: set[str] = set()  # event ids applied
        self.ignored = 0  # events that changed nothing: lost a race, or out of place

    @classmethod
    def rebuild(cls, events: Iterable[CaseEvent], matrix: EscalationMatrix | None = None) -> CaseBook:
        """The book the topic's events make, in order (start-up: a restart loses no case)."""
        book = cls(matrix)
        for event in events:
            book.apply(event)
        return book

    # ------------------------------------------------------------ reading

    def get(self, case_id: str) -> Case:
        case = self.cases.get(case_id)
        if case is None:
            raise CaseRefused("unknown", f"no case {case_id!r:.80}")
        return case

    def for_call(self, call_id: str) -> list[Case]:
        return [c for c in self.cases.values() if c.call_id == call_id]

    def open_cases(self) -> list[Case]:
        return [c for c in self.cases.values() if not c.closed]

    def due(self, now: float) -> list[Case]:
        """Open cases nobody acknowledged within their route's response time, longest overdue first."""
        return sorted((c for c in self.cases.values() if c.overdue(now)), key=lambda c: c.due_ts)

    # ------------------------------------------------------------ applying

    def apply(self, event: CaseEvent) -> bool:
        """Apply one event from calls.cases; False when it changes nothing.

        Nothing changes for an event already seen, one that lost a race (made against
        a version the case has moved past), or one the case's state does not allow.
        """
        if event.event_id in self.seen:
            return False
        case = self.cases.get(event.case_id)
        if event.kind == "opened":
            if case is not None:
                return self._ignore(event)
            self._open(event)
            return True
        if case is None or event.version != case.version + 1 or event.call_id != case.call_id:
            return self._ignore(event)
        try:
            _check_allowed(case, event.kind, event.actor)
        except CaseRefused:
            return self._ignore(event)
        self.seen.add(event.event_id)
        case.version = event.version
        case.events.append(event)
        getattr(self, f"_on_{event.kind}")(case, event)
        return True

    def _ignore(self, event: CaseEvent) -> bool:
        self.seen.add(event.event_id)
        self.ignored += 1
        return False

    def _open(self, e: CaseEvent) -> None:
        self.seen.add(e.event_id)
        self.cases[e.case_id] = Case(
            case_id=e.case_id, call_id=e.call_id, trigger=e.trigger, alert_id=e.alert_id, utterance_id=e.utterance_id,
            call_time=e.call_time, risk=e.risk, route=dict(e.route), opened_ts=e.ts, due_ts=e.due_ts,
            agent_id=e.agent_id, alert_ids=[e.alert_id], events=[e])
        self.by_alert[e.alert_id] = e.case_id

    def _on_acknowledged(self, case: Case, e: CaseEvent) -> None:
        late = case.due_ts > 0 and e.ts > case.due_ts
        case.status, case.holder, case.acknowledged_ts, case.due_ts = ACKNOWLEDGED, e.actor, e.ts, 0.0
        if case.response != BREACHED:
            case.response = BREACHED if late else MET

    def _on_coaching_sent(self, case: Case, e: CaseEvent) -> None:
        pass  # the message is in the case's events; the console shows it to e.agent_id

    def _on_handed_over(self, case: Case, e: CaseEvent) -> None:
        case.route, case.due_ts, case.status, case.holder = dict(e.route), e.due_ts, OPEN, ""

    def _on_breached(self, case: Case, e: CaseEvent) -> None:
        case.route, case.due_ts, case.response = dict(e.route), e.due_ts, BREACHED
        case.breaches += 1
        if e.alert_id:
            case.alert_ids.append(e.alert_id)
            self.by_alert[e.alert_id] = case.case_id

    def _on_resolved(self, case: Case, e: CaseEvent) -> None:
        case.status, case.outcome, case.tier, case.note = RESOLVED, e.outcome, e.tier, e.note
        case.resolved_ts, case.resolved_call_time = e.ts, e.call_time

    def _on_reopened(self, case: Case, e: CaseEvent) -> None:
        case.status, case.holder, case.outcome, case.tier, case.note = ACKNOWLEDGED, e.actor, "", 0, e.note
        case.resolved_ts = case.resolved_call_time = 0.0

    # ------------------------------------------------------------ actions: check, return the event to publish

    def open(self, alert: Alert | dict, now: float | None = None, agent_id: str = "") -> CaseEvent | None:
        """The opened event for a supervisor alert; None when it opens no case.

        No case for an assist prompt, an alert a breach raised (its route names its
        case), or an alert that already has one. ``agent_id``: the call's agent, from calls.events.
        """
        a = alert.to_dict() if isinstance(alert, Alert) else dict(alert)
        if a.get("alert_type") != "escalation_risk" or (a.get("route") or {}).get("case_id"):
            return None
        if a["alert_id"] in self.by_alert:
            return None
        route = a.get("route") or {}
        problem = route_problem(route)
        if problem:
            raise CaseRefused("invalid", f"alert {a['alert_id']} has no usable route ({problem})")
        ts = float(a.get("created_ts") or (time.time() if now is None else now))
        return _event(a["alert_id"], a["call_id"], "opened", ts, SYSTEM, 1, route=dict(route),
                      due_ts=ts + float(route["sla_s"]), trigger=a["trigger"], alert_id=a["alert_id"],
                      utterance_id=a.get("utterance_id", ""), call_time=float(a.get("call_time") or 0.0),
                      risk=min(max(float(a.get("risk") or 0.0), 0.0), 1.0), agent_id=agent_id)

    def acknowledge(self, case_id: str, actor: str, now: float | None = None,
                    expected_version: int | None = None) -> CaseEvent:
        """Claim the case; the first claim wins, a later one is told who has it."""
        case = self._acting(case_id, "acknowledged", actor, expected_version)
        return self._next(case, "acknowledged", actor, now)

    def coach(self, case_id: str, actor: str, message: str, now: float | None = None,
              expected_version: int | None = None, agent_id: str = "") -> CaseEvent:
        """A message for the call's agent (``agent_id`` when the case does not know them)."""
        case = self._acting(case_id, "coaching_sent", actor, expected_version)
        message = _text(message, "the coaching message", required=True)
        agent = agent_id or case.agent_id
        if not agent:
            raise CaseRefused("invalid", "the call's agent is not known, so there is no one to coach")
        return self._next(case, "coaching_sent", actor, now, agent_id=agent, message=message)

    def hand_over(self, case_id: str, actor: str, now: float | None = None, route: dict | None = None,
                  note: str = "", expected_version: int | None = None) -> CaseEvent:
        """Hand the case to ``route``, by default the next one the matrix names above where it is.

        The case then waits for the new route's acknowledgement within its response time.
        """
        case = self._acting(case_id, "handed_over", actor, expected_version)
        note = _text(note, "the note")
        if route is None:
            route = self.default_handover(case)
            if route is None:
                raise CaseRefused("invalid", f"{case.route.get('team')} is the top of the hierarchy; name a route "
                                             "to hand over to")
        problem = route_problem(route)
        if problem:
            raise CaseRefused("invalid", f"cannot hand over to that route: {problem}")
        if _same_place(route, case.route):
            raise CaseRefused("invalid", f"the case is already with {case.route.get('team')}")
        ts = _now(now)
        route = {**route, "rule": route.get("rule") or case.route.get("rule", case.trigger)}
        return self._next(case, "handed_over", actor, ts, route=route, due_ts=ts + float(route["sla_s"]),
                          tier=int(route["tier"]), note=note)

    def default_handover(self, case: Case) -> dict | None:
        """The route a hand over is prefilled with: one level above the case's route, None at the top."""
        return self.matrix.route_above(case.route, f"handed over from {case.route.get('team', '?')}")

    def resolve(self, case_id: str, actor: str, outcome: str, now: float | None = None, note: str = "",
                tier: int | None = None, call_time: float = 0.0, expected_version: int | None = None) -> CaseEvent:
        """Close the case with its outcome; ``tier`` it was resolved at (default: its route's).

        ``call_time``: when in the call the customer escalated, if known (seconds).
        """
        case = self._acting(case_id, "resolved", actor, expected_version)
        if outcome not in CASE_OUTCOMES:
            raise CaseRefused("invalid", f"outcome {outcome!r:.40} is not one of {', '.join(CASE_OUTCOMES)}")
        tier = int(case.route.get("tier", 1)) if tier is None else tier
        if isinstance(tier, bool) or not isinstance(tier, int) or tier < 1:
            raise CaseRefused("invalid", f"tier must be a whole number >= 1, got {tier!r:.20}")
        if isinstance(call_time, bool) or not isinstance(call_time, (int, float)) or not 0 <= call_time < 1e9:
            raise CaseRefused("invalid", "call_time must be a number of seconds >= 0")
        return self._next(case, "resolved", actor, now, outcome=outcome, tier=tier, note=_text(note, "the note"),
                          call_time=float(call_time))

    def reopen(self, case_id: str, actor: str, now: float | None = None, note: str = "",
               expected_version: int | None = None) -> CaseEvent:
        """Take a resolved case back up; whoever reopens it holds it."""
        case = self._acting(case_id, "reopened", actor, expected_version)
        return self._next(case, "reopened", actor, now, note=_text(note, "the note"))

    def breaches(self, now: float | None = None) -> list[Breach]:
        """For every overdue case: the breached event and the new supervisor alert.

        The case climbs to the level above its route with a fresh response time; at
        the top it stays where it is, with no further deadline, so it breaches once more
        and no more. Ids depend only on the case and its version: a worker that runs
        this twice before its events come back publishes duplicates that count once.
        """
        now = _now(now)
        out = []
        for case in self.due(now):
            above = self.matrix.route_above(case.route, f"response time missed by {case.route.get('team', '?')}")
            route, due_ts = (above, now + float(above["sla_s"])) if above else (dict(case.route), 0.0)
            route["case_id"] = case.case_id  # marks the alert as this case's: it opens no new case
            alert = _breach_alert(case, route, now, top=above is None)
            event = self._next(case, "breached", SYSTEM, now, route=route, due_ts=due_ts, tier=int(route["tier"]),
                               alert_id=alert["alert_id"])
            out.append(Breach(event, alert))
        return out

    def _acting(self, case_id: str, kind: str, actor: str, expected_version: int | None) -> Case:
        if not isinstance(actor, str) or not actor.strip() or actor == SYSTEM or len(actor) > 256:
            raise CaseRefused("invalid", "a supervisor's name is needed to act on a case")
        case = self.get(case_id)
        if expected_version is not None and expected_version != case.version:
            last = case.events[-1]
            raise CaseRefused("stale", f"the case changed since you loaded it (version {expected_version}, now "
                                       f"{case.version}: {last.kind.replace('_', ' ')} by {last.actor})",
                              holder=case.holder)
        _check_allowed(case, kind, actor)
        return case

    def _next(self, case: Case, kind: str, actor: str, now: float | None, **fields) -> CaseEvent:
        return _event(case.case_id, case.call_id, kind, _now(now), actor, case.version + 1,
                      trigger=case.trigger, **fields)

    # ------------------------------------------------------------ outcomes

    def call_outcome(self, call_id: str) -> dict | None:
        """The calls.outcomes record for a call from all its resolved cases: escalated if any says so.

        Several cases on one call (a repeat escalation opens another) must not
        overwrite each other's verdict in the labels, where the latest record wins.
        """
        verdicts = [o for o in (outcome_for(c) for c in self.for_call(call_id)) if o]
        escalated = [o for o in verdicts if o["outcome"] == "escalated"]
        if escalated:
            times = [o["escalation_time"] for o in escalated if o["escalation_time"] is not None]
            return {**max(escalated, key=lambda o: o["ts"]), "escalation_time": min(times) if times else None}
        return max(verdicts, key=lambda o: o["ts"]) if verdicts else None


def handover_routes(matrix: EscalationMatrix) -> list[dict]:
    """Every route a case can be handed over to, for the console's choice: the levels, then the teams."""
    out = [{"type": "hierarchical", "team": lv.team, "tier": lv.tier, "level": lv.name, "sla_s": lv.sla_s}
           for lv in matrix.hierarchy]
    for rule in matrix.rules.values():
        for team in (rule.target, *rule.by_queue.values()) if rule.target else ():
            route = {"type": "functional", "team": team.team, "tier": team.tier, "level": "", "sla_s": team.sla_s}
            if not any(_same_place(route, r) for r in out):
                out.append(route)
    return out


def _check_allowed(case: Case, kind: str, actor: str) -> None:
    """Raise CaseRefused unless ``actor`` may take step ``kind`` on the case as it is now."""
    if kind == "reopened":
        if not case.closed:
            raise CaseRefused("not_resolved", "the case is not resolved, so there is nothing to reopen")
        return
    if case.closed:
        raise CaseRefused("closed", f"the case is closed: resolved as {case.outcome.replace('_', ' ')} by "
                                    f"{case.holder or 'someone'}", holder=case.holder)
    if kind == "breached":
        if not case.overdue(float("inf")):
            raise CaseRefused("held", "the case was acknowledged", holder=case.holder)
        return
    if kind == "acknowledged":
        if case.status == ACKNOWLEDGED:
            who = "you" if case.holder == actor else case.holder
            raise CaseRefused("held", f"{who} already acknowledged this case", holder=case.holder)
        return
    if case.status != ACKNOWLEDGED:
        raise CaseRefused("held", "claim the case first: nobody has acknowledged it")
    if case.holder != actor:
        raise CaseRefused("held", f"{case.holder} has this case", holder=case.holder)


def _event(case_id: str, call_id: str, kind: str, ts: float, actor: str, version: int, **fields) -> CaseEvent:
    """A checked event; its id is a digest of what it says, so the same request makes the same id."""
    if kind == "opened":
        event_id = f"{case_id}/opened"
    else:
        # A breach's deadline moves with the clock; leaving it out keeps one id per breach of a version,
        # so a worker that checks again before its event comes back makes the same event.
        skip = {"trigger", "due_ts"} if kind == "breached" else {"trigger"}
        content = "|".join(str(fields.get(k, "")) for k in sorted(fields) if k not in skip)
        digest = hashlib.sha1(f"{case_id}|{version}|{kind}|{actor}|{content}".encode()).hexdigest()[:12]
        event_id = f"{case_id}/{version}/{kind}/{digest}"
    event = CaseEvent(event_id=event_id, case_id=case_id, call_id=call_id, kind=kind, ts=float(ts), actor=actor,
                      version=version, **fields)
    try:
        event.validate()
    except MalformedMessage as exc:
        raise CaseRefused("invalid", str(exc).removeprefix("case_event: ")) from None
    return event


def _breach_alert(case: Case, route: dict, now: float, top: bool) -> dict:
    """The supervisor alert a missed response time raises (callradar.pipeline.records.Alert fields)."""
    was = case.route.get("team", "?")
    n = case.breaches + 1
    if top:
        message = (f"Response time missed: {was} (tier {route['tier']}) has not acknowledged the "
                   f"{case.trigger.replace('_', ' ')} escalation on call {case.call_id}; it is at the top of the "
                   "hierarchy")
    else:
        message = (f"Response time missed: {was} did not acknowledge the {case.trigger.replace('_', ' ')} "
                   f"escalation on call {case.call_id} within {_duration(float(case.route.get('sla_s', 0)))}; "
                   f"route: {route['team']} (tier {route['tier']}), respond within {_duration(float(route['sla_s']))}")
    return {"alert_id": make_alert_id(case.call_id, "escalation_risk", f"{case.case_id}/breach/{n}", case.trigger),
            "alert_type": "escalation_risk", "call_id": case.call_id, "utterance_id": case.utterance_id,
            "risk": case.risk, "trigger": case.trigger, "reasons": [], "message": message, "prompt_id": "",
            "route": route, "call_time": case.call_time, "audio_end_ts": 0.0, "created_ts": now, "snippet": {}}


def _same_place(a: dict, b: dict) -> bool:
    return all(a.get(k, "") == b.get(k, "") for k in ("type", "team", "level"))


def _text(value, what: str, required: bool = False) -> str:
    if not isinstance(value, str):
        raise CaseRefused("invalid", f"{what} must be text")
    value = value.strip()
    if required and not value:
        raise CaseRefused("invalid", f"{what} is empty")
    if len(value) > MAX_CASE_TEXT:
        raise CaseRefused("invalid", f"{what} is over {MAX_CASE_TEXT} characters")
    return value


def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


def _duration(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min" if seconds < 7200 else f"{seconds / 3600:g} h"


# ---------------------------------------------------------------- what the verdicts teach


def outcome_for(case: Case) -> dict | None:
    """The calls.outcomes record (training's Outcome fields) a resolved case gives; None while it is open.

    Customer escalated, or resolved at tier 2 or above: escalated, at the call time the
    resolution gives, else the opening alert's. False alarm, or resolved by the agent at
    tier 1: calm.
    """
    if not case.closed:
        return None
    escalated = case.outcome == "customer_escalated" or (case.outcome == "resolved"
                                                         and case.tier >= ESCALATED_FROM_TIER)
    when = (case.resolved_call_time or case.call_time or None) if escalated else None
    return {"call_id": case.call_id, "outcome": "escalated" if escalated else "calm", "escalation_time": when,
            "source": OUTCOME_SOURCE, "ts": case.resolved_ts}


def alert_precision(verdicts: Iterable[tuple[str, str]]) -> dict[str, dict]:
    """Per trigger, from (trigger, case outcome) pairs: confirmed, false alarms and their precision.

    A resolved or customer-escalated case confirms its alert; a false alarm does not;
    an open case ("" outcome) is no verdict yet. ``precision`` is None with no verdicts.
    """
    out: dict[str, dict] = {}
    for trigger, outcome in verdicts:
        if outcome not in CASE_OUTCOMES:
            continue
        row = out.setdefault(trigger, {"confirmed": 0, "false_alarm": 0, "precision": None})
        row["false_alarm" if outcome == "false_alarm" else "confirmed"] += 1
    for row in out.values():
        row["precision"] = row["confirmed"] / (row["confirmed"] + row["false_alarm"])
    return dict(sorted(out.items()))
