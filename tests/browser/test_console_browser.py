"""The console in a real browser: headless Debian Chromium driven by Playwright.

One live run (module fixture) on the real broker: a real worker process
transcribes, scores and triggers; a real ``callradar console`` process reads the
topics; one calm and one escalating simulated call are replayed in real time.
The tests then check, as a supervisor and as each call's agent would see it,
what the issue promises. Screenshots go to test-artifacts/console/.

The escalation-case tests (``cases_live``) need no worker: they publish the calls,
the alerts and each case's ``opened`` event themselves, as the worker's case stage
would, and drive the console's case actions on the real broker.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from chromium import ARTIFACTS, sign_in_with_token, sync_api

from callradar.agents.cases import CaseBook
from callradar.agents.routing import EscalationMatrix
from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.processes import WorkerProcess, free_port, settings_env
from callradar.pipeline.records import Alert, CallEvent, CaseEvent, Feedback, Score, Topics
from callradar.pipeline.replay import load_call, replay_calls
from callradar.pipeline.simulator.calls import load_label, simulate_calls

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SEED = 1  # call 0: calm appointment change; call 1: a refund never sent, then a threat to cancel (billing queue)
SPEED = 1.0
ALERT_WAIT_MS = 150_000  # worker start-up is done before the replay; the call itself is about a minute
SUPERVISOR = "supervisor-token-for-the-browser-test"


class ConsoleProcess:
    """``callradar console`` as a child process on a free loopback port."""

    def __init__(self, settings, tokens_file: Path, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**settings_env(settings), "CALLRADAR_CONSOLE_TOKENS_FILE": str(tokens_file)}
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "callradar.pipeline.cli.main", "console", "--port", str(self.port)],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until /healthz says the Kafka reader is assigned and positioned, and the case history read."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"console exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                    health = json.loads(resp.read())
                    if health["kafka"] and health["cases"]:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"console not ready:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture(scope="module")
def live(kafka_settings, tmp_path_factory):
    # Topics of our own, so calls from other tests in the session don't show up on the console.
    settings = dataclasses.replace(kafka_settings, topic_prefix=kafka_settings.topic_prefix + "console-")
    kafka_io.ensure_topics(settings)
    label_paths = simulate_calls(tmp_path_factory.mktemp("calls"), 2, seed=SEED)
    labels = [load_label(p) for p in label_paths]
    calm, hot = (next(lab for lab in labels if lab["outcome"] == o) for o in ("calm", "escalated"))
    assert calm["agent_id"] != hot["agent_id"], "the 403 check needs two different agents"
    calls = [load_call([p.parent / lab["wav"]]) for p, lab in zip(label_paths, labels)]

    token = {"supervisor": SUPERVISOR, "hot_agent": f"agent-token-{hot['agent_id']}-escalating",
             "calm_agent": f"agent-token-{calm['agent_id']}-calm"}
    logs = tmp_path_factory.mktemp("logs")
    tokens_file = logs / "tokens.yaml"
    tokens_file.write_text(json.dumps({"tokens": {  # JSON is YAML
        token["supervisor"]: {"role": "supervisor", "name": "Sam"},
        token["hot_agent"]: {"role": "agent", "agent_id": hot["agent_id"]},
        token["calm_agent"]: {"role": "agent", "agent_id": calm["agent_id"]}}}))
    tokens_file.chmod(0o600)

    console = ConsoleProcess(settings, tokens_file, logs / "console.log")
    worker = WorkerProcess(settings, logs / "worker.log")
    replay = None
    try:
        console.wait_ready()
        worker.start().wait_ready(timeout_s=240)
        producer = kafka_io.make_producer(settings)
        replay = threading.Thread(target=replay_calls, daemon=True, kwargs=dict(
            calls=calls, topics=Topics(settings.topic_prefix), speed=SPEED,
            send=lambda t, k, v, h: producer.send(t, key=k.encode(), value=v, headers=h)))
        replay.start()
        yield SimpleNamespace(settings=settings, url=console.url, hot=hot, calm=calm, worker=worker, console=console,
                              token=token)
    finally:
        if replay is not None:
            replay.join(180)
            producer.flush()
            producer.close()
        worker.stop()
        console.stop()
        kafka_io.delete_topics(settings, Topics(settings.topic_prefix).all())


def sign_in(browser, live, who: str):
    return sign_in_with_token(browser, live.url, live.token[who])


def logs(live) -> str:
    return f"\n--- worker ---\n{live.worker.log_tail(40)}\n--- console ---\n{live.console.log_path.read_text()[-3000:]}"


def test_supervisor_sees_the_escalating_call_on_top_with_its_alert_route_and_sla(browser, live):
    context, page = sign_in(browser, live, "supervisor")
    hot = live.hot["call_id"]
    try:
        page.wait_for_selector(f'#alert-feed li[data-call-id="{hot}"]', timeout=ALERT_WAIT_MS)
    except sync_api.TimeoutError:
        page.screenshot(path=str(ARTIFACTS / "supervisor-no-alert.png"), full_page=True)
        pytest.fail(f"no alert for {hot} on the supervisor page{logs(live)}")
    page.wait_for_selector(f'#calls-body tr[data-call-id="{live.calm["call_id"]}"]')
    rows = page.locator("#calls-body tr")
    assert rows.first.get_attribute("data-call-id") == hot, page.inner_text("#calls-body")
    assert float(rows.first.locator(".risk").inner_text()) >= 0.6
    assert rows.first.locator("svg.spark polyline").count() == 1, "a risk sparkline"
    card = page.locator(f'#alert-feed li[data-call-id="{hot}"]').first
    assert "Route:" in card.inner_text() and "tier" in card.inner_text()
    assert card.locator(".sla").inner_text().startswith(("respond in", "overdue"))
    page.screenshot(path=str(ARTIFACTS / "supervisor.png"), full_page=True)

    rows.first.click()  # the live transcript, coloured by sentiment
    page.wait_for_selector("#panel-transcript li.utt")
    assert page.inner_text("#panel-title") == hot
    page.wait_for_selector("#panel-transcript li.utt.sentiment-negative")
    assert page.locator("#panel-transcript li.marker-escalation_risk").count() >= 1
    page.wait_for_timeout(1500)  # a few more utterances, and the SLA clock ticking
    page.screenshot(path=str(ARTIFACTS / "supervisor-transcript.png"), full_page=True)
    context.close()


def test_agent_sees_a_prompt_and_a_feedback_click_lands_on_the_feedback_topic(browser, live):
    context, page = sign_in(browser, live, "hot_agent")
    hot = live.hot["call_id"]
    page.wait_for_selector(".prompt", timeout=ALERT_WAIT_MS)
    assert page.inner_text("#agent-call-title") == hot
    prompt = page.locator(".prompt").first
    assert len(prompt.locator(".prompt-text").inner_text()) > 80
    prompt_id, alert_id = prompt.get_attribute("data-prompt-id"), prompt.get_attribute("data-alert-id")
    page.wait_for_selector("#agent-transcript li.utt")
    page.screenshot(path=str(ARTIFACTS / "agent.png"), full_page=True)

    prompt.locator('.feedback-button[data-helpful="true"]').click()
    page.wait_for_selector('.prompt .feedback-button[data-helpful="true"][aria-pressed="true"]')
    assert "Thanks" in prompt.locator(".feedback-note").inner_text()
    page.screenshot(path=str(ARTIFACTS / "agent-feedback.png"), full_page=True)
    context.close()

    topic = Topics(live.settings.topic_prefix).feedback
    records = kafka_io.read_topic(live.settings, topic, timeout_s=20, until=lambda recs: len(recs) >= 1)
    assert len(records) == 1, "the click must land on calls.feedback exactly once"
    assert records[0].key == hot.encode()
    mark = Feedback.decode(records[0].value)
    assert (mark.call_id, mark.alert_id, mark.prompt_id, mark.helpful, mark.agent_id) == (
        hot, alert_id, prompt_id, True, live.hot["agent_id"])
    assert json.loads(records[0].value)["v"] == 1 and mark.trigger and mark.utterance_id.startswith(hot)


def test_an_agent_cannot_read_another_agents_call(browser, live):
    context, page = sign_in(browser, live, "calm_agent")
    calm, hot = live.calm["call_id"], live.hot["call_id"]
    page.wait_for_selector("#agent-transcript li.utt", timeout=60_000)
    assert page.inner_text("#agent-call-title") == calm
    assert page.locator(f'[data-call-id="{hot}"]').count() == 0
    assert context.request.get(f"{live.url}/api/calls/{calm}").status == 200
    assert context.request.get(f"{live.url}/api/calls/{hot}").status == 403
    assert context.request.get(f"{live.url}/api/stream?call={hot}").status == 403
    ids = [c["call_id"] for c in context.request.get(f"{live.url}/api/calls").json()["calls"]]
    assert ids == [calm]
    context.close()


# ---------------------------------------------------------------- escalation cases

CASE_SUPERVISORS = {"sup-sam-token-for-the-case-tests": "Sam", "sup-kim-token-for-the-case-tests": "Kim"}
CASE_AGENT_TOKEN = "agent-7-token-for-the-case-tests"
COACHING_SHOWN_S = 1.0  # issue 15: coaching appears on the agent's screen within a second


def scored(call_id, i, speaker, text, risk, sentiment, keyword=""):
    negative = {"negative": 0.85, "neutral": 0.1, "positive": 0.05}
    calm = {"negative": 0.05, "neutral": 0.8, "positive": 0.15}
    return Score(utterance_id=f"{call_id}/{speaker}/{i}", call_id=call_id, speaker=speaker, start=i * 6.0,
                 end=i * 6.0 + 4.5, text=text, sentiment=sentiment,
                 sentiment_scores=negative if sentiment == "negative" else calm, frustration=0.5, intent=0.3,
                 keywords=[{"category": keyword, "phrase": keyword, "matched": keyword, "score": 1.0}] if keyword else [],
                 risk=risk, reasons=[], model_version="browser-test", audio_end_ts=0.0)


def escalation(call_id, queue, customer_tier, trigger, risk, utterance, call_time, message):
    route = EscalationMatrix.load().route(trigger, queue, customer_tier)
    return Alert(alert_id=f"{call_id}-alert", alert_type="escalation_risk", call_id=call_id,
                 utterance_id=f"{call_id}/customer/{utterance}", risk=risk, trigger=trigger, reasons=[],
                 message=f"{message}; route: {route['team']}", route=route, call_time=call_time,
                 created_ts=time.time())


@pytest.fixture(scope="module")
def cases_live(kafka_settings, tmp_path_factory):
    """A console on topics of its own, with three calls: two escalated (each with an open case), one calm."""
    settings = dataclasses.replace(kafka_settings, topic_prefix=kafka_settings.topic_prefix + "cases-")
    kafka_io.ensure_topics(settings)
    topics = Topics(settings.topic_prefix)
    logs_dir = tmp_path_factory.mktemp("case-logs")
    tokens_file = logs_dir / "tokens.yaml"
    tokens_file.write_text(json.dumps({"tokens": {
        **{token: {"role": "supervisor", "name": name} for token, name in CASE_SUPERVISORS.items()},
        CASE_AGENT_TOKEN: {"role": "agent", "agent_id": "agent-7", "name": "Priya"}}}))
    tokens_file.chmod(0o600)

    now = time.time()
    hot, other, calm = "call-2041", "call-2042", "call-2043"
    records = [
        (topics.events, CallEvent(call_id=hot, event="started", ts=now - 40, agent_id="agent-7", queue="billing",
                                  customer_tier="gold")),
        (topics.events, CallEvent(call_id=other, event="started", ts=now - 95, agent_id="agent-8",
                                  queue="tech_support", customer_tier="standard")),
        (topics.events, CallEvent(call_id=calm, event="started", ts=now - 70, agent_id="agent-9", queue="orders",
                                  customer_tier="standard")),
        (topics.scores, scored(calm, 0, "agent", "Thanks for calling, how can I help?", 0.08, "positive")),
        (topics.scores, scored(calm, 1, "customer", "I'd like to move my delivery to Friday.", 0.12, "neutral")),
        (topics.scores, scored(other, 0, "customer", "The router has dropped out again, third time this week.",
                               0.48, "negative", "repeat_contact")),
        (topics.scores, scored(other, 1, "customer", "I want to speak to your manager about this.", 0.81,
                               "negative", "supervisor_request")),
        (topics.scores, scored(hot, 0, "agent", "Thanks for holding, I have your account open.", 0.21, "neutral")),
        (topics.scores, scored(hot, 1, "customer", "I was promised a refund three weeks ago and nothing came.",
                               0.52, "negative", "complaint")),
        (topics.scores, scored(hot, 2, "agent", "I'm sorry about that, let me check what happened.", 0.58,
                               "neutral")),
        (topics.scores, scored(hot, 3, "customer", "If it isn't sorted today I'm cancelling everything.", 0.88,
                               "negative", "cancellation")),
    ]
    alerts = {hot: escalation(hot, "billing", "gold", "cancellation", 0.88, 3, 22.5,
                              "Customer threatens to cancel over a refund that never arrived"),
              other: escalation(other, "tech_support", "standard", "supervisor_request", 0.81, 1, 10.5,
                                "Customer asks for a manager after a third outage")}
    book = CaseBook()
    opened = {call: book.open(alert, agent_id={hot: "agent-7", other: "agent-8"}[call])
              for call, alert in alerts.items()}
    records += [(topics.alerts, a) for a in alerts.values()] + [(topics.cases, e) for e in opened.values()]
    producer = kafka_io.make_producer(settings)
    for topic, record in records:
        producer.send(topic, key=record.call_id.encode(), value=record.encode())
    producer.flush()
    producer.close()

    console = ConsoleProcess(settings, tokens_file, logs_dir / "console.log")
    try:
        console.wait_ready()
        yield SimpleNamespace(settings=settings, topics=topics, console=console, url=console.url,
                              tokens_file=tokens_file, logs_dir=logs_dir, hot=hot, other=other,
                              case={call: e.case_id for call, e in opened.items()})
    finally:
        console.stop()
        kafka_io.delete_topics(settings, topics.all())


def test_a_supervisor_claims_coaches_and_resolves_and_the_agent_sees_the_coaching(browser, cases_live):
    live = cases_live
    case = live.case[live.hot]
    sam, sup = sign_in_with_token(browser, live.url, "sup-sam-token-for-the-case-tests")
    agent, page = sign_in_with_token(browser, live.url, CASE_AGENT_TOKEN)
    block = f'.case[data-case-id="{case}"]'
    sup.wait_for_selector(f'#alert-feed li[data-call-id="{live.hot}"] {block}[data-status="open"]', timeout=20_000)
    card = sup.locator(f'#alert-feed li[data-call-id="{live.hot}"]')
    assert card.locator(".sla").inner_text().startswith("respond in"), card.inner_text()
    assert "billing-retention" in card.inner_text()  # the matrix's route for a cancellation on billing
    page.wait_for_selector("#agent-transcript li.utt")
    assert page.locator("#coaching-card").is_hidden()

    sup.click(f'{block} button[data-action="claim"]')
    sup.wait_for_selector(f'{block}[data-status="acknowledged"][data-holder="Sam"]', timeout=5_000)
    assert "response time met" in card.inner_text()
    handover = sup.locator(f'{block} select[data-field="route"]')
    assert "floor-supervisors" in handover.locator("option:checked").inner_text()  # prefilled: one level up
    sup.click(f'#calls-body tr[data-call-id="{live.hot}"]')  # the call's transcript under the case
    sup.wait_for_selector("#panel-transcript li.utt")
    sup.screenshot(path=str(ARTIFACTS / "supervisor-case.png"), full_page=True)  # docs/img/console.png

    message = "Apologise, confirm the refund is being reissued today, and offer the goodwill credit."
    sup.fill(f'{block} textarea[data-field="coach"]', message)
    sent = time.monotonic()
    sup.click(f'{block} button[data-action="coach"]')
    page.wait_for_selector(f'#coaching li.coaching:not(.read):has-text("{message}")', timeout=5_000)
    shown_after = time.monotonic() - sent
    assert shown_after < COACHING_SHOWN_S, f"coaching took {shown_after:.2f} s to reach the agent's screen"
    assert "From Sam" in page.inner_text("#coaching")
    page.screenshot(path=str(ARTIFACTS / "agent-coaching.png"), full_page=True)
    page.click("#coaching li.coaching button.mark-read")
    page.wait_for_selector("#coaching li.coaching.read")
    sup.wait_for_selector(f'{block} .case-log li[data-kind="coaching_sent"]:has-text("(read)")', timeout=5_000)
    sup.fill(f'{block} input[data-field="resolveNote"]', "draft survives re-renders")
    sup.wait_for_timeout(1200)  # the countdowns tick and calls update under the form
    assert sup.locator(f'{block} input[data-field="resolveNote"]').input_value() == "draft survives re-renders"

    sup.select_option(f'{block} select[data-field="outcome"]', "false_alarm")
    sup.fill(f'{block} input[data-field="resolveNote"]', "Refund reissued; customer calm, no cancellation.")
    sup.click(f'{block} button[data-action="resolve"]')
    sup.wait_for_selector(f'{block}[data-status="resolved"]', timeout=5_000)
    assert "false alarm" in sup.inner_text(block) and sup.locator(f'{block} button[data-action="reopen"]').count() == 1

    # an agent may see coaching, never act on a case: 403 for every action, even on their own call's case
    for action in ("acknowledge", "claim", "coach", "handover", "resolve", "reopen"):
        resp = agent.request.post(f"{live.url}/api/cases/{case}/{action}",
                                  data={"expected_version": 5, "message": "x", "outcome": "false_alarm"})
        assert resp.status == 403, (action, resp.text())
    assert agent.request.get(f"{live.url}/api/cases").status == 403
    sam.close()
    agent.close()

    events = [CaseEvent.decode(r.value) for r in kafka_io.read_topic(
        live.settings, live.topics.cases, timeout_s=20, until=lambda recs: len(recs) >= 6)]
    mine = [e for e in events if e.case_id == case]
    assert [(e.kind, e.actor, e.version) for e in mine] == [
        ("opened", "system", 1), ("acknowledged", "Sam", 2), ("coaching_sent", "Sam", 3), ("resolved", "Sam", 4)]
    assert (mine[2].agent_id, mine[2].message) == ("agent-7", message)
    assert (mine[3].outcome, mine[3].note) == ("false_alarm", "Refund reissued; customer calm, no cancellation.")


def _post(url, token, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_two_supervisors_claim_at_once_one_wins_and_a_restart_loses_no_case(cases_live):
    live = cases_live
    case = live.case[live.other]
    url = f"{live.url}/api/cases/{case}/acknowledge"
    answers = {}
    barrier = threading.Barrier(2)

    def claim(token):
        barrier.wait()
        answers[CASE_SUPERVISORS[token]] = _post(url, token, {"expected_version": 1})

    threads = [threading.Thread(target=claim, args=(token,)) for token in CASE_SUPERVISORS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    statuses = sorted(status for status, _ in answers.values())
    assert statuses == [200, 409], answers
    winner = next(name for name, (status, _) in answers.items() if status == 200)
    loser = next(body for status, body in answers.values() if status == 409)
    assert loser["holder"] == winner and winner in loser["error"], loser

    def cases_of(console):
        request = urllib.request.Request(f"{console.url}/api/cases", headers={
            "Authorization": "Bearer sup-sam-token-for-the-case-tests"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return {c["case_id"]: c for c in json.loads(resp.read())["cases"]}

    before = cases_of(live.console)
    assert before[case]["holder"] == winner
    restarted = ConsoleProcess(live.settings, live.tokens_file, live.logs_dir / "console-restarted.log")
    try:
        restarted.wait_ready()
        after = cases_of(restarted)
    finally:
        restarted.stop()
    assert set(after) == set(before)
    for case_id, was in before.items():
        now = after[case_id]
        assert (now["status"], now["holder"], now["version"], now["outcome"], now["response"]) == (
            was["status"], was["holder"], was["version"], was["outcome"], was["response"]), case_id


# ---------------------------------------------------------------- insights from the call archive


def insights_archive(folder: Path) -> Path:
    """Four archived calls, 2 hours, 3 days, 10 days and 40 days old (as tests/unit/agents/test_console_insights.py)."""
    from callradar.training.labelled_calls import CallAlert, CallFeedback, CallUtterance, LabelledCall, write_calls

    def call(cid, queue, agent, outcome, esc, hours_ago, alerts=(), feedback=()):
        return LabelledCall(
            call_id=cid, outcome=outcome, escalation_time=esc, source="archive",
            metadata={"queue": queue, "agent_id": agent, "customer_tier": "gold",
                      "started_ts": str(time.time() - hours_ago * 3600)},
            utterances=[CallUtterance("customer", 4.0, 5.0, "words", utterance_id=f"{cid}/customer/0", risk=0.5)],
            alerts=[CallAlert(a, kind, trig, 0.7, t) for a, kind, trig, t in alerts],
            feedback=[CallFeedback(f"{a}/{agent}", a, p, helpful, agent, "", 100.0) for a, p, helpful in feedback])

    folder.mkdir(parents=True, exist_ok=True)
    write_calls(folder / "calls-20250110T120000-1-0001.parquet", [
        call("c1", "billing", "a1", "escalated", 40.0, 2,
             [("c1-p", "assist_prompt", "billing_dispute", 10.0), ("c1-s", "escalation_risk", "billing_dispute", 30.0)],
             [("c1-p", "billing.explain", True)]),
        call("c2", "billing", "a2", "calm", None, 72, [("c2-s", "escalation_risk", "supervisor_request", 20.0)]),
        call("c3", "tech", "a1", "escalated", 50.0, 240, [("c3-s", "escalation_risk", "supervisor_request", 45.0)]),
        call("c4", "orders", "a3", "calm", None, 960),
    ])
    return folder


@pytest.fixture(scope="module")
def insights_live(kafka_settings, tmp_path_factory):
    """A console whose archive (CALLRADAR_CONSOLE_ARCHIVE_DIR) holds four known calls."""
    settings = dataclasses.replace(kafka_settings, topic_prefix=kafka_settings.topic_prefix + "insights-")
    kafka_io.ensure_topics(settings)
    logs_dir = tmp_path_factory.mktemp("insights-logs")
    archive = insights_archive(logs_dir / "archive")
    tokens_file = logs_dir / "tokens.yaml"
    tokens_file.write_text(json.dumps({"tokens": {
        SUPERVISOR: {"role": "supervisor", "name": "Sam"},
        CASE_AGENT_TOKEN: {"role": "agent", "agent_id": "agent-7", "name": "Priya"}}}))
    tokens_file.chmod(0o600)
    with pytest.MonkeyPatch.context() as env:  # settings_env passes the environment on to the console
        env.setenv("CALLRADAR_CONSOLE_ARCHIVE_DIR", str(archive))
        console = ConsoleProcess(settings, tokens_file, logs_dir / "console.log")
    try:
        console.wait_ready()
        yield SimpleNamespace(url=console.url, console=console)
    finally:
        console.stop()
        kafka_io.delete_topics(settings, Topics(settings.topic_prefix).all())


def test_a_supervisor_opens_insights_and_the_charts_render(browser, insights_live):
    live = insights_live
    context, page = sign_in_with_token(browser, live.url, SUPERVISOR)
    page.click("#tab-insights")
    assert page.locator("#live-view").is_hidden()

    def bars(table: str) -> int:
        return page.locator(f'svg.chart[data-table="{table}"] rect.bar').count()

    page.wait_for_selector('#insights-view[data-since="7d"][data-state="ready"]', timeout=20_000)
    assert "2 of 4 archived calls" in page.inner_text("#insights-status")
    # 7 days: c1 and c2, both billing, on two days; two series (escalated, alerted) per row
    assert (bars("escalations_by_queue"), bars("escalations_by_day"), bars("escalations_by_agent")) == (2, 4, 4)
    assert bars("prompt_helpfulness") == 1 and bars("alert_precision_by_trigger") == 2
    queue = page.locator('section[data-table="escalations_by_queue"] table tbody tr')
    assert queue.count() == 1 and queue.first.inner_text().split("\t")[:4] == ["billing", "2", "2", "1"]

    page.click('.period[data-since="30d"]')
    page.wait_for_selector('#insights-view[data-since="30d"][data-state="ready"]', timeout=20_000)
    assert (bars("escalations_by_queue"), bars("escalations_by_day")) == (4, 6)
    assert page.locator('svg.chart[data-table="escalations_by_queue"] rect.bar[data-label="tech"]').count() == 2
    page.screenshot(path=str(ARTIFACTS / "insights.png"), full_page=True)  # docs/img/insights.png

    page.click('.period[data-since="24h"]')
    page.wait_for_selector('#insights-view[data-since="24h"][data-state="ready"]', timeout=20_000)
    assert bars("escalations_by_queue") == 2 and "1 of 4 archived calls" in page.inner_text("#insights-status")
    context.close()

    agent, agent_page = sign_in_with_token(browser, live.url, CASE_AGENT_TOKEN)
    assert agent_page.locator("#tab-insights").is_hidden()
    assert agent.request.get(f"{live.url}/api/insights?since=7d").status == 403
    agent.close()
