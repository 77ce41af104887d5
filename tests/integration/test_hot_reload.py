"""A running score worker picks up a promoted (and a rolled-back) risk model without a restart.

Real broker, real worker process, real text models. Utterances go straight onto
calls.transcripts (no audio), so the only thing under test is the score stage
and the registry it watches.
"""

from __future__ import annotations

import time
import uuid

import pytest

from callradar.models.registry import Registry, parse_model_version
from callradar.models.risk import PRIOR_RISK_DIR, RiskModel
from callradar.pipeline.kafka.clients import make_producer, read_topic
from callradar.pipeline.processes import WorkerProcess
from callradar.pipeline.records import Score, Topics, Utterance

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RELOAD_S = 0.5
CUSTOMER_LINES = [
    "hi, my internet has been down since monday",
    "this is the third time i'm calling and it's still not fixed",
    "i'm really not happy with this at all",
]


def shifted_prior(version: str, shift: float) -> RiskModel:
    """The bundled prior with its intercept moved: the same reasons, a different risk."""
    doc = RiskModel.load(PRIOR_RISK_DIR).to_dict()
    doc.update(version=version, kind="trained", intercept=doc["intercept"] + shift)
    return RiskModel.from_dict(doc)


def send_call(producer, topics: Topics, call_id: str) -> None:
    for i, text in enumerate(CUSTOMER_LINES):
        utt = Utterance(f"{call_id}/customer/{i}", call_id, "customer", i, 4.0 * i, 4.0 * i + 3.0, text,
                        0.9, time.time(), time.time(), "test")
        producer.send(topics.transcripts, key=call_id, value=utt.encode())
    producer.flush(timeout=10)


def scores_of(settings, topics: Topics, call_id: str, timeout_s: float = 90.0) -> list[Score]:
    key = call_id.encode()
    records = read_topic(settings, topics.scores, timeout_s=timeout_s,
                         until=lambda rs: sum(r.key == key for r in rs) >= len(CUSTOMER_LINES))
    scores = [Score.decode(r.value) for r in records if r.key == key]
    assert len(scores) == len(CUSTOMER_LINES), f"{len(scores)} scores for {call_id}"
    return sorted(scores, key=lambda s: s.start)


def risk_version(score: Score) -> str:
    return parse_model_version(score.model_version)["risk"]


def test_promote_and_rollback_reach_a_running_worker(kafka_settings, tmp_path):
    registry = Registry(tmp_path / "models")
    assert registry.add("risk", shifted_prior("calm", -1.0).save(tmp_path / "calm")) == "v1"
    assert registry.add("risk", shifted_prior("alarmed", +2.0).save(tmp_path / "alarmed")) == "v2"
    registry.promote("risk", "v1")
    topics = Topics(kafka_settings.topic_prefix)
    run = uuid.uuid4().hex[:8]
    worker = WorkerProcess(kafka_settings, tmp_path / "worker.log", stages="score",
                           extra_env={"CALLRADAR_MODELS_DIR": str(registry.root),
                                      "CALLRADAR_MODELS_RELOAD_S": str(RELOAD_S)})
    producer = make_producer(kafka_settings)
    try:
        with worker:
            worker.wait_ready(timeout_s=240)
            send_call(producer, topics, f"hot-{run}-before")
            before = scores_of(kafka_settings, topics, f"hot-{run}-before")

            registry.promote("risk", "v2")
            time.sleep(RELOAD_S + 1.0)  # the worker looks at most every RELOAD_S, before a batch
            send_call(producer, topics, f"hot-{run}-after")
            after = scores_of(kafka_settings, topics, f"hot-{run}-after")

            registry.rollback("risk")
            time.sleep(RELOAD_S + 1.0)
            send_call(producer, topics, f"hot-{run}-rolled-back")
            rolled_back = scores_of(kafka_settings, topics, f"hot-{run}-rolled-back")
            log = worker.log_tail(200)
    finally:
        producer.close()

    assert {risk_version(s) for s in before} == {"v1"}, log
    assert {risk_version(s) for s in after} == {"v2"}, log
    assert {risk_version(s) for s in rolled_back} == {"v1"}, log
    # Same utterances, same features; only the promoted model differs.
    for b, a, r in zip(before, after, rolled_back):
        assert b.text == a.text and b.intent == pytest.approx(a.intent, abs=1e-3)
        assert a.risk > b.risk + 0.05
        assert r.risk == pytest.approx(b.risk, abs=1e-4)
    assert "models reloaded" in log
