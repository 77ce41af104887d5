"""The case stage without Kafka: cases open from supervisor alerts, change only as their events come back,
breach once per version, notify the route's webhook on a live apply only, and a resolution gives the label."""

from __future__ import annotations

import pytest

from callradar.agents.notify import Notifier
from callradar.agents.routing import EscalationMatrix
from callradar.pipeline.records import Alert, CallEvent, CaseEvent, MalformedMessage
from callradar.pipeline.stages.cases import BREACH_RESEND_S, MAX_ALERT_AGE_S, NOTIFY_MAX_AGE_S, CaseProcessor
from callradar.training.labelled_calls import Outcome

T0 = 1_763_800_000.0
MATRIX = """
webhooks:
  floor: {url: "http://127.0.0.1:9/floor"}
  managers: {url: "http://127.0.0.1:9/managers"}
hierarchy:
  - {level: supervisor, team: floor-supervisors, tier: 2, sla_s: 60, webhook: floor}
  - {level: manager, team: managers, tier: 3, sla_s: 120, webhook: managers}
rules:
  supervisor_request: {type: hierarchical}
  negative_sentiment: {type: hierarchical}
"""


class FakeNotifier:
    def __init__(self):
        self.sent: list[tuple[str, str, str]] = []  # (kind, webhook name, alert id)

    def notify_case(self, matrix, event, alert=None) -> bool:
        hook = matrix.webhook_for(event.route)
        if hook is None:
            return False
        self.sent.append((event.kind, hook.name, (alert or {}).get("alert_id", "")))
        return True


@pytest.fixture
def matrix():
    return EscalationMatrix.from_yaml(MATRIX)


@pytest.fixture
def stage(matrix):
    return CaseProcessor(matrix, FakeNotifier(), clock=lambda: T0)


def alert(matrix, alert_id="a1", call_id="call-1", alert_type="escalation_risk", created_ts=T0, **extra) -> Alert:
    return Alert(alert_id, alert_type, call_id, f"{call_id}/customer/2", 0.9, "supervisor_request", [], "Escalate",
                 route=matrix.route("supervisor_request"), call_time=12.0, created_ts=created_ts, **extra)


def back(event: CaseEvent) -> CaseEvent:
    """As it comes back from calls.cases."""
    return CaseEvent.decode(event.encode())


def opened(stage, matrix, partition=0, **kw) -> CaseEvent:
    event = stage.on_alert(alert(matrix, **kw), now=T0)
    assert event is not None and stage.apply(back(event), partition, now=T0) is None
    return event


def test_a_supervisor_alert_opens_a_case_with_the_calls_agent_once_it_comes_back(stage, matrix):
    stage.on_call_event(CallEvent("call-1", "started", T0 - 30, agent_id="agent-17"))
    event = stage.on_alert(alert(matrix), now=T0)
    assert (event.kind, event.case_id, event.agent_id, event.due_ts) == ("opened", "a1", "agent-17", T0 + 60)
    assert stage.book.cases == {} and stage.notifier.sent == [], "nothing changes until the event comes back"
    assert stage.apply(back(event), partition=2, now=T0) is None
    assert stage.book.get("a1").agent_id == "agent-17" and stage.partition_of == {"a1": 2}
    assert stage.notifier.sent == [("opened", "floor", "a1")]
    assert stage.apply(back(event), partition=2, now=T0) is None  # redelivered: changes nothing
    assert stage.notifier.sent == [("opened", "floor", "a1")] and stage.open_cases == 1 and stage.skipped == 1
    assert stage.on_alert(alert(matrix), now=T0 + 1) is None, "the alert has its case"


def test_prompts_breach_alerts_and_old_alerts_open_no_case(stage, matrix):
    assert stage.on_alert(alert(matrix, alert_type="assist_prompt"), now=T0) is None
    breach = alert(matrix, "b1")
    breach.route["case_id"] = "a0"
    assert stage.on_alert(breach, now=T0) is None
    assert stage.on_alert(alert(matrix, "old", created_ts=T0 - MAX_ALERT_AGE_S - 1), now=T0) is None
    assert stage.old_alerts == 1


def test_a_supervisor_alert_without_a_usable_route_is_refused_with_the_reason(stage, matrix):
    bad = alert(matrix)
    bad.route["sla_s"] = 0
    with pytest.raises(MalformedMessage, match="no usable route.*sla_s"):
        stage.on_alert(bad, now=T0)


def test_a_missed_response_time_breaches_once_climbs_and_notifies_the_next_route(stage, matrix):
    opened(stage, matrix)
    assert stage.breaches(T0 + 59) == []
    (breach,) = stage.breaches(T0 + 61)
    assert (breach.event.kind, breach.event.route["team"], breach.alert["route"]["case_id"]) == (
        "breached", "managers", "a1")
    assert Alert.from_dict(breach.alert).alert_type == "escalation_risk"
    assert stage.breaches(T0 + 62) == [], "published, not back yet: not again"
    (again,) = stage.breaches(T0 + 61 + BREACH_RESEND_S)  # never came back: once more, the same ids
    assert (again.event.event_id, again.alert["alert_id"]) == (breach.event.event_id, breach.alert["alert_id"])
    assert stage.apply(back(breach.event), 0, now=T0 + 62) is None
    assert stage.apply(back(again.event), 0, now=T0 + 63) is None
    case = stage.book.get("a1")
    assert (case.response, case.breaches, case.route["team"]) == ("breached", 1, "managers")
    assert stage.notifier.sent == [("opened", "floor", "a1"), ("breached", "managers", breach.alert["alert_id"])]
    assert stage.on_alert(Alert.from_dict(breach.alert), now=T0 + 63) is None, "the breach's alert opens no case"
    assert case.due_ts == T0 + 61 + 120  # the manager's response time, from the breach
    assert stage.breaches(T0 + 180) == [] and len(stage.breaches(T0 + 181)) == 1  # the top: once more


def test_breaches_only_for_the_partitions_this_worker_owns(stage, matrix):
    opened(stage, matrix, partition=1)
    opened(stage, matrix, partition=3, alert_id="a2", call_id="call-2")
    assert [b.event.case_id for b in stage.breaches(T0 + 61, partitions=[3])] == ["a2"]


def test_a_claim_in_time_means_no_breach(stage, matrix):
    opened(stage, matrix)
    stage.apply(back(stage.book.acknowledge("a1", "sam", now=T0 + 10)), 0, now=T0 + 10)
    assert stage.breaches(T0 + 1000) == [] and stage.book.get("a1").response == "met"


def test_a_resolution_gives_the_calls_outcome_from_the_case(stage, matrix):
    opened(stage, matrix)
    for make in (lambda b: b.acknowledge("a1", "sam", now=T0 + 5),
                 lambda b: b.resolve("a1", "sam", "customer_escalated", now=T0 + 50, call_time=40.0)):
        outcome = stage.apply(back(make(stage.book)), 0, now=T0 + 50)
    record = Outcome.from_dict(outcome)
    assert (record.call_id, record.outcome, record.escalation_time, record.source) == ("call-1", "escalated", 40.0,
                                                                                      "case")
    false_alarm = stage.book.reopen("a1", "sam", now=T0 + 60)
    assert stage.apply(back(false_alarm), 0, now=T0 + 60) is None
    outcome = stage.apply(back(stage.book.resolve("a1", "sam", "false_alarm", now=T0 + 70)), 0, now=T0 + 70)
    assert (outcome["outcome"], outcome["escalation_time"]) == ("calm", None)


def test_a_hand_over_notifies_the_new_routes_webhook(stage, matrix):
    opened(stage, matrix)
    stage.apply(back(stage.book.acknowledge("a1", "sam", now=T0 + 5)), 0, now=T0 + 5)
    stage.apply(back(stage.book.hand_over("a1", "sam", now=T0 + 6)), 0, now=T0 + 6)
    assert stage.notifier.sent[-1] == ("handed_over", "managers", "")


def test_a_rebuild_applies_silently_and_live_events_after_it_act(matrix):
    """What an earlier owner handled (before the committed offset) is applied without side effects."""
    first = CaseProcessor(matrix, FakeNotifier(), clock=lambda: T0)
    events = [opened(first, matrix)]
    events.append(first.book.acknowledge("a1", "sam", now=T0 + 5))
    first.apply(back(events[-1]), 0, now=T0 + 5)
    events.append(first.book.resolve("a1", "sam", "resolved", now=T0 + 9, tier=1))

    again = CaseProcessor(matrix, FakeNotifier(), clock=lambda: T0 + 10)
    assert [again.apply(back(e), 0, live=False) for e in events[:2]] == [None, None]
    assert again.notifier.sent == [] and again.book.get("a1").holder == "sam"
    outcome = again.apply(back(events[2]), 0)  # past the committed offset: the last owner may not have acted
    assert outcome["outcome"] == "calm" and again.apply(back(events[2]), 0) is None


def test_stale_events_send_no_webhook(stage, matrix):
    event = stage.on_alert(alert(matrix), now=T0)
    stage.apply(back(event), 0, now=T0 + NOTIFY_MAX_AGE_S + 1)
    assert stage.notifier.sent == [] and "a1" in stage.book.cases


def test_partitions_taken_away_are_forgotten_and_can_be_rebuilt(stage, matrix):
    event = opened(stage, matrix, partition=1)
    opened(stage, matrix, partition=2, alert_id="a2", call_id="call-2")
    assert stage.forget_partitions([1]) == 1
    assert set(stage.book.cases) == {"a2"} and "a1" not in stage.book.by_alert
    assert stage.apply(back(event), 1, live=False) is None and "a1" in stage.book.cases


def test_agents_are_forgotten_a_while_after_their_call_ends(stage):
    stage.on_call_event(CallEvent("call-1", "started", T0, agent_id="agent-1"))
    stage.on_call_event(CallEvent("call-2", "started", T0, agent_id="agent-2"))
    stage.on_call_event(CallEvent("call-1", "ended", T0 + 60))
    assert stage.evict(T0 + 600) == [] and stage.evict(T0 + 661) == ["call-1"]
    assert list(stage.agents) == ["call-2"]
    assert stage.evict(T0 + 86_401) == ["call-2"], "a call whose end never came"


def test_the_real_notifier_posts_the_case_to_the_routes_url_without_blocking(matrix):
    posted = []
    notifier = Notifier(post=lambda url, body, timeout_s: posted.append((url, body)) or 200)
    try:
        stage = CaseProcessor(matrix, notifier, clock=lambda: T0)
        opened(stage, matrix)
        assert notifier.flush(5)
    finally:
        notifier.close()
    ((url, body),) = posted
    assert url == "http://127.0.0.1:9/floor" and b'"case_id":"a1"' in body and notifier.counts()["sent"] == 1


def test_webhook_counts_and_open_cases_are_on_metrics(matrix):
    from callradar.pipeline.metrics import PrometheusMetrics

    metrics = PrometheusMetrics(("trigger", "cases"))
    notifier = Notifier(post=lambda url, body, timeout_s: 500, tries=1)
    try:
        stage = CaseProcessor(matrix, notifier, clock=lambda: T0)
        metrics.watch_webhooks(notifier.reads())
        metrics.watch_open_cases(lambda: stage.open_cases)
        opened(stage, matrix)
        assert notifier.flush(5)
    finally:
        notifier.close()
    text = metrics.exposition()[0].decode()
    assert 'callradar_webhook_notifications_total{result="failed"} 1.0' in text
    assert 'callradar_webhook_notifications_total{result="sent"} 0.0' in text
    assert "callradar_cases_open 1.0" in text
    assert 'callradar_messages_total{stage="cases"} 0.0' in text


@pytest.mark.parametrize("matrix_text, problem", [
    ('webhooks:\n  floor: {url: "ftp://chat.example.com/x"}\n', "webhooks.floor.url: must be an http or https URL"),
    ('webhooks:\n  floor: {url: "https://chat.example.com/x"}\n', "no webhook named 'nowhere'"),
])
def test_a_bad_webhook_stops_the_worker_with_one_line_and_exit_2(tmp_path, monkeypatch, capsys, matrix_text, problem):
    from callradar.pipeline.cli.main import main

    body = MATRIX.split("hierarchy:", 1)[1].replace("webhook: floor", "webhook: nowhere" if "nowhere" in problem
                                                    else "webhook: floor").replace(", webhook: managers", "")
    path = tmp_path / "matrix.yaml"
    path.write_text(matrix_text + "hierarchy:" + body)
    monkeypatch.setenv("CALLRADAR_ESCALATION_MATRIX", str(path))
    monkeypatch.setenv("CALLRADAR_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # never reached: the check comes first
    assert main(["worker", "--stages", "trigger"]) == 2
    err = capsys.readouterr().err.strip()
    assert problem in err and len(err.splitlines()) == 1 and str(path) in err
    assert "chat.example.com" not in err, "a webhook URL is a secret"
