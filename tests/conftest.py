"""The real Kafka broker for integration tests.

``kafka_settings`` (session scope) gives Settings that point at a live broker,
with a topic prefix of its own (``t<pid>-``) and every callradar topic created:

* ``CALLRADAR_KAFKA_BOOTSTRAP`` set: that cluster is used and nothing is started;
  this session's topics are deleted at the end. To reuse a broker you keep
  running (``callradar kafka start``), point it at ``127.0.0.1:19092``; runs then
  skip the broker's start-up (about 5 to 10 s here).
* otherwise a private embedded broker is started (jars fetched if needed) on free
  loopback ports with its own state dir, ``<state_dir>/test-kafka/<pid>``, and
  stopped at the end of the session. Private, because several people run tests
  from one checkout at once, and a shared broker would be stopped under them.
  Brokers left behind by killed sessions are stopped (by PID) on the next run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.kafka.embedded import EmbeddedKafka, free_port
from callradar.pipeline.records import Topics
from callradar.pipeline.settings import load_settings


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_orphans(root: Path, base_settings) -> None:
    """Stop brokers of test sessions that died without tearing down (their dir names are session PIDs)."""
    if not root.is_dir():
        return
    for session_dir in root.iterdir():
        if session_dir.name.isdigit() and not _pid_alive(int(session_dir.name)):
            EmbeddedKafka(dataclasses.replace(base_settings, state_dir=session_dir)).stop(grace_s=5)
            shutil.rmtree(session_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_settings():
    base = load_settings()
    prefix = f"t{os.getpid()}-"
    if not base.embedded:
        settings = dataclasses.replace(base, topic_prefix=prefix)
        kafka_io.wait_for_broker(settings, timeout_s=30)
        kafka_io.ensure_topics(settings)
        yield settings
        # Not our cluster: leave it as we found it, less this session's topics.
        kafka_io.delete_topics(settings, Topics(prefix).all())
        return

    root = Path(base.state_dir).resolve() / "test-kafka"
    _stop_orphans(root, base)
    settings = dataclasses.replace(
        base,
        topic_prefix=prefix,
        state_dir=root / str(os.getpid()),
        embedded_kafka_port=free_port(),
        embedded_kafka_controller_port=free_port(),
    )
    broker = EmbeddedKafka(settings)
    started = broker.start(timeout_s=120)  # also creates the topics
    try:
        yield settings
    finally:
        if started:
            broker.stop()
            shutil.rmtree(settings.state_dir, ignore_errors=True)
