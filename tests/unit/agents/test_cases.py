"""Escalation cases: every transition, every refusal, response times, rebuild, and the labels they give."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

from callradar.agents.cases import (
    ACKNOWLEDGED,
    BREACHED,
    MET,
    OPEN,
    PENDING,
    RESOLVED,
    CaseBook,
    CaseRefused,
    alert_precision,
    handover_routes,
    outcome_for,
)
from callradar.agents.routing import EscalationMatrix
from callradar.pipeline.records import Alert, CaseEvent, MalformedMessage
from callradar.training.labelled_calls import Outcome

T0 = 1_763_800_000.0


@pytest.fixture(scope="module")
def matrix():
    return EscalationMatrix.load()


def alert(matrix, alert_id="a1", call_id="call-1", category="supervisor_request", queue="", created_ts=T0,
          alert_type="escalation_risk", **extra) -> dict:
    doc = {"alert_id": alert_id, "alert_type": alert_type, "call_id": call_id, "utterance_id": f"{call_id}/customer/4",
           "risk": 0.91, "trigger": category, "reasons": [], "message": "Escalation risk 0.91",
           "route": matrix.route(category, queue), "call_time": 35.1, "created_ts": created_ts, **extra}
    Alert.from_dict(doc)  # the fixture is a real alert
    return doc


@pytest.fixture
def book(matrix):
    """A book with one case, a1 on call-1 (supervisor request: floor supervisors, 120 s), nobody on it yet."""
    book = CaseBook(matrix)
    assert book.apply(book.open(alert(matrix), agent_id="agent-17"))
    return book


def act(book: CaseBook, event: CaseEvent) -> CaseEvent:
    """Publish and read back: the event survives the topic's encoding and applies."""
    back = CaseEvent.decode(event.encode())
    assert back == event
    assert book.apply(back), f"{event.kind} did not apply"
    return back


def claimed(book, who="sam", at=T0 + 30):
    act(book, book.acknowledge("a1", who, at))
    return book.get("a1")


@contextmanager
def refused(code: str, *words: str):
    """Expect a CaseRefused of ``code`` whose reason contains ``words``."""
    with pytest.raises(CaseRefused) as info:
        yield info
    assert info.value.code == code, info.value.reason
    for word in words:
        assert word in info.value.reason, info.value.reason


# ---------------------------------------------------------------- opening


def test_a_supervisor_alert_opens_a_case_due_within_its_route_sla(book, matrix):
    case = book.get("a1")
    assert (case.status, case.version, case.holder, case.response) == (OPEN, 1, "", PENDING)
    assert case.route["team"] == "floor-supervisors" and case.due_ts == T0 + 120
    assert (case.call_id, case.trigger, case.agent_id, case.call_time) == ("call-1", "supervisor_request", "agent-17",
                                                                            35.1)
    opened = case.events[0]
    assert (opened.event_id, opened.actor, opened.alert_id) == ("a1/opened", "system", "a1")
    assert book.for_call("call-1") == [case] and book.open_cases() == [case]


def test_prompts_breach_alerts_and_known_alerts_open_no_case(book, matrix):
    assert book.open(alert(matrix, "p1", alert_type="assist_prompt")) is None
    assert book.open(alert(matrix)) is None  # a1 already has its case
    breach_alert = alert(matrix, "b1")
    breach_alert["route"] = {**breach_alert["route"], "case_id": "a1"}
    assert book.open(breach_alert) is None


def test_an_alert_without_a_usable_route_is_refused(book, matrix):
    with refused("invalid", "no usable route"):
        book.open({**alert(matrix, "a2"), "route": {}})


def test_an_alert_without_a_creation_time_is_due_from_now(matrix):
    book = CaseBook(matrix)
    event = book.open(alert(matrix, created_ts=0.0), now=T0 + 5)
    assert event.ts == T0 + 5 and event.due_ts == T0 + 125


def test_a_redelivered_event_changes_nothing(book, matrix):
    event = book.acknowledge("a1", "sam", T0 + 10)
    assert book.apply(event)
    before = book.get("a1").to_dict()
    assert not book.apply(CaseEvent.decode(event.encode()))
    assert not book.apply(book.get("a1").events[0])  # the opened event again
    assert book.get("a1").to_dict() == before


# ---------------------------------------------------------------- acknowledge


def test_the_first_claim_wins_and_the_second_supervisor_is_told_who_has_it(book):
    case = claimed(book, "sam", T0 + 30)
    assert (case.status, case.holder, case.acknowledged_ts, case.response, case.due_ts) == (ACKNOWLEDGED, "sam",
                                                                                            T0 + 30, MET, 0.0)
    with refused("held", "sam already acknowledged") as info:
        book.acknowledge("a1", "kim", T0 + 31)
    assert info.value.holder == "sam" and info.value.status == 409
    with refused("held", "you already acknowledged"):
        book.acknowledge("a1", "sam", T0 + 32)


def test_two_claims_made_at_once_the_first_on_the_topic_wins(book):
    sam = book.acknowledge("a1", "sam", T0 + 30)
    kim = book.acknowledge("a1", "kim", T0 + 30)  # both made against version 1
    assert sam.version == kim.version == 2 and sam.event_id != kim.event_id
    assert book.apply(sam) and not book.apply(kim)
    assert book.get("a1").holder == "sam" and book.get("a1").version == 2 and book.ignored == 1


def test_a_late_acknowledgement_records_the_response_time_as_breached(book):
    case = claimed(book, "sam", T0 + 121)
    assert case.response == BREACHED and case.status == ACKNOWLEDGED


# ---------------------------------------------------------------- coaching


def test_the_holder_coaches_the_calls_agent(book):
    claimed(book)
    event = act(book, book.coach("a1", "sam", "  Offer the refund now.  ", T0 + 40))
    assert (event.kind, event.agent_id, event.message, event.actor) == ("coaching_sent", "agent-17",
                                                                        "Offer the refund now.", "sam")
    assert book.get("a1").status == ACKNOWLEDGED and book.get("a1").version == 3


def test_coaching_a_case_nobody_claimed_or_someone_else_holds_is_refused(book):
    with refused("held", "claim the case first"):
        book.coach("a1", "sam", "hello", T0 + 5)
    claimed(book, "sam")
    with refused("held", "sam has this case"):
        book.coach("a1", "kim", "hello", T0 + 40)


@pytest.mark.parametrize("message, says", [("   ", "empty"), ("x" * 2001, "over 2000"), (42, "must be text")])
def test_a_coaching_message_must_be_some_text(book, message, says):
    claimed(book)
    with refused("invalid", says):
        book.coach("a1", "sam", message, T0 + 40)


def test_coaching_needs_to_know_the_agent(matrix):
    book = CaseBook(matrix)
    book.apply(book.open(alert(matrix)))  # no agent_id from calls.events
    act(book, book.acknowledge("a1", "sam", T0 + 1))
    with refused("invalid", "agent is not known"):
        book.coach("a1", "sam", "hello", T0 + 2)
    assert book.coach("a1", "sam", "hello", T0 + 2, agent_id="agent-9").agent_id == "agent-9"


# ---------------------------------------------------------------- hand over


def test_hand_over_defaults_to_the_next_level_and_waits_for_its_acknowledgement(book):
    claimed(book)
    assert book.default_handover(book.get("a1"))["team"] == "contact-centre-managers"
    event = act(book, book.hand_over("a1", "sam", T0 + 60, note="customer wants a manager"))
    assert (event.route["level"], event.route["type"], event.tier, event.due_ts) == ("manager", "hierarchical", 3,
                                                                                     T0 + 60 + 900)
    case = book.get("a1")
    assert (case.status, case.holder, case.due_ts, case.route["team"]) == (OPEN, "", T0 + 960,
                                                                           "contact-centre-managers")
    act(book, book.acknowledge("a1", "lee", T0 + 100))
    assert book.get("a1").holder == "lee" and book.get("a1").response == MET


def test_hand_over_to_a_route_of_ones_choice_functional_or_hierarchical(book, matrix):
    claimed(book)
    retention = next(r for r in handover_routes(matrix) if r["team"] == "billing-retention")
    event = act(book, book.hand_over("a1", "sam", T0 + 60, route=retention))
    assert event.route["type"] == "functional" and event.route["rule"] == "supervisor_request"
    assert book.get("a1").due_ts == T0 + 60 + 300


def test_a_functional_case_hands_over_to_the_first_level(matrix):
    book = CaseBook(matrix)
    book.apply(book.open(alert(matrix, category="complaint", queue="billing")))
    assert book.get("a1").route["team"] == "billing-specialists"
    act(book, book.acknowledge("a1", "sam", T0 + 1))
    assert book.hand_over("a1", "sam", T0 + 2).route["team"] == "floor-supervisors"


@pytest.mark.parametrize("route, says", [
    ({"type": "sideways", "team": "x", "tier": 2, "sla_s": 60}, "functional or hierarchical"),
    ({"type": "functional", "team": "", "tier": 2, "sla_s": 60}, "team"),
    ({"type": "functional", "team": "x", "tier": 0, "sla_s": 60}, "tier"),
    ({"type": "functional", "team": "x", "tier": 2, "sla_s": -1}, "sla_s"),
    ({"type": "hierarchical", "team": "floor-supervisors", "tier": 2, "level": "supervisor", "sla_s": 120},
     "already with floor-supervisors"),
])
def test_a_bad_or_pointless_hand_over_is_refused(book, route, says):
    claimed(book)
    with refused("invalid", says):
        book.hand_over("a1", "sam", T0 + 60, route=route)


def test_at_the_top_of_the_hierarchy_a_hand_over_needs_a_route(matrix):
    book = CaseBook(matrix)
    top = alert(matrix)
    top["route"] = matrix.route("supervisor_request", nth=3)
    book.apply(book.open(top))
    act(book, book.acknowledge("a1", "sam", T0 + 1))
    assert book.default_handover(book.get("a1")) is None
    with refused("invalid", "top of the hierarchy"):
        book.hand_over("a1", "sam", T0 + 2)


def test_handing_over_needs_the_case(book):
    with refused("held", "claim the case first"):
        book.hand_over("a1", "sam", T0 + 2)
    claimed(book, "sam")
    with refused("held", "sam has this case"):
        book.hand_over("a1", "kim", T0 + 2)


# ---------------------------------------------------------------- resolve, reopen


@pytest.mark.parametrize("outcome", ["resolved", "customer_escalated", "false_alarm"])
def test_the_holder_resolves_with_an_outcome_and_a_note(book, outcome):
    claimed(book)
    event = act(book, book.resolve("a1", "sam", outcome, T0 + 90, note=" refunded "))
    case = book.get("a1")
    assert (case.status, case.outcome, case.tier, case.note, case.resolved_ts) == (RESOLVED, outcome, 2, "refunded",
                                                                                  T0 + 90)
    assert event.tier == 2 and case.closed and book.open_cases() == []


def test_resolving_twice_and_every_action_on_a_closed_case_is_refused(book):
    claimed(book)
    act(book, book.resolve("a1", "sam", "false_alarm", T0 + 90))
    for action in (lambda: book.resolve("a1", "sam", "resolved", T0 + 91),
                   lambda: book.acknowledge("a1", "kim", T0 + 91),
                   lambda: book.coach("a1", "sam", "hi", T0 + 91),
                   lambda: book.hand_over("a1", "sam", T0 + 91)):
        with refused("closed", "resolved as false alarm by sam"):
            action()


@pytest.mark.parametrize("kwargs, says", [
    ({"outcome": "fixed"}, "is not one of"), ({"outcome": "resolved", "tier": 0}, "tier"),
    ({"outcome": "resolved", "tier": True}, "tier"), ({"outcome": "resolved", "call_time": -1}, "call_time"),
    ({"outcome": "resolved", "note": "n" * 2001}, "over 2000"),
])
def test_a_bad_resolution_is_refused(book, kwargs, says):
    claimed(book)
    with refused("invalid", says):
        book.resolve("a1", "sam", now=T0 + 90, **kwargs)


def test_only_the_holder_resolves(book):
    with refused("held", "claim the case first"):
        book.resolve("a1", "sam", "resolved", T0 + 5)
    claimed(book, "sam")
    with refused("held", "sam has this case"):
        book.resolve("a1", "kim", "resolved", T0 + 5)


def test_a_resolved_case_reopens_held_by_whoever_reopened_it(book):
    claimed(book)
    with refused("not_resolved", "nothing to reopen"):
        book.reopen("a1", "sam", T0 + 50)
    act(book, book.resolve("a1", "sam", "false_alarm", T0 + 90))
    act(book, book.reopen("a1", "kim", T0 + 200, note="customer called back angry"))
    case = book.get("a1")
    assert (case.status, case.holder, case.outcome, case.tier) == (ACKNOWLEDGED, "kim", "", 0)
    assert outcome_for(case) is None
    act(book, book.resolve("a1", "kim", "customer_escalated", T0 + 300))
    assert book.get("a1").outcome == "customer_escalated" and book.get("a1").version == 5


# ---------------------------------------------------------------- refusals common to every action


ACTIONS = {
    "acknowledge": lambda b, who, v: b.acknowledge("a1", who, T0 + 50, expected_version=v),
    "coach": lambda b, who, v: b.coach("a1", who, "hi", T0 + 50, expected_version=v),
    "hand_over": lambda b, who, v: b.hand_over("a1", who, T0 + 50, expected_version=v),
    "resolve": lambda b, who, v: b.resolve("a1", who, "resolved", T0 + 50, expected_version=v),
    "reopen": lambda b, who, v: b.reopen("a1", who, T0 + 50, expected_version=v),
}


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_an_action_on_an_unknown_case_is_refused_with_404(matrix, name):
    with refused("unknown", "no case 'a1'") as info:
        ACTIONS[name](CaseBook(matrix), "sam", None)
    assert info.value.status == 404


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_an_action_on_an_old_version_is_refused_as_stale(book, name):
    claimed(book, "sam")  # version 2
    with refused("stale", "version 1, now 2: acknowledged by sam"):
        ACTIONS[name](book, "sam", 1)


@pytest.mark.parametrize("name", sorted(ACTIONS))
@pytest.mark.parametrize("who", ["", "  ", "system", None])
def test_an_action_needs_a_supervisors_name(book, name, who):
    with refused("invalid", "supervisor's name"):
        ACTIONS[name](book, who, None)


def test_the_current_version_is_accepted_and_a_retried_request_makes_the_same_event(book):
    first = book.acknowledge("a1", "sam", T0 + 30, expected_version=1)
    assert book.acknowledge("a1", "sam", T0 + 30, expected_version=1).event_id == first.event_id


# ---------------------------------------------------------------- events from the topic that do not fit


def test_events_the_case_cannot_take_change_nothing(book, matrix):
    other = CaseBook(matrix)
    other.apply(other.open(alert(matrix)))
    sam_ack = other.acknowledge("a1", "sam", T0 + 1)
    other.apply(sam_ack)
    coach_by_sam = other.coach("a1", "sam", "hi", T0 + 2, agent_id="agent-17")  # version 3
    before = book.get("a1").to_dict()
    assert not book.apply(coach_by_sam)  # version gap: 3 on a case at 1
    assert not book.apply(CaseEvent.decode(coach_by_sam.encode().replace(b'"version":3', b'"version":2')
                                           .replace(b"/3/", b"/2x/")))  # right version, but nobody holds it
    stray = CaseEvent(event_id="x/2/acknowledged/1", case_id="x", call_id="call-1", kind="acknowledged", ts=T0,
                      actor="sam", version=2)
    assert not book.apply(stray)  # unknown case
    wrong_call = CaseEvent.decode(sam_ack.encode().replace(b'"call_id":"call-1"', b'"call_id":"call-2"'))
    assert not book.apply(wrong_call)
    assert book.get("a1").to_dict() == before and book.ignored == 4


# ---------------------------------------------------------------- response times


def test_due_lists_open_cases_past_their_response_time(book, matrix):
    book.apply(book.open(alert(matrix, "a2", "call-2", created_ts=T0 + 100)))
    assert book.due(T0 + 119) == []
    assert [c.case_id for c in book.due(T0 + 120)] == ["a1"]
    assert [c.case_id for c in book.due(T0 + 300)] == ["a1", "a2"]
    claimed(book, "sam", T0 + 301)
    assert [c.case_id for c in book.due(T0 + 400)] == ["a2"]


def test_a_breach_climbs_the_hierarchy_raises_an_alert_and_is_recorded(book, matrix):
    (breach,) = book.breaches(T0 + 130)
    event, raised = breach.event, breach.alert
    assert (event.kind, event.actor, event.route["level"], event.due_ts, event.tier) == ("breached", "system",
                                                                                         "manager", T0 + 1030, 3)
    new_alert = Alert.from_dict(raised)  # a valid supervisor alert for calls.alerts
    assert new_alert.alert_type == "escalation_risk" and new_alert.call_id == "call-1"
    assert new_alert.alert_id == event.alert_id != "a1" and new_alert.route["case_id"] == "a1"
    assert "floor-supervisors did not acknowledge" in new_alert.message and "contact-centre-managers" in new_alert.message
    assert new_alert.utterance_id == "call-1/customer/4" and new_alert.risk == 0.91
    assert book.breaches(T0 + 130)[0].event.event_id == event.event_id  # the same breach twice: the same ids
    later = book.breaches(T0 + 131)[0]  # checked again a second later, before the first came back
    assert (later.event.event_id, later.alert["alert_id"]) == (event.event_id, event.alert_id)
    act(book, event)
    case = book.get("a1")
    assert (case.status, case.response, case.breaches, case.route["team"]) == (OPEN, BREACHED, 1,
                                                                               "contact-centre-managers")
    assert case.alert_ids == ["a1", event.alert_id] and book.by_alert[event.alert_id] == "a1"
    assert book.open(raised) is None, "the breach's alert belongs to this case"
    assert book.due(T0 + 1029) == []
    act(book, book.acknowledge("a1", "lee", T0 + 500))
    assert book.get("a1").response == BREACHED, "a breach stays on the record"


def test_at_the_top_a_breach_stays_breached_and_climbs_no_further(book):
    for now, level, due in ((T0 + 130, "manager", T0 + 130 + 900), (T0 + 1100, "executive", T0 + 1100 + 3600)):
        (breach,) = book.breaches(now)
        assert (breach.event.route["level"], breach.event.due_ts) == (level, due)
        act(book, breach.event)
    assert book.breaches(T0 + 4699) == []
    (last,) = book.breaches(T0 + 4700)
    assert last.event.route["level"] == "executive" and last.event.due_ts == 0.0
    assert "top of the hierarchy" in last.alert["message"] and Alert.from_dict(last.alert)
    act(book, last.event)
    assert book.due(T0 + 10**6) == [] and book.breaches(T0 + 10**6) == []
    case = book.get("a1")
    assert (case.breaches, case.response, case.status, case.route["team"]) == (3, BREACHED, OPEN,
                                                                                "executive-escalations")
    act(book, book.acknowledge("a1", "ceo", T0 + 10**5))  # still acknowledgeable
    assert book.get("a1").holder == "ceo"


def test_a_claim_racing_a_breach_the_first_on_the_topic_wins(book, matrix):
    (breach,) = book.breaches(T0 + 130)
    claim = book.acknowledge("a1", "sam", T0 + 130)
    assert book.apply(claim) and not book.apply(breach.event)
    assert book.get("a1").route["team"] == "floor-supervisors" and book.get("a1").response == BREACHED  # late claim

    other = CaseBook.rebuild([book.get("a1").events[0]], matrix)
    assert other.apply(breach.event) and not other.apply(claim)
    assert other.get("a1").status == OPEN and other.get("a1").route["team"] == "contact-centre-managers"


def test_an_acknowledged_case_is_never_due(book):
    claimed(book)
    assert book.due(T0 + 10**6) == [] and book.breaches(T0 + 10**6) == []


# ---------------------------------------------------------------- rebuild


def test_rebuild_from_the_topic_gives_the_same_cases(book, matrix):
    book.apply(book.open(alert(matrix, "a2", "call-2")))
    claimed(book, "sam")
    act(book, book.coach("a1", "sam", "Offer the refund.", T0 + 40))
    losing = book.acknowledge("a2", "kim", T0 + 41)
    act(book, book.acknowledge("a2", "lee", T0 + 41))
    book.apply(losing)
    (breach,) = book.breaches(T0 + 10**4) or [None]
    assert breach is None  # both acknowledged
    act(book, book.resolve("a1", "sam", "customer_escalated", T0 + 90, call_time=80.0))
    topic = [e.encode() for c in book.cases.values() for e in c.events] + [losing.encode()]
    topic += topic[:3]  # redelivered
    rebuilt = CaseBook.rebuild((CaseEvent.decode(raw) for raw in topic), matrix)
    assert {k: c.to_dict() for k, c in rebuilt.cases.items()} == {k: c.to_dict() for k, c in book.cases.items()}
    assert rebuilt.open_cases()[0].case_id == "a2"
    json.dumps(rebuilt.get("a1").to_dict())  # plain JSON for the console


# ---------------------------------------------------------------- outcomes and precision


def resolved_case(matrix, outcome, tier=None, call_time=0.0, alert_id="a1", call_id="call-1"):
    book = CaseBook(matrix)
    book.apply(book.open(alert(matrix, alert_id, call_id)))
    book.apply(book.acknowledge(alert_id, "sam", T0 + 10))
    book.apply(book.resolve(alert_id, "sam", outcome, T0 + 90, tier=tier, call_time=call_time))
    return book


@pytest.mark.parametrize("outcome, tier, call_time, label, when", [
    ("customer_escalated", None, 0.0, "escalated", 35.1),  # the opening alert's call time
    ("customer_escalated", 1, 80.0, "escalated", 80.0),  # the time the resolution gives
    ("resolved", 2, 0.0, "escalated", 35.1),
    ("resolved", 3, 0.0, "escalated", 35.1),
    ("resolved", 1, 0.0, "calm", None),  # the agent kept it at tier 1
    ("false_alarm", None, 50.0, "calm", None),
])
def test_a_resolved_case_gives_the_training_label(matrix, outcome, tier, call_time, label, when):
    book = resolved_case(matrix, outcome, tier, call_time)
    record = outcome_for(book.get("a1"))
    assert record == {"call_id": "call-1", "outcome": label, "escalation_time": when, "source": "case", "ts": T0 + 90}
    assert Outcome.from_dict(record).outcome == label  # what calls.outcomes accepts


def test_an_open_case_gives_no_label(book):
    assert outcome_for(book.get("a1")) is None and book.call_outcome("call-1") is None


def test_a_call_with_several_cases_is_escalated_if_any_says_so(matrix):
    book = resolved_case(matrix, "customer_escalated", call_time=80.0)
    book.apply(book.open(alert(matrix, "a2", "call-1", category="complaint")))
    assert book.call_outcome("call-1")["outcome"] == "escalated"
    book.apply(book.acknowledge("a2", "kim", T0 + 100))
    book.apply(book.resolve("a2", "kim", "false_alarm", T0 + 200))  # later, but a calm verdict
    combined = book.call_outcome("call-1")
    assert combined["outcome"] == "escalated" and combined["escalation_time"] == 80.0
    assert resolved_case(matrix, "false_alarm").call_outcome("call-1")["outcome"] == "calm"
    assert book.call_outcome("call-9") is None


def test_alert_precision_per_trigger_from_the_verdicts():
    verdicts = [("complaint", "resolved"), ("complaint", "false_alarm"), ("complaint", "customer_escalated"),
                ("complaint", "false_alarm"), ("legal_threat", "customer_escalated"), ("cancellation", ""),
                ("negative_sentiment", "false_alarm")]
    assert alert_precision(verdicts) == {
        "complaint": {"confirmed": 2, "false_alarm": 2, "precision": 0.5},
        "legal_threat": {"confirmed": 1, "false_alarm": 0, "precision": 1.0},
        "negative_sentiment": {"confirmed": 0, "false_alarm": 1, "precision": 0.0},
    }
    assert alert_precision([]) == {}


# ---------------------------------------------------------------- the record on calls.cases


def good_event(**change) -> bytes:
    doc = {"v": 1, "type": "case_event", "event_id": "a1/2/acknowledged/x", "case_id": "a1", "call_id": "call-1",
           "kind": "acknowledged", "ts": T0, "actor": "sam", "version": 2, **change}
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


ROUTE = {"type": "hierarchical", "team": "floor-supervisors", "tier": 2, "level": "supervisor", "sla_s": 120.0}


def test_a_well_formed_case_event_decodes():
    assert CaseEvent.decode(good_event()).actor == "sam"
    opened = CaseEvent.decode(good_event(kind="opened", version=1, route=ROUTE, alert_id="a1", trigger="complaint"))
    assert opened.route == ROUTE


@pytest.mark.parametrize("change, says", [
    ({"kind": "escalated"}, "kind 'escalated' is not one of"),
    ({"version": 0}, "version must be at least 1"),
    ({"version": 1}, "opened, and only opened, is version 1"),
    ({"kind": "opened", "version": 1, "alert_id": "a1", "trigger": "complaint"}, "opened needs a route"),
    ({"kind": "opened", "version": 1, "route": ROUTE}, "opened needs alert_id and trigger"),
    ({"kind": "handed_over", "route": {**ROUTE, "tier": "2"}}, "handed_over needs a route: tier"),
    ({"kind": "resolved"}, "resolved needs an outcome"),
    ({"kind": "resolved", "outcome": "fixed"}, "resolved needs an outcome"),
    ({"outcome": "resolved"}, "only resolved carries an outcome"),
    ({"kind": "coaching_sent", "agent_id": "agent-17"}, "coaching_sent needs agent_id and a message"),
    ({"actor": ""}, "actor must be 1 to 256"),
    ({"call_id": "c" * 129}, "call_id must be 1 to 128"),
    ({"ts": -1}, "times must be >= 0"),
    ({"risk": 1.5}, "risk must be in [0, 1]"),
    ({"tier": 2.5}, "tier must be a whole number"),
    ({"note": "n" * 2001}, "at most 2000"),
    ({"event_id": None}, "missing field(s) event_id"),
    ({"v": 2}, "unsupported version"),
])
def test_a_malformed_case_event_is_refused_with_its_reason(change, says):
    with pytest.raises(MalformedMessage, match=says.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        CaseEvent.decode(good_event(**change))


def test_a_case_event_that_is_not_json_is_refused():
    with pytest.raises(MalformedMessage, match="case_event: not valid JSON"):
        CaseEvent.decode(b"{nope")
