"""The embedded Kafka broker and ``callradar kafka fetch|start|stop|status``.

A real Apache Kafka broker (KRaft, one node, loopback only) from Maven Central
jars, so a new user needs only Java. Its config, data, logs and PID file live in
``<state_dir>/kafka``; the jars are shared by every state dir in
``deploy/kafka/libs/<version>``. Several brokers can run side by side on
different ports and state dirs, so every process is found and stopped by its
PID file, and only after checking that the PID really is that broker.

Security follows CALLRADAR_KAFKA_SECURITY_PROTOCOL: with SASL_PLAINTEXT or
SASL_SSL the client listener asks for SCRAM. The broker has a user of its own
(``callradar-broker``, random password kept 0600 in its state dir) created when
the storage is formatted; with it, every start adds or updates the SCRAM users
(the one in settings, plus ``sasl_users``) through the admin API, so no client
password is ever on a command line. SSL and SASL_SSL need ``tls`` (PEM files).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

from callradar.pipeline.errors import UserError
from callradar.pipeline.kafka import clients
from callradar.pipeline.settings import PACKAGE_ROOT, Settings, load_settings

log = logging.getLogger(__name__)

DEPLOY_DIR = PACKAGE_ROOT / "deploy" / "kafka"
# Modest heap: the machine has 2 cores and the workers need the memory.
JVM_OPTIONS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]
INSTALL_JAVA = (
    "install a Java runtime (11 or newer), e.g. `sudo apt-get install -y default-jre-headless`, "
    "or set CALLRADAR_KAFKA_BOOTSTRAP to use a Kafka you already run"
)
LOG_FILES = ("stdout.log", "server.log")  # the JVM's own output, then log4j's
# Only processes whose command line holds this are ever signalled.
BROKER_MAIN_CLASS = "kafka.Kafka"

# The broker's own SCRAM user: inter-broker traffic, and adding the other users at start.
BROKER_USER = "callradar-broker"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")

# Brokers this process launched, kept so they are reaped (no zombies, no ResourceWarning).
_children: dict[int, subprocess.Popen] = {}


class BrokerError(UserError):
    """The embedded broker cannot be fetched, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class BrokerTLS:
    """PEM files for a TLS client listener: the broker's key and certificate chain in one
    file, and the CA that signed it (the broker trusts it for its own connections)."""

    keystore: Path
    ca: Path


@dataclass
class BrokerStatus:
    bootstrap: str
    embedded: bool
    answering: bool
    pid: int | None = None
    message: str = ""

    def __str__(self) -> str:
        return self.message


class EmbeddedKafka:
    """Fetch, start, stop and inspect the broker that ``settings`` describe.

    ``sasl_users`` ({name: password}) are SCRAM users to create besides the one
    in settings; ``tls`` is needed when the protocol is SSL or SASL_SSL.
    """

    def __init__(self, settings: Settings | None = None, sasl_users: dict[str, str] | None = None,
                 tls: BrokerTLS | None = None):
        self.settings = settings or load_settings()
        s = self.settings
        self.protocol = s.kafka_security_protocol.upper()
        self.sasl = self.protocol.startswith("SASL_")
        self.tls = tls
        self.sasl_users = dict(sasl_users or {})
        if self.sasl:
            self.sasl_users.setdefault(s.kafka_sasl_username, s.kafka_sasl_password)
        # Absolute: the path is how a running broker is recognised, from any working directory.
        self.home = Path(s.state_dir).resolve() / "kafka"
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self.pid_file = self.home / "broker.pid"
        self.config_file = self.home / "server.properties"
        self.broker_secret_file = self.home / "broker-user.secret"
        self.libs_dir = DEPLOY_DIR / "libs" / s.kafka_version
        self._log_start: dict[str, int] = {}

    # ------------------------------------------------------------------ fetch

    def fetch(self) -> Path:
        """Copy the broker jars from Maven Central once; later calls return at once."""
        marker = self.libs_dir / ".complete"
        if marker.exists():
            return self.libs_dir
        _require_java()
        mvn = shutil.which("mvn")
        if not mvn:
            raise BrokerError(
                "Maven (`mvn`) is needed once to fetch the Kafka broker jars from Maven Central: "
                "`sudo apt-get install -y maven`, then run `callradar kafka fetch` again"
            )
        pom = DEPLOY_DIR / "pom.xml"
        if not pom.exists():
            raise BrokerError(f"{pom} is missing: the embedded broker runs from a callradar checkout")
        # Fetch into a private folder and rename, so concurrent fetches never see half a folder.
        tmp = self.libs_dir.with_name(f".{self.libs_dir.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("fetching Apache Kafka %s from Maven Central into %s", self.settings.kafka_version, self.libs_dir)
        cmd = [
            mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom), "dependency:copy-dependencies",
            f"-Dkafka.version={self.settings.kafka_version}", f"-DoutputDirectory={tmp}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not (tmp / f"kafka_2.13-{self.settings.kafka_version}.jar").exists():
            shutil.rmtree(tmp, ignore_errors=True)
            output = _tail_text(result.stdout + result.stderr, 15)
            raise BrokerError(
                f"could not fetch Kafka {self.settings.kafka_version} with Maven "
                f"(is Maven Central reachable? is CALLRADAR_KAFKA_VERSION a real release?):\n{output}"
            )
        (tmp / ".complete").write_text(self.settings.kafka_version + "\n")
        try:
            tmp.rename(self.libs_dir)
        except OSError:  # another process finished first; its copy is as good
            shutil.rmtree(tmp, ignore_errors=True)
        return self.libs_dir

    # ------------------------------------------------------------------ start

    def start(self, timeout_s: float = 60.0) -> bool:
        """Start the broker unless it already runs, wait until it answers, create the topics.

        Returns True only when this call launched the broker, so a caller stops
        only what it started. With CALLRADAR_KAFKA_BOOTSTRAP set it does nothing.
        """
        s = self.settings
        if not s.embedded:
            log.info("CALLRADAR_KAFKA_BOOTSTRAP is set (%s): nothing to start", s.bootstrap)
            return False
        began = time.monotonic()
        with self._lock():
            pid = self._running_pid()
            started = pid is None
            if started:
                self._check_security()
                self._check_ports_free()
                java = _require_java()
                libs = self.fetch()
                self._write_config()
                self._format_storage(java, libs)
                pid = self._launch(java, libs)
            self._wait_until_answering(pid, began + timeout_s, stop_on_failure=started)
            if self.sasl:
                self._upsert_scram_users()
        clients.ensure_topics(self._admin_settings())
        how = f"started in {time.monotonic() - began:.1f} s" if started else "was already running"
        log.info("Kafka at %s %s (pid %d), topics ready", s.bootstrap, how, pid)
        return started

    def _check_ports_free(self) -> None:
        for name, port in (
            ("CALLRADAR_EMBEDDED_KAFKA_PORT", self.settings.embedded_kafka_port),
            ("CALLRADAR_EMBEDDED_KAFKA_CONTROLLER_PORT", self.settings.embedded_kafka_controller_port),
        ):
            if not _can_bind(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is taken by another process (not the broker of "
                    f"{self.home}); stop that process, or choose another port with {name}, "
                    f"or if it is a Kafka you want to use, set CALLRADAR_KAFKA_BOOTSTRAP=127.0.0.1:{port}"
                )

    def _check_security(self) -> None:
        if self.sasl and self.settings.kafka_sasl_mechanism.upper() not in SCRAM_MECHANISMS:
            raise BrokerError(f"the embedded broker serves SCRAM only, not {self.settings.kafka_sasl_mechanism}: "
                              f"set CALLRADAR_KAFKA_SASL_MECHANISM to {' or '.join(SCRAM_MECHANISMS)}")
        if self.protocol.endswith("SSL") and self.tls is None:
            raise BrokerError(f"CALLRADAR_KAFKA_SECURITY_PROTOCOL={self.protocol}: the embedded broker serves TLS "
                              "only when given its certificate (EmbeddedKafka(tls=BrokerTLS(...)), as the tests do); "
                              "for TLS in production, point CALLRADAR_KAFKA_BOOTSTRAP at your own cluster")

    def render_config(self) -> str:
        """server.properties for these settings (the template in deploy/kafka)."""
        template = Template((DEPLOY_DIR / "server.properties").read_text())
        return template.substitute(
            broker_port=self.settings.embedded_kafka_port,
            controller_port=self.settings.embedded_kafka_controller_port,
            data_dir=self.data_dir,
            partitions=self.settings.topic_partitions,
            listener=self.protocol,
            security=self._security_properties(),
        )

    def _security_properties(self) -> str:
        lines = []
        if self.sasl:
            jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
                    f'username="{BROKER_USER}" password="{self._broker_password()}";')
            lines += [f"sasl.enabled.mechanisms={','.join(SCRAM_MECHANISMS)}",
                      "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"]
            # Kafka keeps listener JAAS lines (password-type configs) out of its config dump.
            lines += [f"listener.name.{self.protocol.lower()}.{m.lower()}.sasl.jaas.config={jaas}"
                      for m in SCRAM_MECHANISMS]
        if self.protocol.endswith("SSL") and self.tls is not None:
            lines += ["ssl.keystore.type=PEM", f"ssl.keystore.location={Path(self.tls.keystore).resolve()}",
                      "ssl.truststore.type=PEM", f"ssl.truststore.location={Path(self.tls.ca).resolve()}"]
        return "\n".join(lines)

    def _broker_password(self) -> str:
        """The broker user's password: made when the storage is formatted, kept for later starts."""
        if self.broker_secret_file.exists():
            return self.broker_secret_file.read_text().strip()
        if (self.data_dir / "meta.properties").exists():
            raise BrokerError(f"{self.data_dir} was formatted without SASL (or {self.broker_secret_file.name} was "
                              "removed), so it has no broker user: stop the broker (callradar kafka stop), then "
                              "remove that folder (its topics go with it) or use another CALLRADAR_STATE_DIR")
        password = secrets.token_urlsafe(24)
        _write_private(self.broker_secret_file, password + "\n")
        return password

    def _admin_settings(self) -> Settings:
        """Settings that connect as the broker's own user (the client user may not exist yet)."""
        if not self.sasl:
            return self.settings
        changes = dict(kafka_sasl_username=BROKER_USER, kafka_sasl_password=self._broker_password(),
                       kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_password_file=None)
        return dataclasses.replace(self.settings, **changes)

    def _upsert_scram_users(self) -> None:
        """Create or update every SCRAM user (both mechanisms); idempotent, so on every start."""
        from kafka.admin import UserScramCredentialUpsertion

        admin = clients._admin(self._admin_settings(), timeout_s=30)
        errors = {}
        try:
            for mechanism in SCRAM_MECHANISMS:  # one request each: Kafka refuses a user twice in one request
                upserts = [UserScramCredentialUpsertion(name, mechanism, password, iterations=8192)
                           for name, password in self.sasl_users.items()]
                result = admin.alter_user_scram_credentials(upserts)
                errors.update({f"{user} ({mechanism})": error for user, error in result.items() if error})
        finally:
            admin.close()
        if errors:
            raise BrokerError(f"could not create SCRAM users: {errors}")
        log.info("SCRAM users ready: %s", ", ".join(sorted(self.sasl_users)))

    def _write_config(self) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        _write_private(self.config_file, self.render_config())  # it may hold the broker user's password

    def _java_command(self, java: str, libs: Path, main: str, *args: str) -> list[str]:
        return [
            java, *JVM_OPTIONS,
            f"-Dlog4j.configuration=file:{DEPLOY_DIR / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp", f"{libs}/*", main, *args,
        ]

    def _format_storage(self, java: str, libs: Path) -> None:
        """KRaft needs its data dir formatted with a cluster id once; skipped when already done."""
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = _new_cluster_id()
        args = ["format", "-t", cluster_id, "-c", str(self.config_file), "--ignore-formatted"]
        if self.sasl:  # only the broker's own user here; the others are added through the admin API
            args += [arg for m in SCRAM_MECHANISMS
                     for arg in ("--add-scram", f"{m}=[name={BROKER_USER},password={self._broker_password()}]")]
        cmd = self._java_command(java, libs, "kafka.tools.StorageTool", *args)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            output = _tail_text(result.stdout + result.stderr, 15)
            raise BrokerError(f"formatting {self.data_dir} failed:\n{output}")

    def _launch(self, java: str, libs: Path) -> int:
        cmd = self._java_command(java, libs, BROKER_MAIN_CLASS, str(self.config_file))
        # Logs are appended to across runs: remember where this run begins, for error messages.
        self._log_start = {name: _size(self.logs_dir / name) for name in LOG_FILES}
        with open(self.logs_dir / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.home, start_new_session=True,  # outlives this command; Ctrl-C here does not reach it
            )
        _children[proc.pid] = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        log.info("launched Kafka broker pid %d on 127.0.0.1:%d", proc.pid, self.settings.embedded_kafka_port)
        return proc.pid

    def _wait_until_answering(self, pid: int, deadline: float, stop_on_failure: bool) -> None:
        while True:
            if not self._is_our_broker(pid):
                reason = "exited during start-up"
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = "did not answer in time"
                break
            try:
                clients.wait_for_broker(self._admin_settings(), timeout_s=min(2.0, remaining))
                return
            except TimeoutError:
                pass
            except clients.KafkaSecurityError as exc:  # e.g. storage formatted with another broker password
                reason = f"refused its own user's login ({exc})"
                break
        logs = self.log_tail()
        if stop_on_failure:
            self._terminate(pid)
        hint = ""
        if "Address already in use" in logs:
            hint = " (a port was taken while it started: choose others with CALLRADAR_EMBEDDED_KAFKA_PORT)"
        raise BrokerError(f"the Kafka broker (pid {pid}) {reason}{hint}; last lines of its logs:\n{logs}")

    def log_tail(self, lines: int = 20) -> str:
        """The end of the broker's logs (of the latest run started here), for error messages."""
        parts = []
        for name in LOG_FILES:
            path = self.logs_dir / name
            if path.exists():
                with open(path, "rb") as handle:
                    handle.seek(self._log_start.get(name, 0))
                    text = _tail_text(handle.read().decode(errors="replace"), lines)
                if text:
                    parts.append(f"--- {path}\n{text}")
        return "\n".join(parts) or f"(nothing in the logs in {self.logs_dir})"

    # ------------------------------------------------------------------ stop / status

    def stop(self, grace_s: float = 20.0) -> bool:
        """Stop the broker by its PID file: SIGTERM (clean shutdown), SIGKILL after ``grace_s``.

        Returns True when a broker was stopped; False when none ran (or the cluster is external).
        """
        s = self.settings
        if not s.embedded:
            log.info("CALLRADAR_KAFKA_BOOTSTRAP is set (%s): not callradar's to stop", s.bootstrap)
            return False
        if not self.pid_file.exists():
            return False
        with self._lock():
            pid = self._running_pid()
            if pid is None:
                return False
            self._terminate(pid, grace_s)
        log.info("stopped the Kafka broker (pid %d)", pid)
        return True

    def _terminate(self, pid: int, grace_s: float = 20.0) -> None:
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            if not self._is_our_broker(pid):
                break
            log.info("sending %s to Kafka broker pid %d", sig.name, pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait_s
            while self._is_our_broker(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        if self._is_our_broker(pid):
            raise BrokerError(f"the Kafka broker (pid {pid}) did not stop, even after SIGKILL")
        _children.pop(pid, None)
        self.pid_file.unlink(missing_ok=True)

    def status(self, timeout_s: float = 5.0) -> BrokerStatus:
        """Is the broker (or the external cluster) answering within ``timeout_s``?"""
        s = self.settings
        if not s.embedded:
            try:
                info = clients.wait_for_broker(s, timeout_s=timeout_s)
            except TimeoutError as exc:
                return BrokerStatus(s.bootstrap, embedded=False, answering=False,
                                    message=f"external Kafka is not answering: {exc}")
            return BrokerStatus(s.bootstrap, embedded=False, answering=True,
                                message=f"external Kafka at {s.bootstrap} is answering "
                                f"({len(info['brokers'])} broker(s))")
        pid = self._running_pid()
        if pid is None:
            return BrokerStatus(s.bootstrap, embedded=True, answering=False,
                                message=f"not running (state in {self.home})")
        try:
            clients.wait_for_broker(s, timeout_s=timeout_s)
        except TimeoutError:
            return BrokerStatus(s.bootstrap, embedded=True, answering=False, pid=pid,
                                message=f"pid {pid} is up but not answering at {s.bootstrap}; see {self.logs_dir}")
        return BrokerStatus(s.bootstrap, embedded=True, answering=True, pid=pid,
                            message=f"running at {s.bootstrap} (pid {pid}); data in {self.data_dir}")

    # ------------------------------------------------------------------ process bookkeeping

    def is_running(self) -> bool:
        """Whether this state dir's broker process is alive (answering or still starting)."""
        return self._running_pid() is not None

    def _running_pid(self) -> int | None:
        """The PID from the PID file if that process is this broker; a stale file is removed."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if self._is_our_broker(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def _is_our_broker(self, pid: int) -> bool:
        """True only for a live Kafka process started with this state dir's config (PIDs get reused)."""
        child = _children.get(pid)
        if child is not None:  # launched here: trust the handle (cmdline is briefly empty during exec)
            return child.poll() is None
        cmdline = _command_line(pid)
        return BROKER_MAIN_CLASS in cmdline and str(self.config_file) in cmdline

    @contextlib.contextmanager
    def _lock(self):
        """Serialise start and stop across processes that share this state dir."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _require_java() -> str:
    java = shutil.which("java")
    if not java:
        raise BrokerError(
            f"Java is not installed (no `java` on PATH) and the embedded Kafka broker needs it: {INSTALL_JAVA}"
        )
    return java


def _can_bind(port: int) -> bool:
    """True when 127.0.0.1:port is free to listen on (SO_REUSEADDR: TIME_WAIT leftovers don't count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port free right now, for brokers that must not collide (tests, side-by-side runs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command_line(pid: int) -> str:
    """The process's command line, or '' when it is gone or a zombie."""
    if not Path("/proc/self/cmdline").exists():  # no /proc (macOS): ask ps
        result = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
        return result.stdout.strip()
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
