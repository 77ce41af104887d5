"""The one place callradar talks to Kafka with kafka-python.

Replay, the CLI tools, the broker manager and the tests all get their clients
here, so connection settings (bootstrap, SASL, TLS) and the low-latency
defaults live in one spot. Faust stages use aiokafka through Faust; their
credentials come from :func:`faust_credentials` here, built from the same
settings and the same TLS context (docs/security.md).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

from callradar.pipeline.records import Topics
from callradar.pipeline.settings import Settings, SettingsError

log = logging.getLogger(__name__)
# kafka-python logs every connection at INFO; keep its warnings unless someone chose a level.
if logging.getLogger("kafka").level == logging.NOTSET:
    logging.getLogger("kafka").setLevel(logging.WARNING)

# Error code 36: the topic is already there, which is what ensure_topics wants.
TOPIC_ALREADY_EXISTS = 36


class KafkaSecurityError(SettingsError):
    """The cluster refused our credentials or our TLS: retrying will not help, so say so at once."""


class _Secret(str):
    """A str that shows as '***' in reprs: kafka-python logs its whole config at DEBUG."""

    def __repr__(self) -> str:
        return "'***'"


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context both client libraries use: verifies the broker's certificate and host name."""
    cafile = settings.kafka_ssl_cafile
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)  # None: the system CAs
    if settings.kafka_ssl_certfile:
        keyfile = settings.kafka_ssl_keyfile
        context.load_cert_chain(str(settings.kafka_ssl_certfile), str(keyfile) if keyfile else None)
    return context


def client_config(settings: Settings, role: str) -> dict:
    """Connection options shared by every kafka-python client: bootstrap, SASL, TLS, reconnects."""
    protocol = settings.kafka_security_protocol.upper()
    config = {
        "bootstrap_servers": [server.strip() for server in settings.bootstrap.split(",") if server.strip()],
        "security_protocol": protocol,
        "client_id": f"callradar-{role}",
        # Reconnect quickly: the broker is usually local, and may be just starting.
        "reconnect_backoff_max_ms": 1000,
    }
    if protocol in ("SSL", "SASL_SSL"):
        config["ssl_context"] = ssl_context(settings)
    if protocol.startswith("SASL_"):
        config.update(
            sasl_mechanism=settings.kafka_sasl_mechanism.upper(),
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=_Secret(settings.kafka_sasl_password),
        )
    return config


def faust_credentials(settings: Settings):
    """``broker_credentials`` for faust.App: the same protocol, user and TLS context as client_config."""
    import faust

    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(  # its repr shows the user name only
        username=settings.kafka_sasl_username,
        password=_Secret(settings.kafka_sasl_password),
        mechanism=settings.kafka_sasl_mechanism.upper(),
        ssl_context=context,
    )


def check_login(settings: Settings, timeout_s: float = 10.0) -> None:
    """Raise KafkaSecurityError at once when the cluster refuses our login or our TLS.

    kafka-python retries a refused login until its bootstrap times out and then
    says only "Unable to bootstrap"; aiokafka (Faust's client) raises the
    broker's answer, so one connection through it tells a wrong password from a
    broker that is still starting. Other failures are left to the caller's
    retries. Does nothing for PLAINTEXT.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from aiokafka.conn import create_conn

    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return
    auth = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        auth["ssl_context"] = ssl_context(settings)
    if protocol.startswith("SASL_"):
        auth.update(sasl_mechanism=settings.kafka_sasl_mechanism.upper(),
                    sasl_plain_username=settings.kafka_sasl_username,
                    sasl_plain_password=_Secret(settings.kafka_sasl_password))

    async def login(host: str, port: int) -> None:
        conn = await asyncio.wait_for(
            create_conn(host, port, client_id="callradar-login-check",
                        request_timeout_ms=int(timeout_s * 1000), **auth), timeout_s)
        conn.close()

    for host, port in bootstrap_addresses(settings):
        try:
            # A thread of its own: the caller may already be inside an event loop.
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(asyncio.run, login(host, port)).result()
            return
        except Exception as exc:
            refused = _security_failure(settings, exc)
            if refused is not None:
                raise refused from exc


def _security_failure(settings: Settings, exc: BaseException) -> KafkaSecurityError | None:
    """A clear error when ``exc`` (or what caused it) is a refused login or a failed TLS handshake."""
    import aiokafka.errors
    import kafka.errors

    refused_login = (kafka.errors.SaslAuthenticationFailedError, aiokafka.errors.SaslAuthenticationFailed,
                     aiokafka.errors.AuthenticationFailedError, aiokafka.errors.UnsupportedSaslMechanismError)
    seen = exc
    while seen is not None:
        if isinstance(seen, refused_login):
            return KafkaSecurityError(
                f"Kafka at {settings.bootstrap} refused the {settings.kafka_sasl_mechanism.upper()} login of user "
                f"{settings.kafka_sasl_username!r}: check CALLRADAR_KAFKA_SASL_USERNAME and the password "
                f"(CALLRADAR_KAFKA_SASL_PASSWORD or _FILE) ({seen})")
        if isinstance(seen, ssl.SSLError):
            return KafkaSecurityError(
                f"TLS with Kafka at {settings.bootstrap} failed: {seen}; check CALLRADAR_KAFKA_SSL_CAFILE "
                "(the CA that signed the broker's certificate) and that the certificate names that host")
        seen = seen.__cause__ or seen.__context__
    return None


def bootstrap_addresses(settings: Settings) -> list[tuple[str, int]]:
    out = []
    for server in client_config(settings, "probe")["bootstrap_servers"]:
        host, sep, port = server.rpartition(":")
        if not sep or host.endswith(":"):  # "kafka1" or a bare IPv6 address: Kafka's default port
            host, port = server, "9092"
        out.append((host.strip("[]"), int(port)))
    return out


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections there (cheap check before a Kafka client)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _admin(settings: Settings, timeout_s: float):
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(
        **client_config(settings, "admin"),
        bootstrap_timeout_ms=max(100, int(timeout_s * 1000)),
        request_timeout_ms=max(1000, int(timeout_s * 1000)),
    )


class BrokerUnreachable(TimeoutError):
    """No broker answered in time; ``last_error`` is why the last try failed (None: connection refused)."""

    def __init__(self, settings: Settings, timeout_s: float, last_error: Exception | None):
        detail = f" (last error: {last_error})" if last_error else " (connection refused)"
        super().__init__(f"Kafka at {settings.bootstrap} did not answer within {timeout_s:g} s{detail}")
        self.bootstrap, self.embedded, self.last_error = settings.bootstrap, settings.embedded, last_error


@contextlib.contextmanager
def _quiet_kafka_log():
    """kafka-python logs each failed try at ERROR; while probing, the last one is reported in
    BrokerUnreachable instead (they still show with --verbose)."""
    logger = logging.getLogger("kafka")
    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def wait_for_broker(settings: Settings, timeout_s: float = 30.0) -> dict:
    """Block until the cluster answers a metadata request; return its description.

    Polls TCP first because each failed kafka-python bootstrap leaves an I/O
    thread behind. Raises BrokerUnreachable (a TimeoutError) naming the bootstrap servers.
    """
    deadline = time.monotonic() + timeout_s
    addresses = bootstrap_addresses(settings)
    last_error: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if any(port_open(host, port, min(0.5, remaining)) for host, port in addresses):
            try:
                check_login(settings, timeout_s=max(0.5, min(10.0, remaining)))
                with _quiet_kafka_log():
                    admin = _admin(settings, remaining)
                    try:
                        return admin.describe_cluster()
                    finally:
                        admin.close()
            except KafkaSecurityError:
                raise
            except Exception as exc:  # broker still starting; retry until the deadline
                last_error = exc
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    raise BrokerUnreachable(settings, timeout_s, last_error)


def ensure_topics(settings: Settings, partitions: int | None = None, timeout_s: float = 30.0) -> list[str]:
    """Create every callradar topic that is missing; return the names created now.

    Idempotent. Existing topics are left as they are (a differing partition
    count is logged, not changed: repartitioning would move calls between workers).
    """
    partitions = partitions or settings.topic_partitions
    names = Topics(settings.topic_prefix).all()
    admin = _admin(settings, timeout_s)
    try:
        response = admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": -1} for name in names},
            timeout_ms=int(timeout_s * 1000),
            raise_errors=False,
        )
        created = []
        for topic in response["topics"]:
            code = topic["error_code"]
            if code == 0:
                created.append(topic["name"])
            elif code != TOPIC_ALREADY_EXISTS:
                raise RuntimeError(
                    f"could not create topic {topic['name']}: error {code} {topic.get('error_message') or ''}"
                )
        admin.wait_for_topics(names, timeout_ms=int(timeout_s * 1000))
        counts = _partition_counts(admin, names)
    finally:
        admin.close()
    for name, count in counts.items():
        if count != partitions:
            log.warning("topic %s has %d partitions, settings ask for %d; left as it is", name, count, partitions)
    if created:
        log.info("created %d topic(s) with %d partitions: %s", len(created), partitions, ", ".join(created))
    return created


def delete_topics(settings: Settings, topics: Iterable[str], timeout_s: float = 30.0) -> None:
    """Delete the topics that exist (tests clean their prefixed topics off a shared cluster)."""
    admin = _admin(settings, timeout_s)
    try:
        existing = set(admin.list_topics()) & set(topics)
        if existing:
            admin.delete_topics(sorted(existing), timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()


def _partition_counts(admin, names: Iterable[str]) -> dict[str, int]:
    return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(names)) if t["error_code"] == 0}


def topic_partitions(settings: Settings, topics: Iterable[str], timeout_s: float = 10.0) -> dict[str, int]:
    """Partition count of each topic that exists (missing topics are left out)."""
    admin = _admin(settings, timeout_s)
    try:
        return _partition_counts(admin, topics)
    finally:
        admin.close()


def _key_serializer():
    """str -> UTF-8 bytes, bytes as they are (kafka-python 3 wants a Serializer object, 2.x a function)."""
    try:
        from kafka.serializer import DefaultSerializer

        return DefaultSerializer()
    except ImportError:
        return lambda key: key.encode("utf-8") if isinstance(key, str) else key


def make_producer(settings: Settings, **overrides):
    """A KafkaProducer for low latency and no loss: linger 5 ms, acks from all replicas.

    Keys may be str (call ids) or bytes; values are bytes (records encode themselves).
    """
    from kafka import KafkaProducer

    check_login(settings)
    config = {
        **client_config(settings, "producer"),
        "acks": "all",
        "linger_ms": 5,
        "key_serializer": _key_serializer(),
        "max_block_ms": 30000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def make_consumer(
    settings: Settings,
    topics: Iterable[str] | None,
    group_id: str | None = None,
    from_beginning: bool = True,
    **overrides,
):
    """A KafkaConsumer subscribed to ``topics`` (None: subscribe or assign later).

    Without a group it commits nothing. Session timeout comes from settings,
    because a group join waits about half of it. Keys and values stay bytes, so
    a dead-letter record can keep the original.
    """
    from kafka import KafkaConsumer

    check_login(settings)
    session_ms = int(settings.consumer_session_timeout_s * 1000)
    config = {
        **client_config(settings, "consumer"),
        "group_id": group_id,
        "auto_offset_reset": "earliest" if from_beginning else "latest",
        "enable_auto_commit": group_id is not None,
        "session_timeout_ms": session_ms,
        "heartbeat_interval_ms": max(100, session_ms // 3),
        "fetch_max_wait_ms": 100,
    }
    config.update(overrides)
    consumer = KafkaConsumer(**config)
    if topics:
        consumer.subscribe(list(topics))
    return consumer


def read_topic(
    settings: Settings,
    topic: str,
    timeout_s: float = 10.0,
    until: Callable[[list], bool] | None = None,
) -> list:
    """Every record of ``topic`` from the beginning, for tests and CLI tools.

    Reads until ``until(records_so_far)`` is true, or, without ``until``, up to
    the end offsets seen at the start. Returns what it has at the timeout
    rather than raising: the caller's assertion says what was missing.
    """
    from kafka import TopicPartition

    deadline = time.monotonic() + timeout_s
    consumer = make_consumer(settings, None, group_id=None, from_beginning=True, allow_auto_create_topics=False)
    records: list = []
    try:
        partitions = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.1)
        if partitions is None:
            return records
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned) if until is None else None
        while time.monotonic() < deadline:
            if until is not None and until(records):
                break
            if end is not None and all(consumer.position(tp) >= end[tp] for tp in assigned):
                break
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            batch = consumer.poll(timeout_ms=max(0, min(200, remaining_ms)))
            for tp_records in batch.values():
                records.extend(tp_records)
    finally:
        consumer.close()
    return records


class TopicRecorder(threading.Thread):
    """Reads topics from the start in the background, stamping each record's arrival.

    For tests and benchmarks that check what a run put on the topics and when.
    """

    def __init__(self, settings: Settings, topics: Iterable[str]):
        super().__init__(daemon=True, name="topic-recorder")
        self.topics = list(topics)
        self.consumer = make_consumer(settings, self.topics, group_id=None, from_beginning=True)
        self.records: dict[str, list] = {t: [] for t in self.topics}  # topic -> [(arrived, record)]
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                for batch in self.consumer.poll(timeout_ms=100).values():
                    arrived = time.time()
                    for rec in batch:
                        self.records[rec.topic].append((arrived, rec))
        finally:
            self.consumer.close()

    def count(self) -> int:
        return sum(len(v) for v in self.records.values())

    def wait_until(self, done: Callable[[], bool], stall_s: float, limit_s: float) -> bool:
        """Until ``done()``, or nothing new for stall_s, or limit_s in all; returns done()."""
        deadline = time.time() + limit_s
        last, since = self.count(), time.time()
        while not done() and time.time() < deadline and time.time() - since < stall_s:
            time.sleep(0.25)
            if self.count() != last:
                last, since = self.count(), time.time()
        return done()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)
