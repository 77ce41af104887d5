"""The console in a real browser: headless Debian Chromium driven by Playwright.

One live run (module fixture) on the real broker: a real worker process
transcribes, scores and triggers; a real ``callradar console`` process reads the
topics; one calm and one escalating simulated call are replayed in real time.
The tests then check, as a supervisor and as each call's agent would see it,
what the issue promises. Screenshots go to test-artifacts/console/.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.processes import WorkerProcess, free_port, settings_env
from callradar.pipeline.records import Feedback, Topics
from callradar.pipeline.replay import load_call, replay_calls
from callradar.pipeline.settings import PACKAGE_ROOT
from callradar.pipeline.simulator.calls import load_label, simulate_calls

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed at /usr/bin/chromium (scripts/setup.sh --browser installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing (pip install -e '.[dev]')")

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = PACKAGE_ROOT / "test-artifacts" / "console"
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
        """Until /healthz says the Kafka reader is assigned and positioned."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"console exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                    if json.loads(resp.read())["kafka"]:
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


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def sign_in(browser, live, who: str):
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.goto(live.url)
    page.fill("#token", live.token[who])
    page.click("#login-form button")
    page.wait_for_selector("#whoami:not([hidden])")
    return context, page


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
