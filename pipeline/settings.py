"""All of callradar's settings, in one place.

Every setting is an environment variable prefixed ``CALLRADAR_``; the defaults
work on a laptop with nothing configured (embedded Kafka on loopback, bundled
offline models). Code reads settings through :func:`load_settings` and never
looks at ``os.environ`` itself, so this file is the full list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _default_state_dir() -> Path:
    """The git-ignored project folder when run from a checkout, else ~/.callradar."""
    if (PACKAGE_ROOT / "pyproject.toml").exists():
        return PACKAGE_ROOT / ".callradar"
    return Path.home() / ".callradar"


class SettingsError(ValueError):
    """A CALLRADAR_* variable holds a value that cannot be used."""


STAGES = ("transcribe", "score", "trigger")  # what a worker can run (callradar worker --stages)

# What CALLRADAR_STT_PRIORITY may name (pipeline/stages/stt_queue.py).
STT_PRIORITIES = ("customer-first", "fifo")

# What CALLRADAR_SEGMENTER may name (pipeline/audio/segmenter.py make_segmenter).
SEGMENTERS = ("energy", "silero")

# What CALLRADAR_REDACT_TYPES may name; here, below pipeline/audio/redact.py, so settings can check it.
PII_TYPES = ("card", "ssn", "phone", "email")


def parse_pii_types(text: str) -> tuple[str, ...]:
    """'card, phone' -> ('card', 'phone'); ValueError naming an unknown type."""
    types = tuple(t.strip().lower() for t in text.split(",") if t.strip())
    unknown = [t for t in types if t not in PII_TYPES]
    if unknown:
        raise ValueError(f"unknown PII type(s) {', '.join(unknown)}; choose from {', '.join(PII_TYPES)}")
    return types


@dataclass(frozen=True)
class Settings:
    # Kafka. Empty bootstrap means: use (and start) the embedded broker.
    kafka_bootstrap: str = ""
    embedded_kafka_port: int = 19092
    embedded_kafka_controller_port: int = 19093
    kafka_version: str = "3.9.1"
    topic_partitions: int = 4
    topic_prefix: str = ""  # lets tests and tenants share one cluster
    kafka_connect_timeout_s: float = 30.0  # how long a command waits for the broker to answer before it gives up
    kafka_security_protocol: str = "PLAINTEXT"
    # SASL and TLS (docs/security.md). The password stays out of repr and logs.
    kafka_sasl_mechanism: str = "SCRAM-SHA-256"  # SCRAM-SHA-256 | SCRAM-SHA-512 | PLAIN
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_sasl_password_file: Path | None = None  # a mounted secret, read once by load_settings
    kafka_ssl_cafile: Path | None = None  # CA that signed the brokers' certificates; None: the system CAs
    kafka_ssl_certfile: Path | None = None  # client certificate, for brokers that ask for mutual TLS
    kafka_ssl_keyfile: Path | None = None

    state_dir: Path = field(default_factory=_default_state_dir)

    # Speech to text.
    whisper_model: str = "tiny.en"
    whisper_device: str = "auto"  # auto | cpu | cuda
    whisper_compute_type: str = "auto"  # auto -> int8 on CPU, float16 on CUDA
    whisper_threads: int = 1  # tiny.en on CPU: 1 thread was faster than 2 and used 26 % less CPU (bench/whisper_threads.py)
    # Batches transcribed at once, each on whisper_threads threads; calls are split between them by
    # call id (a channel's utterances stay in order). 2 uses both cores when customers finish together.
    whisper_workers: int = 1
    whisper_beam_size: int = 1
    # numpy/BLAS, OpenMP and torch threads in a worker process (text models, audio features).
    # 1: their default of one per core fought Whisper and the event loop on 2 cores.
    math_threads: int = 1
    whisper_context: str = "adaptive"  # adaptive: encoder window sized to each utterance; full: the standard 30 s

    # PII redaction of transcripts before they leave the transcribe stage (pipeline/audio/redact.py).
    redact_pii: bool = True
    redact_types: str = "card,ssn,phone,email"

    # Voice-activity segmentation (per call channel).
    # energy: energy/zero-crossing frames over an adaptive noise floor; silero: Silero VAD (ONNX, in faster-whisper).
    segmenter: str = "energy"
    vad_frame_ms: int = 20
    vad_end_silence_ms: int = 400
    # Transcribe an utterance ahead once this much silence follows it, while the model is idle;
    # if the silence reaches vad_end_silence_ms that transcript is sent at once. 0: off.
    vad_transcribe_ahead_ms: int = 200
    vad_min_speech_ms: int = 250
    vad_max_utterance_s: float = 15.0
    # A call channel whose audio stops without an end marker (a call that never ends) is
    # closed, and its open utterance transcribed, after this many seconds with no audio.
    channel_idle_timeout_s: float = 60.0
    # Overload: at most this many finished (customer-first: customer) utterances wait for speech to text; beyond it the
    # stage stops reading audio (Kafka keeps the backlog), so memory stays bounded.
    stt_queue_max: int = 64
    # Overload order (pipeline/stages/stt_queue.py): customer-first sends customer utterances to
    # Whisper before agent ones, and lets up to stt_agent_backlog_s seconds of agent audio per
    # whisper worker wait behind them in memory; past that, up to stt_agent_spool_s seconds more wait
    # on disk (pipeline/stages/agent_spool.py) before ingest pauses; fifo: first finished, first transcribed.
    stt_priority: str = "customer-first"
    stt_agent_backlog_s: float = 600.0
    stt_agent_spool_s: float = 7200.0  # float32 at 16 kHz: about 460 MB of disk under the state dir at most

    # Text encoder and heads.
    encoder_model: str = "all-MiniLM-L6-v2"
    models_dir: Path | None = None  # registry root; None -> <state_dir>/models (bundled models until one is promoted)
    models_reload_s: float = 5.0  # how often the score stage checks the registry for a promoted version
    # A Hugging Face sequence-classification model (path or id) replacing a head; empty: the registry's head.
    sentiment_model: str = ""
    sentiment_model_labels: str = ""  # e.g. "LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive"; empty: from id2label
    intent_model: str = ""
    intent_model_labels: str = ""  # the model's labels that mean escalation, e.g. "complaint,contact_human_agent"

    # Triggers.
    risk_alert_threshold: float = 0.6
    risk_rearm_threshold: float = 0.4
    # Insights' "calls to follow up": ended with no supervisor alert and at least this risk after the last utterance.
    follow_up_risk: float = 0.4
    alert_cooldown_s: float = 30.0
    # An alert on sentiment alone (no keyword, no request read by the intent head) waits until the risk has held on this many customer utterances
    # in a row (1: fire on the first; agents/triggers.py).
    alert_confirm_utterances: int = 2
    # Overload: a score this many seconds behind its audio gets its alert without assist
    # retrieval (prompt in playbook order, no snippet): the alert itself is never shed.
    shed_assist_after_s: float = 3.0

    # Agents: escalation matrix, assist playbook, knowledge snippets (None: the bundled ones in agents/).
    escalation_matrix: Path | None = None
    playbook: Path | None = None
    knowledge_dir: Path | None = None  # a folder of Markdown files, one snippet per "## " section
    assist_semantic: bool = True  # match prompts and snippets to the customer's words (loads the text encoder)
    assist_repeat_window_s: float = 300.0  # call time before a prompt may be shown again on the same call
    assist_min_snippet_score: float = 0.4  # cosine similarity a knowledge snippet needs to be shown

    # Web console (callradar console).
    console_host: str = "127.0.0.1"
    console_port: int = 7070
    console_tokens_file: Path | None = None  # YAML: token -> {role: supervisor|agent, agent_id, name}
    console_tokens: str = field(default="", repr=False)  # the same YAML inline; kept out of repr and logs
    console_history_s: float = 3600.0  # how far back the console reads the topics when it starts
    console_archive_dir: Path | None = None  # the Insights page's call archive; None: where `callradar archive` writes

    # Worker processes.
    worker_web_host: str = "127.0.0.1"
    worker_web_port: int = 6066
    consumer_session_timeout_s: float = 10.0
    log_level: str = "INFO"

    @property
    def embedded(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers every client connects to."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.embedded_kafka_port}"

    @property
    def models_root(self) -> Path:
        """The model registry's root: CALLRADAR_MODELS_DIR, else <state dir>/models."""
        return Path(self.models_dir) if self.models_dir else Path(self.state_dir) / "models"


_OPTIONAL_PATHS = ("escalation_matrix", "playbook", "knowledge_dir", "console_tokens_file", "console_archive_dir",
                   "kafka_sasl_password_file", "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")


def _coerce(name: str, raw: str, default):
    kind = type(default) if default is not None else str
    if name == "models_dir" or name in _OPTIONAL_PATHS:
        kind = Path
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        return kind(raw)
    except ValueError as exc:
        env = "CALLRADAR_" + name.upper()
        raise SettingsError(f"{env}={raw!r} is not a valid {kind.__name__}: {exc}") from exc


def load_settings(environ: dict[str, str] | None = None, **overrides) -> Settings:
    """Read CALLRADAR_* variables over the defaults; ``overrides`` win over both."""
    environ = os.environ if environ is None else environ
    defaults = Settings()
    values = {}
    for f in fields(Settings):
        env = "CALLRADAR_" + f.name.upper()
        if env in environ and environ[env] != "":
            values[f.name] = _coerce(f.name, environ[env], getattr(defaults, f.name))
    values.update(overrides)
    _read_password_file(values)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _read_password_file(values: dict) -> None:
    """CALLRADAR_KAFKA_SASL_PASSWORD_FILE (a mounted secret) is read here, once, at start-up."""
    path = values.get("kafka_sasl_password_file")
    if path is None:
        return
    if values.get("kafka_sasl_password"):
        raise SettingsError("set CALLRADAR_KAFKA_SASL_PASSWORD or CALLRADAR_KAFKA_SASL_PASSWORD_FILE, not both")
    try:
        values["kafka_sasl_password"] = Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise SettingsError(f"CALLRADAR_KAFKA_SASL_PASSWORD_FILE={path}: cannot read it ({exc.strerror})") from exc


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")


def _validate_kafka_security(s: Settings) -> None:
    """Refuse half-configured security: a setting that would be silently ignored is a mistake."""
    protocol = s.kafka_security_protocol.upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise SettingsError(f"CALLRADAR_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol!r}: "
                            f"choose from {', '.join(SECURITY_PROTOCOLS)}")
    if protocol.startswith("SASL_"):
        if s.kafka_sasl_mechanism.upper() not in SASL_MECHANISMS:
            raise SettingsError(f"CALLRADAR_KAFKA_SASL_MECHANISM={s.kafka_sasl_mechanism!r}: "
                                f"choose from {', '.join(SASL_MECHANISMS)}")
        if not s.kafka_sasl_username or not s.kafka_sasl_password:
            raise SettingsError(f"CALLRADAR_KAFKA_SECURITY_PROTOCOL={protocol} needs CALLRADAR_KAFKA_SASL_USERNAME "
                                "and CALLRADAR_KAFKA_SASL_PASSWORD (or CALLRADAR_KAFKA_SASL_PASSWORD_FILE)")
    elif s.kafka_sasl_username or s.kafka_sasl_password:
        raise SettingsError(f"SASL credentials are set but CALLRADAR_KAFKA_SECURITY_PROTOCOL is {protocol}: "
                            "set it to SASL_PLAINTEXT or SASL_SSL, or unset the credentials")
    tls_files = {"CALLRADAR_KAFKA_SSL_CAFILE": s.kafka_ssl_cafile, "CALLRADAR_KAFKA_SSL_CERTFILE": s.kafka_ssl_certfile,
                 "CALLRADAR_KAFKA_SSL_KEYFILE": s.kafka_ssl_keyfile}
    for env, path in tls_files.items():
        if path is None:
            continue
        if not protocol.endswith("SSL"):
            raise SettingsError(f"{env} is set but CALLRADAR_KAFKA_SECURITY_PROTOCOL is {protocol}: "
                                "TLS files are used only with SSL or SASL_SSL")
        if not Path(path).is_file():
            raise SettingsError(f"{env}={path}: no such file")
    if s.kafka_ssl_keyfile is not None and s.kafka_ssl_certfile is None:
        raise SettingsError("CALLRADAR_KAFKA_SSL_KEYFILE needs CALLRADAR_KAFKA_SSL_CERTFILE (the client certificate)")


def _validate(s: Settings) -> None:
    _validate_kafka_security(s)
    try:
        parse_pii_types(s.redact_types)
    except ValueError as exc:
        raise SettingsError(f"CALLRADAR_REDACT_TYPES={s.redact_types!r}: {exc}") from exc
    if s.kafka_connect_timeout_s <= 0:
        raise SettingsError("CALLRADAR_KAFKA_CONNECT_TIMEOUT_S must be > 0")
    if s.topic_partitions < 1:
        raise SettingsError("CALLRADAR_TOPIC_PARTITIONS must be at least 1")
    if not 0 <= s.risk_rearm_threshold <= s.risk_alert_threshold <= 1:
        raise SettingsError(
            "need 0 <= CALLRADAR_RISK_REARM_THRESHOLD <= CALLRADAR_RISK_ALERT_THRESHOLD <= 1"
        )
    if not 0 <= s.follow_up_risk <= 1:
        raise SettingsError(f"CALLRADAR_FOLLOW_UP_RISK={s.follow_up_risk!r}: must be a risk between 0 and 1 (the report "
                            "lists calls that ended at or above it without a supervisor alert)")
    if s.alert_confirm_utterances < 1:
        raise SettingsError(f"CALLRADAR_ALERT_CONFIRM_UTTERANCES={s.alert_confirm_utterances!r}: must be a whole "
                            "number >= 1 (1: a sentiment alert fires on the first utterance over the threshold)")
    if s.channel_idle_timeout_s <= 0:
        raise SettingsError("CALLRADAR_CHANNEL_IDLE_TIMEOUT_S must be > 0")
    if s.vad_transcribe_ahead_ms and not 100 <= s.vad_transcribe_ahead_ms < s.vad_end_silence_ms:
        raise SettingsError("CALLRADAR_VAD_TRANSCRIBE_AHEAD_MS must be 0 (off) or from 100 to under "
                            f"CALLRADAR_VAD_END_SILENCE_MS ({s.vad_end_silence_ms})")
    if s.math_threads < 1:
        raise SettingsError("CALLRADAR_MATH_THREADS must be at least 1")
    if s.whisper_workers < 1:
        raise SettingsError("CALLRADAR_WHISPER_WORKERS must be at least 1")
    if s.stt_queue_max < 1:
        raise SettingsError("CALLRADAR_STT_QUEUE_MAX must be at least 1")
    if s.segmenter not in SEGMENTERS:
        raise SettingsError(f"CALLRADAR_SEGMENTER={s.segmenter!r}: choose from {', '.join(SEGMENTERS)}")
    if s.stt_priority not in STT_PRIORITIES:
        raise SettingsError(f"CALLRADAR_STT_PRIORITY={s.stt_priority!r}: choose from {', '.join(STT_PRIORITIES)}")
    if not s.stt_agent_backlog_s >= 0 or s.stt_agent_backlog_s == float("inf"):
        raise SettingsError(f"CALLRADAR_STT_AGENT_BACKLOG_S={s.stt_agent_backlog_s!r}: must be a number of "
                            "seconds >= 0 (0: an agent utterance waits to be queued while another waits)")
    if not s.stt_agent_spool_s >= 0 or s.stt_agent_spool_s == float("inf"):
        raise SettingsError(f"CALLRADAR_STT_AGENT_SPOOL_S={s.stt_agent_spool_s!r}: must be a number of "
                            "seconds >= 0 (0: no spool; past CALLRADAR_STT_AGENT_BACKLOG_S ingest pauses)")
    if s.shed_assist_after_s <= 0:
        raise SettingsError("CALLRADAR_SHED_ASSIST_AFTER_S must be > 0")
    if s.models_reload_s <= 0:
        raise SettingsError("CALLRADAR_MODELS_RELOAD_S must be > 0")
    if s.whisper_device not in ("auto", "cpu", "cuda"):
        raise SettingsError("CALLRADAR_WHISPER_DEVICE must be auto, cpu or cuda")
    if s.whisper_context not in ("adaptive", "full"):
        raise SettingsError("CALLRADAR_WHISPER_CONTEXT must be adaptive or full")
    if s.assist_repeat_window_s < 0:
        raise SettingsError("CALLRADAR_ASSIST_REPEAT_WINDOW_S must be >= 0")
    if not 0 <= s.assist_min_snippet_score <= 1:
        raise SettingsError("CALLRADAR_ASSIST_MIN_SNIPPET_SCORE must be between 0 and 1")
    if not 1 <= s.console_port <= 65535:
        raise SettingsError("CALLRADAR_CONSOLE_PORT must be a TCP port, 1-65535")
