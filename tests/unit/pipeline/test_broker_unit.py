"""The embedded broker's refusals and safety checks, without starting Kafka."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest

from callradar.pipeline.cli import main as cli
from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.kafka.embedded import BrokerError, EmbeddedKafka, free_port
from callradar.pipeline.settings import SettingsError, load_settings


def local_settings(tmp_path, **overrides):
    values = dict(
        state_dir=tmp_path,
        embedded_kafka_port=free_port(),
        embedded_kafka_controller_port=free_port(),
    )
    values.update(overrides)
    return load_settings(environ={}, **values)


@pytest.fixture(autouse=True)
def only_the_kafka_command(monkeypatch):
    """cli.main with only this module's subcommand: the test doesn't depend on the others' imports."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("callradar.pipeline.cli.kafka",))


@pytest.fixture
def listening_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock
    sock.close()


@pytest.mark.parametrize("which", ["embedded_kafka_port", "embedded_kafka_controller_port"])
def test_start_refuses_a_taken_port_and_leaves_its_owner_alone(tmp_path, listening_socket, which):
    port = listening_socket.getsockname()[1]
    broker = EmbeddedKafka(local_settings(tmp_path, **{which: port}))

    with pytest.raises(BrokerError) as failure:
        broker.start(timeout_s=5)

    message = str(failure.value)
    assert f"port {port} " in message and "127.0.0.1" in message
    assert "CALLRADAR_" + which.upper() in message  # says which setting to change
    assert not broker.pid_file.exists()  # nothing was launched
    with socket.create_connection(("127.0.0.1", port), timeout=2):  # the owner still listens
        pass


def test_stop_never_signals_a_process_that_is_not_the_broker(tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        broker = EmbeddedKafka(local_settings(tmp_path))
        broker.home.mkdir(parents=True)
        broker.pid_file.write_text(f"{stranger.pid}\n")  # a stale or forged PID file

        assert broker.stop(grace_s=1) is False
        assert stranger.poll() is None, "stop() killed a process that is not the Kafka broker"
        assert not broker.pid_file.exists()  # the stale file is cleaned up
        assert broker.status().pid is None
    finally:
        stranger.kill()
        stranger.wait()


def test_missing_java_says_to_install_a_jre(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    broker = EmbeddedKafka(local_settings(tmp_path / "state"))

    with pytest.raises(BrokerError) as failure:
        broker.start(timeout_s=5)

    message = str(failure.value)
    assert "Java" in message and "install" in message
    assert "default-jre-headless" in message
    assert not broker.pid_file.exists()


def test_missing_maven_says_to_install_it(tmp_path, monkeypatch):
    java = subprocess.run(["which", "java"], capture_output=True, text=True).stdout.strip()
    if not java:
        pytest.skip("no java on this machine: the Maven check comes after the Java check")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(java)
    monkeypatch.setenv("PATH", str(bin_dir))
    # A version never fetched, so fetch() cannot return the cached jars.
    broker = EmbeddedKafka(local_settings(tmp_path / "state", kafka_version="0.0.0-unfetched"))

    with pytest.raises(BrokerError, match=r"Maven .*apt-get install -y maven"):
        broker.fetch()


def test_config_binds_loopback_only_and_uses_the_state_dir(tmp_path):
    settings = local_settings(tmp_path, topic_partitions=7)
    broker = EmbeddedKafka(settings)
    config = dict(
        line.split("=", 1) for line in broker.render_config().splitlines() if line and not line.startswith("#")
    )

    for key in ("listeners", "advertised.listeners"):
        hosts = re.findall(r"//([^:]+):", config[key])
        assert hosts and set(hosts) == {"127.0.0.1"}, config[key]
    assert f"127.0.0.1:{settings.embedded_kafka_port}" in config["listeners"]
    assert config["controller.quorum.voters"] == f"1@127.0.0.1:{settings.embedded_kafka_controller_port}"
    assert config["log.dirs"] == str(tmp_path.resolve() / "kafka" / "data")
    assert config["num.partitions"] == "7"
    assert config["offsets.topic.replication.factor"] == "1"
    assert config["group.initial.rebalance.delay.ms"] == "0"


def test_external_bootstrap_starts_and_stops_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALLRADAR_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path))
    broker = EmbeddedKafka(load_settings())

    assert broker.start() is False
    assert broker.stop() is False
    assert not (tmp_path / "kafka").exists()

    status = broker.status(timeout_s=0.5)  # nothing listens on port 1
    assert not status.answering and not status.embedded and "not answering" in status.message

    assert cli.main(["kafka", "start"]) == 0
    assert "CALLRADAR_KAFKA_BOOTSTRAP is set" in capsys.readouterr().out


def test_cli_reports_a_taken_port_as_a_one_line_error(tmp_path, monkeypatch, listening_socket, capsys):
    port = listening_socket.getsockname()[1]
    monkeypatch.delenv("CALLRADAR_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CALLRADAR_EMBEDDED_KAFKA_PORT", str(port))
    monkeypatch.setenv("CALLRADAR_EMBEDDED_KAFKA_CONTROLLER_PORT", str(free_port()))

    assert cli.main(["kafka", "start"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("callradar kafka: error: port") and str(port) in err
    assert len(err.splitlines()) == 1
    with socket.create_connection(("127.0.0.1", port), timeout=2):  # the owner still listens
        pass


def test_wait_for_broker_times_out_naming_the_bootstrap(tmp_path):
    settings = local_settings(tmp_path)  # nothing listens on its free port
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{settings.embedded_kafka_port}"):
        kafka_io.wait_for_broker(settings, timeout_s=0.5)
    assert time.monotonic() - began < 3


def test_sasl_is_refused_until_settings_carry_credentials(tmp_path):
    with pytest.raises(SettingsError, match="SASL_SSL needs CALLRADAR_KAFKA_SASL_USERNAME"):
        local_settings(tmp_path, kafka_security_protocol="SASL_SSL")
