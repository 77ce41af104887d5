"""Webhook notifications: the matrix's webhooks checked at load, and delivery to a real HTTP receiver."""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from callradar.agents.cases import CaseBook
from callradar.agents.notify import Notifier, Webhook, case_message, url_problem
from callradar.agents.routing import DEFAULT_MATRIX, EscalationMatrix, MatrixError
from callradar.agents.yaml_lines import ConfigError

MATRIX = """\
webhooks:
  floor: {url: "http://127.0.0.1:9/hooks/floor"}
  billing: {url: "https://chat.example.com/hooks/billing"}
hierarchy:
  - {level: supervisor, team: floor-supervisors, tier: 2, sla_s: 120, webhook: floor}
  - {level: manager, team: managers, tier: 3, sla_s: 900}
rules:
  negative_sentiment: {type: hierarchical}
  complaint:
    type: functional
    team: customer-relations
    sla_s: 1800
    webhook: floor
    by_queue:
      billing: {team: billing-specialists, webhook: billing}
      orders: {team: fulfilment}
  cancellation: {type: functional, team: retention, sla_s: 300}
"""


# ---------------------------------------------------------------- the matrix's webhooks


def test_routes_name_their_webhooks_and_overrides_inherit_them():
    m = EscalationMatrix.from_yaml(MATRIX)
    assert m.webhook_for(m.route("negative_sentiment")) == m.webhooks["floor"]  # a hierarchical rule: its level's
    assert m.webhook_for(m.route("negative_sentiment", nth=2)) is None  # managers name none
    assert m.webhook_for(m.route("complaint")).name == "floor"
    assert m.webhook_for(m.route("complaint", queue="billing")).name == "billing"
    assert m.webhook_for(m.route("complaint", queue="orders")).name == "floor"  # inherited from the rule
    assert m.webhook_for(m.route("cancellation")) is None
    assert m.webhook_for({}) is None
    assert "chat.example.com" not in repr(m.webhooks["billing"]), "webhook URLs are secrets"


def test_the_bundled_matrix_names_no_webhooks():
    m = EscalationMatrix.load(DEFAULT_MATRIX)
    assert m.webhooks == {} and m.webhook_for(m.route("complaint")) is None


@pytest.mark.parametrize("change, line, says", [
    (('"http://127.0.0.1:9/hooks/floor"', '"ftp://127.0.0.1/hooks"'), 2, "webhooks.floor.url: must be an http or https URL, not ftp:"),
    (('"http://127.0.0.1:9/hooks/floor"', '"hooks.example.com/x"'), 2, "not one without a scheme"),
    (('"http://127.0.0.1:9/hooks/floor"', '"http:///nohost"'), 2, "the URL has no host"),
    (('"http://127.0.0.1:9/hooks/floor"', '"http://h:99999/x"'), 2, "not a valid URL"),
    (("{url: \"https://chat.example.com/hooks/billing\"}", "{uri: x}"), 3, "webhooks.billing: unknown key(s) uri"),
    (("webhook: floor}", "webhook: flor}"), 5, "hierarchy[0].webhook: no webhook named 'flor' under webhooks (billing, floor)"),
    (("    webhook: floor\n", "    webhook: nope\n"), 13, "rules.complaint.webhook: no webhook named 'nope'"),
    (("webhook: billing}", "webhook: 7}"), 15, "rules.complaint.by_queue.billing.webhook: expected a non-empty string"),
])
def test_a_bad_webhook_stops_loading_with_the_line(change, line, says):
    text = MATRIX.replace(*change)
    assert text != MATRIX
    with pytest.raises(MatrixError) as info:
        EscalationMatrix.from_yaml(text, "matrix.yaml")
    message = str(info.value)
    assert message.startswith(f"matrix.yaml: line {line}: ") and says in message and "\n" not in message
    assert "chat.example.com" not in message and "127.0.0.1" not in message, "the URL is a secret"
    assert isinstance(info.value, ConfigError)  # what `callradar worker` turns into one line and exit 2


def test_a_route_naming_a_webhook_when_none_are_defined():
    text = "hierarchy:\n  - {level: s, team: t, tier: 2, sla_s: 60, webhook: chat}\nrules:\n  negative_sentiment: {type: hierarchical}\n"
    with pytest.raises(MatrixError, match=r"line 2: hierarchy\[0\].webhook: no webhook named 'chat' under webhooks \(none are defined\)"):
        EscalationMatrix.from_yaml(text)


@pytest.mark.parametrize("url, ok", [("http://127.0.0.1:8080/x", True), ("https://hooks.slack.com/services/T/B/X", True),
                                     ("HTTPS://example.com", True), ("file:///etc/passwd", False), ("", False)])
def test_url_problem(url, ok):
    assert (url_problem(url) is None) == ok


# ---------------------------------------------------------------- a real receiver on 127.0.0.1


class Receiver:
    """An HTTP server in a thread answering each POST with the next status in ``statuses`` (then the last)."""

    def __init__(self, port: int = 0, statuses=(200,)):
        received, answers = [], list(statuses)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers["Content-Type"], json.loads(body)))
                status = answers.pop(0) if len(answers) > 1 else answers[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def notifier():
    n = Notifier(tries=4, backoff_s=0.05, timeout_s=2.0)
    yield n
    n.close()


def wait_for(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_message_reaches_the_receiver_as_chat_json(receiver, notifier):
    notifier.notify(Webhook("chat", receiver.url), {"text": "hello", "callradar": {"call_id": "c1"}})
    assert notifier.flush()
    assert receiver.received == [("application/json", {"text": "hello", "callradar": {"call_id": "c1"}})]
    assert notifier.counts() == {"sent": 1, "failed": 0, "dropped": 0}


def test_a_receiver_that_is_down_then_up_gets_the_message_on_a_retry():
    with socket.socket() as s:  # a free port, with nothing listening on it yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notifier = Notifier(tries=6, backoff_s=0.1, timeout_s=2.0)
    try:
        notifier.notify(Webhook("chat", f"http://127.0.0.1:{port}/hook"), {"text": "are you there"})
        time.sleep(0.15)  # the first try was refused
        assert notifier.counts()["sent"] == 0
        receiver = Receiver(port)
        try:
            assert notifier.flush()
            assert [body for _, body in receiver.received] == [{"text": "are you there"}]
            assert notifier.counts() == {"sent": 1, "failed": 0, "dropped": 0}
        finally:
            receiver.close()
    finally:
        notifier.close()


def test_a_receiver_that_fails_then_recovers_gets_it_on_a_retry(notifier):
    receiver = Receiver(statuses=(503, 500, 200))
    try:
        notifier.notify(Webhook("chat", receiver.url), {"text": "x"})
        assert notifier.flush()
        assert len(receiver.received) == 3 and notifier.counts()["sent"] == 1
    finally:
        receiver.close()


def test_a_receiver_that_always_fails_is_counted_and_never_slows_the_caller():
    receiver = Receiver(statuses=(500,))
    notifier = Notifier(queue_size=50, tries=3, backoff_s=0.05, timeout_s=2.0)
    try:
        hook = Webhook("chat", receiver.url)
        notifier.notify(hook, {"text": "first"})
        wait_for(lambda: notifier.counts()["failed"] == 1)
        assert len(receiver.received) == 3, "three tries, then counted failed"

        times = []
        for i in range(2000):
            start = time.perf_counter()
            notifier.notify(hook, {"text": f"message {i}", "callradar": {"i": i}})
            times.append(time.perf_counter() - start)
        assert statistics.median(times) < 1e-4 and statistics.mean(times) < 5e-4, (statistics.median(times),
                                                                                   statistics.mean(times))
        assert max(times) < 0.05, "no call waited on the network"
        counts = notifier.counts()
        assert counts["dropped"] >= 2000 - 50 - 2, counts  # the queue holds 50; the oldest went
    finally:
        notifier.close(timeout_s=1.0)
        receiver.close()


def test_a_client_error_is_not_retried(notifier):
    receiver = Receiver(statuses=(404,))
    try:
        notifier.notify(Webhook("chat", receiver.url), {"text": "x"})
        assert notifier.flush()
        assert len(receiver.received) == 1 and notifier.counts() == {"sent": 0, "failed": 1, "dropped": 0}
    finally:
        receiver.close()


def test_a_full_queue_drops_the_oldest():
    gate = threading.Event()
    posted = []

    def post(url, data, timeout_s):
        gate.wait(5)
        posted.append(json.loads(data)["text"])
        return 200

    notifier = Notifier(queue_size=2, post=post)
    try:
        hook = Webhook("chat", "http://127.0.0.1:9/")
        notifier.notify(hook, {"text": "0"})
        wait_for(lambda: notifier.pending() == 1 and not notifier._queue)  # "0" is being sent
        for i in range(1, 5):
            notifier.notify(hook, {"text": str(i)})
        gate.set()
        assert notifier.flush()
        assert posted == ["0", "3", "4"] and notifier.counts() == {"sent": 3, "failed": 0, "dropped": 2}
        assert {r: read() for r, read in notifier.reads().items()} == {"sent": 3, "failed": 0, "dropped": 2}
    finally:
        notifier.close()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        Notifier(queue_size=0)


# ---------------------------------------------------------------- cases to the route's webhook


def test_a_case_landing_on_a_route_notifies_its_webhook(receiver, notifier):
    matrix = EscalationMatrix.from_yaml(MATRIX.replace("http://127.0.0.1:9/hooks/floor", receiver.url))
    book = CaseBook(matrix)
    alert = {"alert_id": "a1", "alert_type": "escalation_risk", "call_id": "call-1", "utterance_id": "u", "risk": 0.9,
             "trigger": "negative_sentiment", "route": matrix.route("negative_sentiment"), "created_ts": 1000.0}
    opened = book.open(alert)
    assert notifier.notify_case(matrix, opened, alert)
    book.apply(opened)
    (breach,) = book.breaches(1200.0)  # to the managers, who name no webhook
    assert not notifier.notify_case(matrix, breach.event, breach.alert)
    assert notifier.flush()
    ((_, body),) = receiver.received
    assert body["text"].startswith("Escalation on call call-1: negative sentiment, risk 0.90; floor-supervisors (tier 2)")
    assert body["callradar"]["case_id"] == "a1" and body["callradar"]["route"]["team"] == "floor-supervisors"
    assert body["callradar"]["alert"]["alert_id"] == "a1"


def test_case_messages_say_what_happened():
    matrix = EscalationMatrix.from_yaml(MATRIX)
    book = CaseBook(matrix)
    book.apply(book.open({"alert_id": "a1", "alert_type": "escalation_risk", "call_id": "call-1",
                          "trigger": "complaint", "route": matrix.route("complaint"), "created_ts": 1000.0}))
    book.apply(book.acknowledge("a1", "sam", 1001.0))
    handed = book.hand_over("a1", "sam", 1002.0, note="needs a manager")
    text = case_message(handed)["text"]
    assert "handed over to floor-supervisors (tier 2) by sam" in text and text.endswith("needs a manager")
    book.apply(handed)
    (breach,) = book.breaches(2000.0)
    assert case_message(breach.event)["text"].startswith("Response time missed on call call-1 (complaint); now with managers")
