"""Escalation cases on the real broker, with the worker as a process: a case from its alert to its resolution
whose outcome becomes the call's label in the archive; a missed response time climbing the hierarchy with one
webhook post per route; a worker killed and replaced, its open case rebuilt and acted on exactly once."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from callradar.agents.cases import CaseBook
from callradar.agents.routing import EscalationMatrix
from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.processes import WorkerProcess
from callradar.pipeline.records import Alert, CallEvent, CaseEvent, Topics, Utterance

pytestmark = [pytest.mark.integration]

ENV = {"CALLRADAR_ASSIST_SEMANTIC": "false", "CALLRADAR_LOG_LEVEL": "INFO"}  # the trigger stage without the encoder


def private(kafka_settings, name: str, **changes):
    """Settings with topics (and so a consumer group) of the test's own; the partitions visible before use."""
    settings = dataclasses.replace(kafka_settings, topic_prefix=f"{kafka_settings.topic_prefix}{name}{time.time_ns()}-",
                                   **changes)
    kafka_io.ensure_topics(settings)
    topics = Topics(settings.topic_prefix)
    probe = kafka_io.make_consumer(settings, None)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        set(topics.all()) <= probe.topics() and all(probe.partitions_for_topic(t) for t in topics.all())
    ):
        time.sleep(0.2)
    probe.close()
    return settings, topics


def send(settings, topic: str, *records) -> None:
    producer = kafka_io.make_producer(settings)
    try:
        for record in records:
            producer.send(topic, key=record.call_id, value=record.encode())
        producer.flush(10)
    finally:
        producer.close(5)


def case_events(settings, topics, done, timeout_s: float = 30.0) -> list[CaseEvent]:
    """calls.cases from the start, decoded, once ``done(events)`` holds (or the time is up)."""
    got: list[CaseEvent] = []

    def until(records):
        got[:] = [CaseEvent.decode(r.value) for r in records]
        return done(got)

    kafka_io.read_topic(settings, topics.cases, timeout_s=timeout_s, until=until)
    return got


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def supervisor_alert(matrix: EscalationMatrix, call_id: str, alert_id: str) -> Alert:
    return Alert(alert_id, "escalation_risk", call_id, f"{call_id}/customer/0", 0.93, "supervisor_request", [],
                 "Escalation risk 0.93: asked for a supervisor", route=matrix.route("supervisor_request"),
                 call_time=6.0, created_ts=time.time())


def act_as_console(settings, topics, matrix, events, make):
    """What the console does: rebuild the book, make the action's event, publish it, see it come back."""
    book = CaseBook.rebuild(events, matrix)
    event = make(book)
    send(settings, topics.cases, event)
    back = case_events(settings, topics, lambda evs: any(e.event_id == event.event_id for e in evs))
    assert any(e.event_id == event.event_id for e in back)
    return back


def write_matrix(tmp_path, text: str) -> str:
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    return str(path)


def test_a_case_from_alert_to_resolution_becomes_the_calls_label_in_the_archive(kafka_settings, tmp_path):
    from callradar.pipeline.cli.archive import run_archive
    from callradar.training.labelled_calls import read_calls

    settings, topics = private(kafka_settings, "case")
    matrix = EscalationMatrix.load()
    worker = WorkerProcess(settings, tmp_path / "worker.log", stages="trigger", extra_env=ENV).start()
    out, stop, lines = tmp_path / "archive", threading.Event(), []
    archive = threading.Thread(target=run_archive, args=(settings, out, stop), daemon=True,
                               kwargs=dict(grace_s=0.5, idle_s=600, report=lines.append, flush_every_s=0.2))
    try:
        worker.wait_ready(120)
        archive.start()
        now = time.time()
        send(settings, topics.events, CallEvent("case-1", "started", now, agent_id="agent-17", queue="billing"))
        time.sleep(1)  # the call's start is read before its first alert, as on a real floor
        send(settings, topics.transcripts, Utterance("case-1/customer/0", "case-1", "customer", 0, 2.0, 6.0,
                                                     "Put me through to your supervisor", 0.9, now))
        send(settings, topics.alerts, supervisor_alert(matrix, "case-1", "al-case-1"))

        events = case_events(settings, topics, lambda evs: "opened" in kinds(evs))
        (opened,) = events
        assert (opened.case_id, opened.agent_id, opened.route["team"]) == ("al-case-1", "agent-17", "floor-supervisors")
        events = act_as_console(settings, topics, matrix, events, lambda b: b.acknowledge("al-case-1", "sam"))
        events = act_as_console(settings, topics, matrix, events,
                                lambda b: b.resolve("al-case-1", "sam", "resolved", tier=2, note="refunded"))

        outcomes = kafka_io.read_topic(settings, topics.outcomes, timeout_s=20,
                                       until=lambda recs: any(b'"case"' in r.value for r in recs))
        (outcome,) = [json.loads(r.value) for r in outcomes]
        assert (outcome["call_id"], outcome["outcome"], outcome["source"]) == ("case-1", "escalated", "case")
        send(settings, topics.events, CallEvent("case-1", "ended", time.time()))

        deadline, calls = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            calls = read_calls(out, labelled_only=True) if out.is_dir() else []
            if calls and calls[0].cases and calls[0].cases[0].status == "resolved":
                break
            time.sleep(0.5)
        (call,) = calls  # what `callradar train risk` reads: labelled by the floor's verdict, no CSV
        assert (call.call_id, call.outcome, call.escalation_time) == ("case-1", "escalated", 6.0), lines
        (case,) = call.cases
        assert (case.acknowledged_by, case.response, case.outcome, case.resolved_tier, case.note) == (
            "sam", "met", "resolved", 2, "refunded")
        assert kinds(case_events(settings, topics, lambda evs: False, timeout_s=3)) == [
            "opened", "acknowledged", "resolved"], "every event once"
    finally:
        stop.set()
        if archive.is_alive():
            archive.join(30)
        worker.stop()


class Receiver(ThreadingHTTPServer):
    """A chat tool's incoming webhook on 127.0.0.1: records each POST (path, JSON body)."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


CLIMBING = """
webhooks:
  floor: {{url: "{url}/floor"}}
  managers: {{url: "{url}/managers"}}
  executives: {{url: "{url}/executives"}}
hierarchy:
  - {{level: supervisor, team: floor-supervisors, tier: 2, sla_s: 1, webhook: floor}}
  - {{level: manager, team: contact-centre-managers, tier: 3, sla_s: 2, webhook: managers}}
  - {{level: executive, team: executive-escalations, tier: 4, sla_s: 3600, webhook: executives}}
rules:
  supervisor_request: {{type: hierarchical}}
  negative_sentiment: {{type: hierarchical}}
"""


def test_a_missed_response_time_climbs_the_hierarchy_raises_alerts_and_posts_each_route_once(kafka_settings,
                                                                                          tmp_path):
    receiver = Receiver()
    path = write_matrix(tmp_path, CLIMBING.format(url=receiver.url))
    matrix = EscalationMatrix.load(path)
    settings, topics = private(kafka_settings, "climb")
    worker = WorkerProcess(settings, tmp_path / "worker.log", stages="trigger",
                           extra_env={**ENV, "CALLRADAR_ESCALATION_MATRIX": path}).start()
    try:
        worker.wait_ready(120)
        send(settings, topics.alerts, supervisor_alert(matrix, "climb-1", "al-climb-1"))
        events = case_events(settings, topics, lambda evs: kinds(evs).count("breached") >= 2)
        assert kinds(events) == ["opened", "breached", "breached"], worker.log_tail()
        assert [e.route["team"] for e in events] == ["floor-supervisors", "contact-centre-managers",
                                                     "executive-escalations"]
        raised = [Alert.decode(r.value) for r in kafka_io.read_topic(
            settings, topics.alerts, timeout_s=15, until=lambda recs: len(recs) >= 3)]
        breach_alerts = [a for a in raised if a.route.get("case_id") == "al-climb-1"]
        assert [a.route["team"] for a in breach_alerts] == ["contact-centre-managers", "executive-escalations"]
        assert [a.alert_id for a in breach_alerts] == [e.alert_id for e in events[1:]]

        time.sleep(3)  # time for a duplicate to show up, if the worker were to send one
        assert kinds(case_events(settings, topics, lambda evs: False, timeout_s=3)) == [
            "opened", "breached", "breached"]
        book = CaseBook.rebuild(events, matrix)
        case = book.get("al-climb-1")
        assert (case.response, case.breaches, case.route["level"]) == ("breached", 2, "executive")
        assert [p for p, _ in receiver.posts] == ["/floor", "/managers", "/executives"], "once per route"
        assert [body["callradar"]["kind"] for _, body in receiver.posts] == ["opened", "breached", "breached"]
        assert all(body["text"] for _, body in receiver.posts)
        metrics = worker.get("/metrics")
        assert 'callradar_webhook_notifications_total{result="sent"} 3.0' in metrics
    finally:
        worker.stop()
        receiver.shutdown()


RESTART = """
hierarchy:
  - {level: supervisor, team: floor-supervisors, tier: 2, sla_s: 12}
  - {level: manager, team: contact-centre-managers, tier: 3, sla_s: 3600}
rules:
  supervisor_request: {type: hierarchical}
  negative_sentiment: {type: hierarchical}
"""


def test_a_replacement_worker_rebuilds_the_open_case_and_acts_on_it_exactly_once(kafka_settings, tmp_path):
    path = write_matrix(tmp_path, RESTART)
    matrix = EscalationMatrix.load(path)
    settings, topics = private(kafka_settings, "restart", consumer_session_timeout_s=6.0)
    env = {**ENV, "CALLRADAR_ESCALATION_MATRIX": path}
    first = WorkerProcess(settings, tmp_path / "first.log", stages="trigger", extra_env=env).start()
    second = None
    try:
        first.wait_ready(120)
        send(settings, topics.events, CallEvent("restart-1", "started", time.time(), agent_id="agent-3"))
        time.sleep(1)  # the call's start is read before its first alert, as on a real floor
        send(settings, topics.alerts, supervisor_alert(matrix, "restart-1", "al-restart-1"))
        assert kinds(case_events(settings, topics, lambda evs: "opened" in kinds(evs))) == ["opened"]
        first.kill()  # a crash: nothing flushed or committed on the way out

        second = WorkerProcess(settings, tmp_path / "second.log", stages="trigger", extra_env=env).start()
        second.wait_ready(120)
        events = case_events(settings, topics, lambda evs: "breached" in kinds(evs), timeout_s=40)
        assert kinds(events) == ["opened", "breached"], second.log_tail()
        assert events[0].agent_id == "agent-3" and events[1].route["team"] == "contact-centre-managers"
        events = act_as_console(settings, topics, matrix, events, lambda b: b.acknowledge("al-restart-1", "lee"))
        events = act_as_console(settings, topics, matrix, events,
                                lambda b: b.resolve("al-restart-1", "lee", "false_alarm"))
        outcomes = kafka_io.read_topic(settings, topics.outcomes, timeout_s=20,
                                       until=lambda recs: any(b'"case"' in r.value for r in recs))
        time.sleep(2)  # time for a duplicate to show up
        outcomes = kafka_io.read_topic(settings, topics.outcomes, timeout_s=5)
        assert [(o["call_id"], o["outcome"], o["source"]) for o in map(json.loads, (r.value for r in outcomes))] == [
            ("restart-1", "calm", "case")]
        everything = case_events(settings, topics, lambda evs: False, timeout_s=3)
        assert kinds(everything) == ["opened", "breached", "acknowledged", "resolved"]
        assert max(Counter(e.event_id for e in everything).values()) == 1, "no case event twice"
    finally:
        first.stop()
        if second is not None:
            second.stop()
