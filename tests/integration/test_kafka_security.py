"""Kafka SASL/SCRAM (and TLS) end to end, on real brokers of this module's own.

One broker asks for SCRAM on SASL_PLAINTEXT: the right users get through
(kafka-python, and a real Faust worker that consumes and produces), wrong ones
get a clear error at once, and no password reaches a log. A second broker
serves SASL_SSL with certificates made here by openssl (skipped without it).
Each broker has private ports and state dir and is stopped by its PID file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.kafka.embedded import BrokerTLS, EmbeddedKafka, free_port
from callradar.pipeline.processes import WorkerProcess
from callradar.pipeline.records import Score, Topics, Utterance
from callradar.pipeline.settings import load_settings

pytestmark = pytest.mark.integration


def secured_settings(state_dir: Path, protocol: str, password: str, **extra):
    return load_settings(
        {},
        state_dir=state_dir,
        embedded_kafka_port=free_port(),
        embedded_kafka_controller_port=free_port(),
        topic_prefix=f"sec{uuid.uuid4().hex[:6]}-",
        kafka_security_protocol=protocol,
        kafka_sasl_username="alice",
        kafka_sasl_password=password,
        consumer_session_timeout_s=6.0,
        **extra,
    )


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory):
    """A SASL_PLAINTEXT (SCRAM) broker with users alice (the settings' user) and bob."""
    state_dir = tmp_path_factory.mktemp("kafka-sasl")
    settings = secured_settings(state_dir, "SASL_PLAINTEXT", secrets.token_urlsafe(18))
    bob = dataclasses.replace(settings, kafka_sasl_username="bob", kafka_sasl_password=secrets.token_urlsafe(18),
                              kafka_sasl_mechanism="SCRAM-SHA-512")
    broker = EmbeddedKafka(settings, sasl_users={"bob": bob.kafka_sasl_password})
    broker.start(timeout_s=180)
    try:
        yield settings, bob, broker
    finally:
        broker.stop()
        assert broker.status(timeout_s=1).pid is None


def send_utterance(settings, text: str) -> Utterance:
    call_id = f"sec-{uuid.uuid4().hex[:8]}"
    utt = Utterance(f"{call_id}/customer/0", call_id, "customer", 0, 0.0, 3.0, text, 0.9, time.time(), time.time(),
                    "test")
    producer = kafka_io.make_producer(settings)
    try:
        producer.send(Topics(settings.topic_prefix).transcripts, key=call_id, value=utt.encode()).get(timeout=30)
    finally:
        producer.close()
    return utt


def test_round_trip_with_the_right_credentials(sasl_kafka):
    alice, bob, _ = sasl_kafka
    utt = send_utterance(alice, "hello over SCRAM-SHA-256")  # alice writes with SCRAM-SHA-256
    records = kafka_io.read_topic(bob, Topics(bob.topic_prefix).transcripts, timeout_s=30,  # bob reads with -512
                                  until=lambda rs: any(r.key == utt.call_id.encode() for r in rs))
    mine = [Utterance.decode(r.value) for r in records if r.key == utt.call_id.encode()]
    assert [u.text for u in mine] == ["hello over SCRAM-SHA-256"]


@pytest.mark.parametrize("change", [
    {"kafka_sasl_password": "not-the-password"},
    {"kafka_sasl_username": "mallory"},
    {"kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_password": "not-the-password"},
])
def test_wrong_credentials_fail_at_once_with_a_clear_error(sasl_kafka, change):
    wrong = dataclasses.replace(sasl_kafka[0], **change)
    began = time.monotonic()
    with pytest.raises(kafka_io.KafkaSecurityError, match=f"refused the .* login of user '{wrong.kafka_sasl_username}'"):
        kafka_io.wait_for_broker(wrong, timeout_s=60)
    with pytest.raises(kafka_io.KafkaSecurityError):
        kafka_io.make_producer(wrong)
    assert time.monotonic() - began < 15, "a wrong password must not wait for the bootstrap timeout"


def test_a_client_without_sasl_gets_nothing(sasl_kafka):
    plain = dataclasses.replace(sasl_kafka[0], kafka_security_protocol="PLAINTEXT", kafka_sasl_username="",
                                kafka_sasl_password="")
    with pytest.raises(TimeoutError):
        kafka_io.wait_for_broker(plain, timeout_s=3)


@pytest.mark.slow
def test_faust_worker_consumes_and_produces_through_sasl(sasl_kafka, tmp_path):
    """The worker reads its password from a file; neither its log nor the broker's holds a password."""
    settings, bob, broker = sasl_kafka
    password_file = tmp_path / "kafka-password"
    password_file.write_text(settings.kafka_sasl_password + "\n")
    password_file.chmod(0o600)
    worker_settings = dataclasses.replace(settings, kafka_sasl_password_file=password_file)
    worker = WorkerProcess(worker_settings, tmp_path / "worker.log", stages="score")
    with worker:
        worker.wait_ready(timeout_s=300)
        utt = send_utterance(settings, "this is the third time I'm calling, I want a supervisor")
        key = utt.call_id.encode()
        records = kafka_io.read_topic(bob, Topics(settings.topic_prefix).scores, timeout_s=120,
                                      until=lambda rs: any(r.key == key for r in rs))
        scores = [Score.decode(r.value) for r in records if r.key == key]
        assert [s.utterance_id for s in scores] == [utt.utterance_id], worker.log_tail()
        assert 0 <= scores[0].risk <= 1
    # The broker refuses clients without SASL (test above), so the score came through SCRAM;
    # aiokafka logs each login (the start-up check and Faust's own clients). No secret is logged.
    log = worker.log_path.read_text(errors="replace")
    assert log.count("Authenticated as alice via SCRAM-SHA-256") >= 2
    secrets_ = [settings.kafka_sasl_password, bob.kafka_sasl_password, broker._broker_password()]
    assert not [s for s in secrets_ if s in log]
    for path in broker.logs_dir.iterdir():
        text = path.read_text(errors="replace")
        assert not [s for s in secrets_ if s in text], f"a password is in {path}"


# ---------------------------------------------------------------------- TLS


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (PEM); returns (keystore, ca, other_ca)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    for name in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
                "-days", "2", "-subj", f"/CN=callradar test {name}")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    keystore = folder / "keystore.pem"  # Kafka's PEM keystore: the key, then the certificate chain
    keystore.write_text((folder / "server.key").read_text() + (folder / "server.pem").read_text())
    keystore.chmod(0o600)
    return keystore, folder / "ca.pem", folder / "other-ca.pem"


@pytest.fixture(scope="module")
def sasl_ssl_kafka(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("no openssl on this machine to make test certificates")
    certs = tmp_path_factory.mktemp("certs")
    keystore, ca, other_ca = make_certificates(certs)
    settings = secured_settings(tmp_path_factory.mktemp("kafka-sasl-ssl"), "SASL_SSL", secrets.token_urlsafe(18),
                                kafka_ssl_cafile=ca)
    broker = EmbeddedKafka(settings, tls=BrokerTLS(keystore=keystore, ca=ca))
    broker.start(timeout_s=180)
    try:
        yield settings, other_ca
    finally:
        broker.stop()


def test_sasl_ssl_round_trip_with_kafka_python(sasl_ssl_kafka):
    settings, _ = sasl_ssl_kafka
    utt = send_utterance(settings, "hello over TLS")
    records = kafka_io.read_topic(settings, Topics(settings.topic_prefix).transcripts, timeout_s=30,
                                  until=lambda rs: any(r.key == utt.call_id.encode() for r in rs))
    assert [Utterance.decode(r.value).text for r in records if r.key == utt.call_id.encode()] == ["hello over TLS"]


def test_sasl_ssl_with_the_credentials_faust_gets(sasl_ssl_kafka):
    """What faust_credentials hands Faust, given to aiokafka the way Faust's driver does."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    settings, _ = sasl_ssl_kafka
    auth = credentials_to_aiokafka_auth(kafka_io.faust_credentials(settings))
    assert auth["security_protocol"] == "SASL_SSL" and auth["ssl_context"] is not None
    topic = Topics(settings.topic_prefix).scores

    async def round_trip() -> bytes:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, **auth)
        await producer.start()
        try:
            meta = await producer.send_and_wait(topic, b"through faust's credentials", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, **auth)
        await consumer.start()
        try:
            tp = TopicPartition(topic, meta.partition)
            consumer.assign([tp])
            consumer.seek(tp, meta.offset)
            record = await asyncio.wait_for(consumer.getone(), 30)
            return record.value
        finally:
            await consumer.stop()

    assert asyncio.run(round_trip()) == b"through faust's credentials"


def test_a_broker_signed_by_another_ca_is_refused(sasl_ssl_kafka):
    settings, other_ca = sasl_ssl_kafka
    distrusting = dataclasses.replace(settings, kafka_ssl_cafile=other_ca)
    began = time.monotonic()
    with pytest.raises(kafka_io.KafkaSecurityError, match="TLS with Kafka .* failed.*CERTIFICATE_VERIFY_FAILED"):
        kafka_io.wait_for_broker(distrusting, timeout_s=60)
    assert time.monotonic() - began < 15
