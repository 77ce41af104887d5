"""The embedded broker and the Kafka layer's clients against a real Kafka."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest

from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.kafka.embedded import BrokerError, EmbeddedKafka, free_port
from callradar.pipeline.records import Topics

pytestmark = pytest.mark.integration


def test_round_trip_keeps_key_headers_and_value(kafka_settings):
    topic = Topics(kafka_settings.topic_prefix).audio
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    headers = [("call_id", call_id.encode()), ("channel", b"agent"), ("seq", b"0")]
    payloads = [bytes([i]) * 320 for i in range(3)]
    producer = kafka_io.make_producer(kafka_settings)
    try:
        metas = [producer.send(topic, key=call_id, value=p, headers=headers).get(timeout=10) for p in payloads]
    finally:
        producer.close()
    # One key, one partition: that is what lets one worker own a call.
    assert len({m.partition for m in metas}) == 1

    records = kafka_io.read_topic(
        kafka_settings, topic, timeout_s=15, until=lambda rs: sum(r.key == call_id.encode() for r in rs) >= 3
    )
    mine = [r for r in records if r.key == call_id.encode()]
    assert [r.value for r in mine] == payloads
    assert all(r.headers == headers for r in mine)
    assert {r.partition for r in mine} == {metas[0].partition}


def test_read_topic_without_until_stops_at_the_end(kafka_settings):
    topic = Topics(kafka_settings.topic_prefix).feedback
    producer = kafka_io.make_producer(kafka_settings)
    try:
        for i in range(5):
            producer.send(topic, key=f"k{i}", value=b"v%d" % i)
        producer.flush(timeout=10)
    finally:
        producer.close()
    began = time.monotonic()
    records = kafka_io.read_topic(kafka_settings, topic, timeout_s=20)
    assert time.monotonic() - began < 15, "read_topic should stop at the end offsets, not wait for the timeout"
    assert sorted(r.value for r in records) == [b"v%d" % i for i in range(5)]


def test_consumer_group_reads_from_the_beginning(kafka_settings):
    topic = Topics(kafka_settings.topic_prefix).outcomes
    marker = uuid.uuid4().hex.encode()
    producer = kafka_io.make_producer(kafka_settings)
    try:
        producer.send(topic, key="c1", value=marker).get(timeout=10)
    finally:
        producer.close()
    consumer = kafka_io.make_consumer(kafka_settings, [topic], group_id=f"{kafka_settings.topic_prefix}g1")
    try:
        seen = []
        deadline = time.monotonic() + 30
        while marker not in seen and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                seen.extend(r.value for r in batch)
    finally:
        consumer.close()
    assert marker in seen


def test_topics_exist_with_configured_partitions(kafka_settings):
    names = Topics(kafka_settings.topic_prefix).all()
    counts = kafka_io.topic_partitions(kafka_settings, names)
    assert counts == {name: kafka_settings.topic_partitions for name in names}
    assert kafka_io.ensure_topics(kafka_settings) == []  # idempotent: nothing left to create


def test_start_is_idempotent(kafka_settings):
    if not kafka_settings.embedded:
        pytest.skip("CALLRADAR_KAFKA_BOOTSTRAP is set: no embedded broker to start")
    broker = EmbeddedKafka(kafka_settings)
    pid_before = broker.status().pid
    began = time.monotonic()
    assert broker.start() is False  # already running: not started again
    assert time.monotonic() - began < 10
    status = broker.status()
    assert pid_before is not None
    assert status.answering and status.pid == pid_before


@pytest.mark.slow
def test_stop_then_warm_start_keeps_data(kafka_settings, tmp_path):
    """A broker of its own: stop must free the ports; a restart keeps the cluster and topics."""
    if not kafka_settings.embedded:
        pytest.skip("CALLRADAR_KAFKA_BOOTSTRAP is set: no embedded broker to start")
    settings = dataclasses.replace(
        kafka_settings,
        state_dir=tmp_path,
        embedded_kafka_port=free_port(),
        embedded_kafka_controller_port=free_port(),
    )
    broker = EmbeddedKafka(settings)
    try:
        assert broker.start(timeout_s=120) is True
        first_pid = broker.status().pid
        cluster = kafka_io.wait_for_broker(settings, 10)["cluster_id"]

        assert broker.stop() is True
        assert broker.stop() is False  # idempotent
        assert not broker.status().answering
        assert not kafka_io.port_open("127.0.0.1", settings.embedded_kafka_port)

        assert broker.start(timeout_s=120) is True
        assert broker.status().pid != first_pid
        assert kafka_io.wait_for_broker(settings, 10)["cluster_id"] == cluster
        assert kafka_io.ensure_topics(settings) == []  # topics survived the restart
    finally:
        broker.stop()


def test_a_broker_that_dies_at_start_up_reports_why(kafka_settings, tmp_path):
    if not kafka_settings.embedded:
        pytest.skip("CALLRADAR_KAFKA_BOOTSTRAP is set: no embedded broker to start")
    settings = dataclasses.replace(
        kafka_settings, state_dir=tmp_path, embedded_kafka_port=free_port(), embedded_kafka_controller_port=free_port()
    )
    broker = EmbeddedKafka(settings)
    # Data formatted for another node: the real broker refuses it and exits.
    broker.data_dir.mkdir(parents=True)
    (broker.data_dir / "meta.properties").write_text("version=1\nnode.id=2\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\n")

    with pytest.raises(BrokerError, match=r"exited during start-up(.|\n)*Stored node id 2"):
        broker.start(timeout_s=60)
    assert not broker.pid_file.exists()
    assert not kafka_io.port_open("127.0.0.1", settings.embedded_kafka_controller_port)


def test_consumer_without_group_reads_every_partition(kafka_settings):
    """watch and the e2e recorder subscribe with group_id=None: no group, all partitions."""
    # A topic of its own (auto-created with the broker's default 4 partitions): the
    # pipeline topics of this session also carry other tests' records.
    topic = f"{kafka_settings.topic_prefix}no-group-{time.time_ns()}"
    keys = [f"call-{i}" for i in range(12)]  # enough keys to land on several partitions
    producer = kafka_io.make_producer(kafka_settings)
    try:
        metas = [producer.send(topic, key=k, value=k.encode()).get(timeout=10) for k in keys]
    finally:
        producer.close()
    assert len({m.partition for m in metas}) > 1

    consumer = kafka_io.make_consumer(kafka_settings, [topic], group_id=None, from_beginning=True)
    try:
        seen: set[bytes] = set()
        deadline = time.monotonic() + 20
        while len(seen) < len(keys) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                seen.update(r.value for r in batch)
    finally:
        consumer.close()
    assert seen == {k.encode() for k in keys}
