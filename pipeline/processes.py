"""Start, wait for and stop pipeline worker processes (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from callradar.pipeline.settings import Settings


def limit_math_threads(threads: int) -> None:
    """numpy/BLAS, OpenMP and torch threads of this process (Whisper has its own): live worker and analyze.

    Their default, one per core, fought Whisper and the event loop for a 2-core
    worker: at 10 calls 1 thread took the score p95 from about 1.4 s to about 1.0 s
    and Whisper's busy time down by half (docs/benchmarks.md).
    """
    from threadpoolctl import threadpool_limits

    os.environ["OMP_NUM_THREADS"] = str(threads)  # for libraries loaded from here on; the text encoder reads it
    threadpool_limits(threads)  # for those already loaded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(settings: Settings) -> dict[str, str]:
    """The CALLRADAR_* variables that make a child process see these settings."""
    env = dict(os.environ)
    env.update({
        "CALLRADAR_KAFKA_BOOTSTRAP": settings.bootstrap,
        "CALLRADAR_TOPIC_PREFIX": settings.topic_prefix,
        "CALLRADAR_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "CALLRADAR_STATE_DIR": str(settings.state_dir),
        "CALLRADAR_CONSUMER_SESSION_TIMEOUT_S": str(settings.consumer_session_timeout_s),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(_kafka_security_env(settings))
    return env


def _kafka_security_env(settings: Settings) -> dict[str, str]:
    """SASL and TLS settings for a child ("" unsets). A password that came from a file
    goes as the file's path, so the secret is in the child's environment only when it
    was given directly."""
    env = {
        "CALLRADAR_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "CALLRADAR_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "CALLRADAR_KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "CALLRADAR_KAFKA_SASL_PASSWORD": "",
        "CALLRADAR_KAFKA_SASL_PASSWORD_FILE": "",
    }
    if settings.kafka_sasl_password_file is not None:
        env["CALLRADAR_KAFKA_SASL_PASSWORD_FILE"] = str(settings.kafka_sasl_password_file)
    else:
        env["CALLRADAR_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password
    for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
        path = getattr(settings, name)
        env["CALLRADAR_" + name.upper()] = str(path) if path is not None else ""
    return env


class WorkerProcess:
    """A ``callradar worker`` child process with its log in a file."""

    def __init__(self, settings: Settings, log_path: Path, stages: str = "transcribe,score,trigger",
                 extra_env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = Path(log_path)
        self.stages = stages
        self.port = free_port()
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**settings_env(self.settings), **self.extra_env}
        cmd = [sys.executable, "-m", "callradar.pipeline.cli.main", "worker", "--stages", self.stages, "--web-port", str(self.port)]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        return self

    def wait_ready(self, timeout_s: float = 180.0) -> float:
        """Block until /readyz answers 200 (models loaded, partitions assigned); seconds taken."""
        t0 = time.time()
        url = f"http://127.0.0.1:{self.port}/readyz"
        while time.time() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with status {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return time.time() - t0
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def get(self, path: str, timeout_s: float = 5.0) -> str:
        """GET a page of the worker's web server (``/metrics``); "" when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout_s) as resp:
                return resp.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, grace_s: float = 15.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
