"""The "agent side behind" marker in a real browser (issue 17): headless Debian Chromium, a real
``callradar console`` process, a real broker.

No worker: the test publishes the call, its scores and then transcripts on calls.transcripts as the
transcribe stage does when the agent side waits for Whisper: one with ``agent_behind_s`` 40 makes the
marker appear on the supervisor's list, in the call's transcript panel and on the agent's page; a later
one with 0 (the agent side caught up) takes it away. Screenshots go to test-artifacts/console/.
"""

from __future__ import annotations

import dataclasses
import json
import time
from types import SimpleNamespace

import pytest
from chromium import ARTIFACTS, sign_in_with_token
from test_console_browser import ConsoleProcess

from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.records import CallEvent, Score, Topics, Utterance

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SUPERVISOR = "supervisor-token-for-the-behind-test"
AGENT = "agent-7-token-for-the-behind-test"
CALL = "call-3071"
SHOWN_MS = 10_000  # from the broker to the page: well under a second normally; generous for a loaded machine


def score(i: int, speaker: str, text: str) -> Score:
    return Score(utterance_id=f"{CALL}/{speaker}/{i}", call_id=CALL, speaker=speaker, start=i * 6.0,
                 end=i * 6.0 + 4.5, text=text, sentiment="neutral",
                 sentiment_scores={"negative": 0.1, "neutral": 0.8, "positive": 0.1}, frustration=0.1,
                 intent=0.1, keywords=[], risk=0.2, reasons=[], model_version="browser-test", audio_end_ts=0.0)


def transcript(i: int, speaker: str, agent_behind_s: float) -> Utterance:
    return Utterance(f"{CALL}/{speaker}/{i}", CALL, speaker, i, i * 6.0, i * 6.0 + 4.5, "words", 0.9,
                     time.time(), emitted_ts=time.time(), model="browser-test", queued_s=0.01,
                     agent_behind_s=agent_behind_s)


@pytest.fixture(scope="module")
def behind_live(kafka_settings, tmp_path_factory):
    """A console on topics of its own, with one live call of agent-7 and a few scored utterances."""
    settings = dataclasses.replace(kafka_settings, topic_prefix=kafka_settings.topic_prefix + "behind-")
    kafka_io.ensure_topics(settings)
    topics = Topics(settings.topic_prefix)
    logs_dir = tmp_path_factory.mktemp("behind-logs")
    tokens_file = logs_dir / "tokens.yaml"
    tokens_file.write_text(json.dumps({"tokens": {  # JSON is YAML
        SUPERVISOR: {"role": "supervisor", "name": "Sam"},
        AGENT: {"role": "agent", "agent_id": "agent-7", "name": "Priya"}}}))
    tokens_file.chmod(0o600)
    producer = kafka_io.make_producer(settings)

    def publish(topic: str, record) -> None:
        producer.send(topic, key=record.call_id.encode(), value=record.encode())
        producer.flush()

    publish(topics.events, CallEvent(call_id=CALL, event="started", ts=time.time() - 30, agent_id="agent-7",
                                     queue="billing", customer_tier="gold"))
    for i, (speaker, text) in enumerate([("agent", "Thanks for calling, how can I help?"),
                                         ("customer", "My bill is twice what it should be.")]):
        publish(topics.scores, score(i, speaker, text))
    console = ConsoleProcess(settings, tokens_file, logs_dir / "console.log")
    try:
        console.wait_ready()
        yield SimpleNamespace(url=console.url, publish=lambda record: publish(topics.transcripts, record))
    finally:
        producer.close()
        console.stop()
        kafka_io.delete_topics(settings, topics.all())


def test_the_marker_appears_when_the_agent_side_is_40_s_behind_and_goes_when_it_catches_up(browser, behind_live):
    live = behind_live
    sup_context, sup = sign_in_with_token(browser, live.url, SUPERVISOR)
    agent_context, agent = sign_in_with_token(browser, live.url, AGENT)
    row = f'#calls-body tr[data-call-id="{CALL}"]'
    sup.wait_for_selector(row, timeout=20_000)
    sup.click(row)  # the call's transcript panel, with the call's meta line
    sup.wait_for_selector("#panel-transcript li.utt")
    agent.wait_for_selector("#agent-transcript li.utt", timeout=20_000)
    places = [(sup, f"{row} .behind"), (sup, "#panel-meta .behind"), (agent, "#agent-meta .behind")]
    assert [page.locator(marker).count() for page, marker in places] == [0, 0, 0]

    live.publish(transcript(2, "customer", 40.0))  # the customer's words arrive; the agent's wait
    for page, marker in places:
        page.wait_for_selector(marker, timeout=SHOWN_MS)
        assert page.inner_text(marker) == "agent side 40 s behind"
    sup.screenshot(path=str(ARTIFACTS / "supervisor-agent-behind.png"), full_page=True)
    agent.screenshot(path=str(ARTIFACTS / "agent-agent-behind.png"), full_page=True)

    live.publish(transcript(3, "customer", 12.0))  # still behind, by less
    for page, marker in places:
        page.wait_for_selector(f'{marker}[data-behind-s="12"]', timeout=SHOWN_MS)

    live.publish(transcript(1, "agent", 0.0))  # the agent's utterance is transcribed: nothing of theirs waits
    for page, marker in places:
        page.wait_for_selector(marker, state="detached", timeout=SHOWN_MS)
    sup_context.close()
    agent_context.close()
