"""Every command that needs Kafka connects one way: no broker is one line saying what to do, exit 2."""

from __future__ import annotations

import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from callradar.pipeline.cli import main as cli
from callradar.pipeline.errors import UserError
from callradar.pipeline.kafka.connect import connect_or_explain
from callradar.pipeline.kafka.embedded import free_port
from callradar.pipeline.settings import SettingsError, load_settings

EMBEDDED_FIX = "start one with `callradar kafka start` (or set CALLRADAR_KAFKA_BOOTSTRAP to your cluster)"
EXTERNAL_FIX = "check CALLRADAR_KAFKA_BOOTSTRAP and that the cluster is up"


def test_no_embedded_broker_names_the_address_and_how_to_start_one(tmp_path):
    port = free_port()  # nothing listens there
    settings = load_settings(environ={}, state_dir=tmp_path, embedded_kafka_port=port)
    began = time.monotonic()
    with pytest.raises(UserError) as failure:
        connect_or_explain(settings, timeout_s=0.5)
    assert time.monotonic() - began < 3
    assert str(failure.value) == f"no Kafka broker answers at 127.0.0.1:{port}: {EMBEDDED_FIX}"


def test_no_external_cluster_names_the_address_and_the_setting(tmp_path):
    bootstrap = f"127.0.0.1:{free_port()}"
    settings = load_settings(environ={}, state_dir=tmp_path, kafka_bootstrap=bootstrap, kafka_connect_timeout_s=0.3)
    with pytest.raises(UserError) as failure:
        connect_or_explain(settings)  # the wait comes from CALLRADAR_KAFKA_CONNECT_TIMEOUT_S
    assert str(failure.value) == f"no Kafka broker answers at {bootstrap}: {EXTERNAL_FIX}"


def test_something_that_is_not_kafka_on_the_port_is_one_line_too(tmp_path, caplog):
    import logging
    import socket

    caplog.set_level(logging.INFO)
    with socket.socket() as listener:  # takes connections, never answers a Kafka request
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        bootstrap = f"127.0.0.1:{listener.getsockname()[1]}"
        settings = load_settings(environ={}, state_dir=tmp_path, kafka_bootstrap=bootstrap)
        with pytest.raises(UserError) as failure:
            connect_or_explain(settings, timeout_s=1.5)
    message = str(failure.value)
    assert message.startswith(f"no Kafka broker answers at {bootstrap} (") and message.endswith(f"): {EXTERNAL_FIX}")
    assert "\n" not in message
    assert not [r for r in caplog.records if r.name.startswith("kafka") and r.levelno >= logging.ERROR]


def test_the_connect_timeout_must_be_positive():
    with pytest.raises(SettingsError, match="CALLRADAR_KAFKA_CONNECT_TIMEOUT_S"):
        load_settings(environ={"CALLRADAR_KAFKA_CONNECT_TIMEOUT_S": "0"})


def stereo_wav(path):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros((800, 2), np.int16).tobytes())
    return path


@pytest.fixture
def no_broker(tmp_path, monkeypatch):
    """Settings that point every command at a closed loopback port, with a short wait."""
    port = free_port()
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CALLRADAR_EMBEDDED_KAFKA_PORT", str(port))
    monkeypatch.setenv("CALLRADAR_KAFKA_CONNECT_TIMEOUT_S", "0.3")
    monkeypatch.setenv("CALLRADAR_CONSOLE_TOKENS", '{"tokens": {"a-token-of-at-least-16-chars": {"role": "supervisor"}}}')
    # The worker would cap this test process's BLAS threads for good; not what is tested here.
    monkeypatch.setattr("callradar.pipeline.cli.worker.limit_math_threads", lambda threads: None)
    return f"127.0.0.1:{port}"


@pytest.mark.parametrize("verb, args", [
    ("worker", ["--stages", "score"]),
    ("console", []),
    ("replay", ["call.wav"]),
    ("watch", ["--seconds", "1"]),
    ("archive", ["--out", "archive"]),
])
def test_each_kafka_command_says_in_one_line_that_no_broker_answers(no_broker, tmp_path, monkeypatch, capsys,
                                                                    verb, args):
    monkeypatch.chdir(tmp_path)
    stereo_wav(tmp_path / "call.wav")
    began = time.monotonic()
    assert cli.main([verb, *args]) == 2
    assert time.monotonic() - began < 10
    err = capsys.readouterr().err
    assert err == f"callradar {verb}: error: no Kafka broker answers at {no_broker}: {EMBEDDED_FIX}\n"


def test_demo_against_a_cluster_that_is_down_says_so_in_one_line(no_broker, monkeypatch, capsys):
    monkeypatch.setenv("CALLRADAR_KAFKA_BOOTSTRAP", no_broker)  # an external cluster: the demo starts no broker
    assert cli.main(["demo"]) == 2
    assert capsys.readouterr().err == f"callradar demo: error: no Kafka broker answers at {no_broker}: {EXTERNAL_FIX}\n"


def test_a_worker_process_without_a_broker_exits_2_with_one_line_and_no_traceback(tmp_path):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "CALLRADAR_STATE_DIR": str(tmp_path), "CALLRADAR_EMBEDDED_KAFKA_PORT": str(port),
           "CALLRADAR_KAFKA_CONNECT_TIMEOUT_S": "1"}
    done = subprocess.run([sys.executable, "-m", "callradar.pipeline.cli.main", "worker", "--stages", "score"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"callradar worker: error: no Kafka broker answers at 127.0.0.1:{port}: {EMBEDDED_FIX}\n"


def test_no_embedded_broker_process_fails_at_once_instead_of_waiting(tmp_path):
    """Nothing listens and no embedded broker is starting: the answer cannot change, so no wait."""
    settings = load_settings(environ={}, state_dir=tmp_path, embedded_kafka_port=free_port())
    began = time.monotonic()
    with pytest.raises(UserError, match="callradar kafka start"):
        connect_or_explain(settings, timeout_s=30)
    assert time.monotonic() - began < 5
