"""`callradar archive` on the real broker: finished calls land in Parquet, outcomes in labels.jsonl,
agents' feedback (also after the call was written) in feedback.jsonl, a malformed outcome on the
dead-letter topic, and offsets are committed once the calls are written."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from callradar.pipeline.cli.archive import run_archive
from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.records import Alert, CallEvent, DeadLetter, Feedback, Score, Topics, Utterance
from callradar.training.labelled_calls import read_archive

pytestmark = [pytest.mark.integration]


def test_archive_consumer_writes_finished_calls(kafka_settings, tmp_path):
    # Topics of its own: the session's pipeline topics also carry other tests' calls.
    kafka_settings = dataclasses.replace(kafka_settings, topic_prefix=f"{kafka_settings.topic_prefix}arc{time.time_ns()}-")
    kafka_io.ensure_topics(kafka_settings)
    topics = Topics(kafka_settings.topic_prefix)
    # A consumer that joins before new topics have partition metadata gets no partitions
    # (and waits for a metadata refresh, minutes away): wait until the broker shows them.
    probe = kafka_io.make_consumer(kafka_settings, None)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        set(topics.all()) <= probe.topics() and all(probe.partitions_for_topic(t) for t in topics.all())
    ):
        time.sleep(0.2)
    probe.close()
    out = tmp_path / "archive"
    stop = threading.Event()
    lines: list[str] = []
    worker = threading.Thread(target=run_archive, args=(kafka_settings, out, stop), daemon=True,
                              kwargs=dict(grace_s=3.0, idle_s=600, report=lines.append, flush_every_s=0.2))
    worker.start()

    def u(call_id, speaker, i, start, end, text):
        return Utterance(f"{call_id}/{speaker}/{i}", call_id, speaker, i, start, end, text, 0.9, time.time())

    a0, a1 = u("arc-1", "agent", 0, 0.5, 2.0, "Hello"), u("arc-1", "customer", 0, 2.5, 6.0, "Get me a supervisor")
    b0 = u("arc-2", "customer", 0, 0.3, 1.5, "Thanks, bye")
    messages = [
        (topics.events, "arc-1", CallEvent("arc-1", "started", time.time(), queue="billing")),
        (topics.events, "arc-2", CallEvent("arc-2", "started", time.time())),
        (topics.transcripts, "arc-1", a0), (topics.transcripts, "arc-1", a1), (topics.transcripts, "arc-2", b0),
        (topics.scores, "arc-1", Score(a1.utterance_id, "arc-1", "customer", 2.5, 6.0, a1.text, "negative",
                                       {"negative": 0.8, "neutral": 0.1, "positive": 0.1}, 0.5, 0.95, [], 0.97, [],
                                       "prior-2", a1.audio_end_ts)),
        (topics.alerts, "arc-1", Alert("al-1", "escalation_risk", "arc-1", a1.utterance_id, 0.97,
                                       "supervisor_request", [], "!", call_time=6.0)),
        (topics.feedback, "arc-1", mark(True, time.time())),  # during the call
        (topics.events, "arc-1", CallEvent("arc-1", "ended", time.time())),
        (topics.events, "arc-2", CallEvent("arc-2", "ended", time.time())),
    ]
    producer = kafka_io.make_producer(kafka_settings)
    try:
        for topic, key, record in messages:
            producer.send(topic, key=key, value=record.encode())
        producer.send(topics.outcomes, key="arc-1", value=b'{"call_id": "arc-1", "outcome": "escalated", '
                                                           b'"escalation_time": 2.5}')
        producer.send(topics.outcomes, key="arc-x", value=b'{"call_id": "arc-x", "outcome": "furious"}')
        producer.flush(10)
    finally:
        producer.close(5)

    calls = wait_for(out, lambda calls: len(calls) == 2 and calls["arc-1"].outcome)
    # The agent changes their mind after the call was written: the mark must still reach the archive.
    producer = kafka_io.make_producer(kafka_settings)
    try:
        producer.send(topics.feedback, key="arc-1", value=mark(False, time.time() + 1).encode())
        producer.flush(10)
    finally:
        producer.close(5)
    calls = wait_for(out, lambda calls: [f.helpful for f in calls["arc-1"].feedback] == [False])
    stop.set()
    worker.join(30)
    assert not worker.is_alive()
    assert set(calls) == {"arc-1", "arc-2"}, lines

    one = calls["arc-1"]
    assert [x.text for x in one.utterances] == ["Hello", "Get me a supervisor"]
    assert one.utterances[1].risk == 0.97 and one.alerts[0].trigger == "supervisor_request"
    assert (one.outcome, one.escalation_time, one.metadata["queue"]) == ("escalated", 2.5, "billing")
    assert calls["arc-2"].outcome is None
    [rating] = one.feedback
    assert (rating.feedback_id, rating.prompt_id, rating.helpful) == ("al-2/agent-7", "supervisor-offer-first", False)
    assert calls["arc-2"].feedback == []
    assert len((out / "feedback.jsonl").read_text().splitlines()) == 2  # every mark as it came

    dead = kafka_io.read_topic(kafka_settings, topics.deadletter, timeout_s=15,
                               until=lambda recs: any(b"archive" in r.value for r in recs))
    letters = [DeadLetter.decode(r.value) for r in dead]
    assert any(d.stage == "archive" and "furious" in d.reason for d in letters)

    from kafka import TopicPartition

    group = kafka_io.make_consumer(kafka_settings, None, group_id=f"callradar-{kafka_settings.topic_prefix}archive",
                                   enable_auto_commit=False)
    try:
        parts = group.partitions_for_topic(topics.transcripts) or set()
        committed = [group.committed(TopicPartition(topics.transcripts, p)) or 0 for p in parts]
    finally:
        group.close()
    assert sum(committed) == 3, "every transcript belongs to a written call, so all are committed"


def mark(helpful: bool, ts: float) -> Feedback:
    return Feedback("al-2/agent-7", "arc-1", "al-2", "supervisor-offer-first", "supervisor_request", helpful,
                    "agent-7", ts, "arc-1/customer/0", 6.0)


def wait_for(out, done, timeout_s: float = 60.0) -> dict:
    """The archive folder's calls by id, once ``done(calls)`` holds (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    calls = {}
    while time.monotonic() < deadline:
        if out.is_dir():
            calls = {c.call_id: c for c in read_archive(out)}
            if "arc-1" in calls and done(calls):
                break
        time.sleep(0.5)
    return calls
