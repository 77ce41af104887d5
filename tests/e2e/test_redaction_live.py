"""Spoken PII in, placeholders out: a real worker (Whisper and the score stage) on the real broker.

A customer reads a card number and a social security number aloud (espeak-ng);
whatever Whisper makes of the digits, calls.transcripts and calls.scores carry
[CARD] and [SSN] and no long digit run, and the worker counts the redactions on
/metrics. The lines are ones Whisper tiny.en hears well enough in this voice:
ASR that mishears digits ("five" as "time") leaves words redaction cannot read.
"""

from __future__ import annotations

import re
import shutil
import urllib.request
import uuid

import numpy as np
import pytest

from callradar.pipeline.kafka.clients import TopicRecorder, make_producer
from callradar.pipeline.processes import WorkerProcess
from callradar.pipeline.records import Score, Topics, Utterance
from callradar.pipeline.replay import CallAudio, replay_calls

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

RATE = 8000
CUSTOMER_LINES = [
    "my card number is four five three nine, one four eight eight, zero three four three, six four six seven",
    "my social security number is one two three, four five, six seven eight nine",
]
LONG_DIGIT_RUN = re.compile(r"(?:\d[\s,.-]*){9,}")


def spoken_call(call_id: str) -> CallAudio:
    from callradar.pipeline.simulator.calls import _espeak, _synthesize

    espeak = _espeak()
    silence = np.zeros(RATE, dtype=np.int16)
    customer = [silence]
    for line in CUSTOMER_LINES:
        customer += [_synthesize(espeak, line, "en-us+klatt", 150, 45, 0.8), silence, silence]
    customer = np.concatenate(customer)
    agent = np.zeros_like(customer)
    greeting = _synthesize(espeak, "thanks for calling, how can I help", "en-us+f3", 160, 55, 0.8)
    agent[:len(greeting)] = greeting
    return CallAudio(call_id, RATE, agent, customer, {"queue": "billing"})


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is needed to speak the test call")
def test_spoken_card_and_ssn_never_reach_the_topics(kafka_settings, tmp_path):
    topics = Topics(kafka_settings.topic_prefix)
    call = spoken_call(f"pii-{uuid.uuid4().hex[:8]}")
    recorder = TopicRecorder(kafka_settings, [topics.transcripts, topics.scores])

    def mine(topic, kind):
        return [kind.decode(rec.value) for _, rec in recorder.records[topic] if rec.key == call.call_id.encode()]

    def customer_scores():
        return [s for s in mine(topics.scores, Score) if s.speaker == "customer"]

    recorder.start()
    worker = WorkerProcess(kafka_settings, tmp_path / "worker.log", stages="transcribe,score")
    try:
        with worker:
            worker.wait_ready(timeout_s=300)
            producer = make_producer(kafka_settings)
            replay_calls([call], lambda t, k, v, h: producer.send(t, key=k.encode(), value=v, headers=h), topics)
            producer.close()
            recorder.wait_until(lambda: len(customer_scores()) >= len(CUSTOMER_LINES), stall_s=60, limit_s=240)
            with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as response:
                metrics = response.read().decode()
    finally:
        recorder.stop()

    said = [u.text for u in mine(topics.transcripts, Utterance) if u.speaker == "customer"]
    assert len(said) >= len(CUSTOMER_LINES), f"transcripts: {said}\n{worker.log_tail()}"
    texts = said + [s.text for s in customer_scores()]
    assert any("[CARD]" in t for t in said) and any("[SSN]" in t for t in said), said
    assert not [t for t in texts if LONG_DIGIT_RUN.search(t)], texts
    assert not [t for t in texts if "4539" in t or "6467" in t], texts
    counted = {m.group(1): float(m.group(2)) for m in
               re.finditer(r'callradar_pii_redactions_total\{type="(\w+)"\} ([\d.]+)', metrics)}
    assert counted["card"] >= 1 and counted["ssn"] >= 1, counted
