"""Kafka SASL/TLS settings, client configs and secret handling, without a broker."""

from __future__ import annotations

import logging
import ssl
import stat

import pytest

from callradar.pipeline.kafka import clients as kafka_io
from callradar.pipeline.kafka.embedded import BROKER_USER, BrokerError, BrokerTLS, EmbeddedKafka, free_port
from callradar.pipeline.processes import settings_env
from callradar.pipeline.settings import SettingsError, load_settings

PASSWORD = "pw-Zq7#not-in-logs"


def sasl_env(**extra):
    env = {
        "CALLRADAR_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CALLRADAR_KAFKA_SASL_USERNAME": "alice",
        "CALLRADAR_KAFKA_SASL_PASSWORD": PASSWORD,
    }
    env.update(extra)
    return env


@pytest.fixture
def pem(tmp_path):
    """Any readable file will do where only existence is checked."""
    path = tmp_path / "ca.pem"
    path.write_text("not really a certificate\n")
    return path


def test_repr_never_shows_the_password():
    settings = load_settings(sasl_env())
    assert settings.kafka_sasl_password == PASSWORD
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    assert "kafka_sasl_username='alice'" in repr(settings)


def test_password_file_is_read_at_start_up(tmp_path):
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")  # as `echo` or a Kubernetes secret writes it
    env = sasl_env(CALLRADAR_KAFKA_SASL_PASSWORD="", CALLRADAR_KAFKA_SASL_PASSWORD_FILE=str(secret))
    settings = load_settings(env)
    assert settings.kafka_sasl_password == PASSWORD
    assert PASSWORD not in repr(settings)

    with pytest.raises(SettingsError, match="not both"):
        load_settings(sasl_env(CALLRADAR_KAFKA_SASL_PASSWORD_FILE=str(secret)))
    with pytest.raises(SettingsError, match="PASSWORD_FILE=.*cannot read"):
        load_settings(sasl_env(CALLRADAR_KAFKA_SASL_PASSWORD="", CALLRADAR_KAFKA_SASL_PASSWORD_FILE=str(tmp_path / "x")))


@pytest.mark.parametrize("env,message", [
    ({"CALLRADAR_KAFKA_SECURITY_PROTOCOL": "SASL"}, "choose from PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ({"CALLRADAR_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "needs CALLRADAR_KAFKA_SASL_USERNAME"),
    ({"CALLRADAR_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CALLRADAR_KAFKA_SASL_USERNAME": "alice"},
     "needs CALLRADAR_KAFKA_SASL_USERNAME"),
    (sasl_env(CALLRADAR_KAFKA_SASL_MECHANISM="GSSAPI"), "SASL_MECHANISM='GSSAPI'"),
    (sasl_env(CALLRADAR_KAFKA_SECURITY_PROTOCOL="PLAINTEXT"), "SASL credentials are set but"),
    ({"CALLRADAR_KAFKA_SSL_CAFILE": "/etc/hostname"}, "TLS files are used only with SSL or SASL_SSL"),
    ({"CALLRADAR_KAFKA_SECURITY_PROTOCOL": "SSL", "CALLRADAR_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     "CAFILE=/nonexistent/ca.pem: no such file"),
])
def test_half_configured_security_is_refused(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_keyfile_needs_a_certfile(pem):
    env = {"CALLRADAR_KAFKA_SECURITY_PROTOCOL": "SSL", "CALLRADAR_KAFKA_SSL_KEYFILE": str(pem)}
    with pytest.raises(SettingsError, match="KEYFILE needs CALLRADAR_KAFKA_SSL_CERTFILE"):
        load_settings(env)


def test_plaintext_client_config_is_unchanged():
    config = kafka_io.client_config(load_settings({}), "producer")
    assert config["security_protocol"] == "PLAINTEXT"
    assert not any(key.startswith(("sasl_", "ssl_")) for key in config)
    assert kafka_io.faust_credentials(load_settings({})) is None


def test_worker_and_console_listen_on_loopback_unless_told_otherwise():
    from callradar.pipeline.kafka.app import create_app
    from callradar.pipeline.metrics import PipelineMetrics

    settings = load_settings({})  # a clean environment: the defaults alone
    assert (settings.worker_web_host, settings.console_host) == ("127.0.0.1", "127.0.0.1")
    app = create_app(settings, stages=(), metrics=PipelineMetrics())  # Faust itself would bind 0.0.0.0
    assert app.conf.web_bind == "127.0.0.1"
    opened = load_settings({"CALLRADAR_WORKER_WEB_HOST": "0.0.0.0", "CALLRADAR_CONSOLE_HOST": "0.0.0.0"})
    assert (opened.worker_web_host, opened.console_host) == ("0.0.0.0", "0.0.0.0")  # as the images set it


def test_sasl_client_config_carries_a_masked_password():
    settings = load_settings(sasl_env(CALLRADAR_KAFKA_SASL_MECHANISM="scram-sha-512"))
    config = kafka_io.client_config(settings, "consumer")
    assert config["security_protocol"] == "SASL_PLAINTEXT"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert config["sasl_plain_username"] == "alice"
    assert config["sasl_plain_password"] == PASSWORD  # the real value for the client library...
    assert config["sasl_plain_password"].encode() == PASSWORD.encode()
    assert PASSWORD not in repr(config) and PASSWORD not in "%s" % (config,)  # ...but not in its logs
    assert "ssl_context" not in config


def test_sasl_ssl_verifies_the_broker(tmp_path):
    settings = load_settings(sasl_env(CALLRADAR_KAFKA_SECURITY_PROTOCOL="SASL_SSL"))  # system CAs
    context = kafka_io.client_config(settings, "admin")["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname

    credentials = kafka_io.faust_credentials(settings)
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.username == "alice" and credentials.password == PASSWORD
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert PASSWORD not in repr(credentials)


def test_faust_credentials_for_sasl_plaintext_and_ssl():
    sasl = kafka_io.faust_credentials(load_settings(sasl_env()))
    assert sasl.protocol.value == "SASL_PLAINTEXT" and sasl.ssl_context is None
    tls = kafka_io.faust_credentials(load_settings({"CALLRADAR_KAFKA_SECURITY_PROTOCOL": "SSL"}))
    assert tls.protocol.value == "SSL" and tls.context.check_hostname


def test_kafka_python_debug_log_of_its_config_has_no_password(caplog):
    """KafkaAdminClient logs its whole configuration at DEBUG (callradar -v)."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaTimeoutError

    settings = load_settings(sasl_env(CALLRADAR_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}"))
    with caplog.at_level(logging.DEBUG, logger="kafka"):
        with pytest.raises(KafkaTimeoutError):  # nothing listens there
            KafkaAdminClient(**kafka_io.client_config(settings, "admin"), bootstrap_timeout_ms=200)
    assert "Starting KafkaAdminClient with configuration" in caplog.text
    assert "'sasl_plain_password': '***'" in caplog.text
    assert PASSWORD not in caplog.text


def test_worker_env_passes_security_and_prefers_the_password_file(tmp_path, monkeypatch):
    for name in ("CALLRADAR_KAFKA_SASL_PASSWORD", "CALLRADAR_KAFKA_SASL_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    direct = load_settings(sasl_env(CALLRADAR_KAFKA_SASL_MECHANISM="SCRAM-SHA-512"))
    env = settings_env(direct)
    child = load_settings(env)
    assert (child.kafka_security_protocol, child.kafka_sasl_mechanism, child.kafka_sasl_username,
            child.kafka_sasl_password) == ("SASL_PLAINTEXT", "SCRAM-SHA-512", "alice", PASSWORD)

    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD)
    monkeypatch.setenv("CALLRADAR_KAFKA_SASL_PASSWORD", PASSWORD)  # a parent env must not clash with the file
    from_file = load_settings(sasl_env(CALLRADAR_KAFKA_SASL_PASSWORD="", CALLRADAR_KAFKA_SASL_PASSWORD_FILE=str(secret)))
    env = settings_env(from_file)
    assert env["CALLRADAR_KAFKA_SASL_PASSWORD_FILE"] == str(secret)
    assert PASSWORD not in env.values()
    assert load_settings(env).kafka_sasl_password == PASSWORD


def _broker(tmp_path, protocol="SASL_PLAINTEXT", mechanism="SCRAM-SHA-256", **kwargs):
    env = sasl_env(CALLRADAR_KAFKA_SASL_MECHANISM=mechanism) if protocol.startswith("SASL") else {}
    settings = load_settings(env, state_dir=tmp_path, embedded_kafka_port=free_port(),
                             embedded_kafka_controller_port=free_port(), kafka_security_protocol=protocol)
    return EmbeddedKafka(settings, **kwargs)


def test_sasl_broker_config_keeps_loopback_and_a_private_file(tmp_path):
    broker = _broker(tmp_path, sasl_users={"bob": "bob-secret"})
    assert broker.sasl_users == {"bob": "bob-secret", "alice": PASSWORD}
    broker._write_config()
    config = dict(line.split("=", 1) for line in broker.config_file.read_text().splitlines()
                  if line and not line.startswith("#"))
    port = broker.settings.embedded_kafka_port
    assert config["listeners"].startswith(f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:")
    assert config["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert config["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    jaas = config["listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config"]
    assert f'username="{BROKER_USER}"' in jaas
    assert PASSWORD not in broker.config_file.read_text()  # client users go in through the admin API
    for path in (broker.config_file, broker.broker_secret_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_broker_refuses_what_it_cannot_serve(tmp_path):
    with pytest.raises(BrokerError, match="SCRAM only"):
        _broker(tmp_path / "plain", mechanism="PLAIN").start(timeout_s=1)
    with pytest.raises(BrokerError, match="only when given its certificate"):
        _broker(tmp_path / "tls", protocol="SSL").start(timeout_s=1)
    tls = _broker(tmp_path / "tls2", protocol="SSL", tls=BrokerTLS(tmp_path / "k.pem", tmp_path / "ca.pem"))
    assert "ssl.keystore.type=PEM" in tls.render_config()
