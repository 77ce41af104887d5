"""Topic names and the records that travel on them.

Audio chunks are raw PCM bytes with their metadata in Kafka headers; every
other topic carries versioned JSON (see docs/topics.md). Decoders here are the
only place input is trusted or refused: anything they cannot accept raises
:class:`MalformedMessage` with a reason that ends up on the dead-letter topic.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

from callradar.models.types import SPEAKERS

SCHEMA_VERSION = 1


class Topics:
    """Topic names; ``prefix`` lets several deployments or tests share a cluster."""

    NAMES = ("events", "audio", "transcripts", "scores", "alerts", "deadletter", "outcomes", "feedback", "cases")

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.events = f"{prefix}calls.events"
        self.audio = f"{prefix}calls.audio"
        self.transcripts = f"{prefix}calls.transcripts"
        self.scores = f"{prefix}calls.scores"
        self.alerts = f"{prefix}calls.alerts"
        self.deadletter = f"{prefix}calls.deadletter"
        self.outcomes = f"{prefix}calls.outcomes"
        self.feedback = f"{prefix}calls.feedback"
        self.cases = f"{prefix}calls.cases"

    def all(self) -> list[str]:
        return [getattr(self, n) for n in self.NAMES]


class MalformedMessage(ValueError):
    """Input that a stage cannot use; the message says why, for the dead-letter topic."""


# ---------------------------------------------------------------- audio chunks

SUPPORTED_SAMPLE_RATES = (8000, 16000)  # what audio chunks may carry
AUDIO_ENCODING = "s16le"
MAX_CHUNK_SECONDS = 1.0


@dataclass(frozen=True)
class AudioChunk:
    """One slice of one channel of one call: mono signed 16-bit little-endian PCM."""

    call_id: str
    channel: str  # agent | customer
    seq: int  # per call and channel, from 0, no gaps
    sample_rate: int
    capture_ts: float  # wall-clock seconds when the chunk's first sample was captured
    pcm: bytes

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate

    def headers(self) -> list[tuple[str, bytes]]:
        return _channel_headers(self.call_id, self.channel, self.seq) + [
            ("sample_rate", str(self.sample_rate).encode()),
            ("encoding", AUDIO_ENCODING.encode()),
            ("capture_ts", repr(self.capture_ts).encode()),
        ]


@dataclass(frozen=True)
class ChannelEnd:
    """Marks the last chunk of a channel; travels in-band so it can't overtake the audio."""

    call_id: str
    channel: str
    seq: int

    def headers(self) -> list[tuple[str, bytes]]:
        return _channel_headers(self.call_id, self.channel, self.seq) + [("end", b"1")]


def _channel_headers(call_id: str, channel: str, seq: int) -> list[tuple[str, bytes]]:
    return [
        ("v", str(SCHEMA_VERSION).encode()),
        ("call_id", call_id.encode()),
        ("channel", channel.encode()),
        ("seq", str(seq).encode()),
    ]


def _header_map(headers) -> dict[str, str]:
    if headers is None:
        raise MalformedMessage("audio chunk has no headers")
    items = headers.items() if isinstance(headers, dict) else headers
    out = {}
    for key, value in items:
        key = key.decode() if isinstance(key, bytes) else str(key)
        if value is None:
            raise MalformedMessage(f"header {key!r} is empty")
        try:
            out[key] = value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)
        except UnicodeDecodeError:
            raise MalformedMessage(f"header {key!r} is not UTF-8") from None
    return out


def _check_audio_version(h: dict[str, str], what: str) -> None:
    """Refuse a version this consumer does not read, before trusting any other header.

    A later version may name or mean its headers differently, so its message is
    refused for its version, not blamed on some other header. A missing ``v`` is
    refused by the callers' required-header checks: every producer here sends it
    (``_channel_headers``), and without it a message cannot say what format it is.
    """
    if "v" in h and h["v"] != str(SCHEMA_VERSION):
        raise MalformedMessage(
            f"{what}: unsupported version {h['v']!r:.40} in header 'v'; this consumer reads version {SCHEMA_VERSION}"
        )


def decode_audio_message(key, value: bytes | None, headers) -> AudioChunk | ChannelEnd:
    """Validate and decode one calls.audio message: a chunk, or a channel's end marker."""
    h = _header_map(headers)
    if h.get("end") == "1":
        _check_audio_version(h, "end marker")
        for required in ("call_id", "channel", "v"):
            if required not in h:
                raise MalformedMessage(f"end marker is missing header {required!r}")
        if h["channel"] not in SPEAKERS:
            raise MalformedMessage(f"header 'channel' is {h['channel']!r}; expected agent or customer")
        try:
            seq = int(h.get("seq", "0"))
        except ValueError:
            raise MalformedMessage("end marker has a non-numeric seq") from None
        return ChannelEnd(h["call_id"], h["channel"], seq)
    return _chunk_from(key, value, h)


def decode_audio_chunk(key: bytes | str | None, value: bytes | None, headers) -> AudioChunk:
    """Validate and decode one calls.audio chunk."""
    return _chunk_from(key, value, _header_map(headers))


def _chunk_from(key, value: bytes | None, h: dict[str, str]) -> AudioChunk:
    _check_audio_version(h, "audio chunk")
    for required in ("call_id", "channel", "seq", "sample_rate", "capture_ts", "v"):
        if required not in h:
            raise MalformedMessage(f"audio chunk is missing header {required!r}")
    call_id = h["call_id"]
    if not call_id or len(call_id) > 128:
        raise MalformedMessage("header 'call_id' must be 1 to 128 characters")
    key_text = key.decode("utf-8", "replace") if isinstance(key, (bytes, bytearray)) else key
    if key_text is not None and key_text != call_id:
        raise MalformedMessage(f"message key {key_text!r} differs from header call_id {call_id!r}")
    if h["channel"] not in SPEAKERS:
        raise MalformedMessage(f"header 'channel' is {h['channel']!r}; expected agent or customer")
    encoding = h.get("encoding", AUDIO_ENCODING)
    if encoding != AUDIO_ENCODING:
        raise MalformedMessage(f"unsupported encoding {encoding!r}; only {AUDIO_ENCODING} is accepted")
    try:
        seq = int(h["seq"])
        sample_rate = int(h["sample_rate"])
        capture_ts = float(h["capture_ts"])
    except ValueError as exc:
        raise MalformedMessage(f"non-numeric header: {exc}") from None
    if seq < 0:
        raise MalformedMessage(f"negative sequence number {seq}")
    if sample_rate not in SUPPORTED_SAMPLE_RATES:
        raise MalformedMessage(
            f"unsupported sample rate {sample_rate}; send one of {SUPPORTED_SAMPLE_RATES} Hz"
        )
    if not math.isfinite(capture_ts) or capture_ts < 0:
        raise MalformedMessage(f"capture_ts {h['capture_ts']!r} is not a valid time")
    if not value:
        raise MalformedMessage("audio chunk has no PCM payload")
    if len(value) % 2:
        raise MalformedMessage(f"PCM payload of {len(value)} bytes is not whole 16-bit samples")
    if len(value) / 2 / sample_rate > MAX_CHUNK_SECONDS:
        raise MalformedMessage(f"chunk longer than {MAX_CHUNK_SECONDS} s; send 20-100 ms chunks")
    return AudioChunk(call_id, h["channel"], seq, sample_rate, capture_ts, bytes(value))


# ---------------------------------------------------------------- JSON records


@dataclass
class Record:
    """Base for the JSON records: encode with a version, decode with validation."""

    KIND: ClassVar[str] = ""
    MAX_BYTES: ClassVar[int] = 64 * 1024  # see MAX_JSON_BYTES

    def to_dict(self) -> dict[str, Any]:
        return {"v": SCHEMA_VERSION, "type": self.KIND, **asdict(self)}

    def encode(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_dict(cls, doc: Any):
        if not isinstance(doc, dict):
            raise MalformedMessage(f"{cls.KIND}: expected a JSON object, got {type(doc).__name__}")
        version = doc.get("v", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise MalformedMessage(f"{cls.KIND}: unsupported version {version!r}")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - doc.keys())
        if missing:
            raise MalformedMessage(f"{cls.KIND}: missing field(s) {', '.join(missing)}")
        # Unknown fields are ignored so that newer producers don't break older consumers.
        known = {k: v for k, v in doc.items() if k in names}
        for f in fields(cls):
            if f.name in known and not _FIELD_TYPES[f.type](known[f.name]):
                raise MalformedMessage(f"{cls.KIND}: {f.name} must be {_TYPE_WORDS[f.type]}, got {known[f.name]!r:.40}")
        record = cls(**known)
        record.validate()
        return record

    @classmethod
    def decode(cls, value: bytes | str | None):
        if value is None:
            raise MalformedMessage(f"{cls.KIND}: empty message")
        size = len(value) if isinstance(value, (bytes, bytearray)) else len(value.encode("utf-8", "surrogatepass"))
        if size > cls.MAX_BYTES:
            raise MalformedMessage(f"{cls.KIND}: message of {size} bytes is over the {cls.MAX_BYTES} byte limit")
        try:
            doc = load_json(value)
        except MalformedMessage as exc:
            raise MalformedMessage(f"{cls.KIND}: {exc}") from None
        return cls.from_dict(doc)

    def validate(self) -> None:
        """Subclasses check types and ranges; raise MalformedMessage."""


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# Every field is checked against its annotation, so a stage never meets a wrong type.
_FIELD_TYPES = {
    "str": lambda x: isinstance(x, str),
    "str | None": lambda x: x is None or isinstance(x, str),
    "float": lambda x: _is_number(x),
    "float | None": lambda x: x is None or _is_number(x),
    "int": _is_int,
    "bool": lambda x: isinstance(x, bool),
    "list": lambda x: isinstance(x, list),
    "dict": lambda x: isinstance(x, dict),
}
_TYPE_WORDS = {"str": "a string", "str | None": "a string or null", "float": "a finite number",
               "float | None": "a finite number or null",
               "int": "a whole number", "bool": "true or false", "list": "a list", "dict": "an object"}


# Limits on a JSON message, far above anything the pipeline writes (an utterance is
# well under 4 KiB; an alert with its knowledge snippet under 16 KiB), so that one
# message can't tie a stage up or crash it from inside the parser.
MAX_JSON_BYTES = Record.MAX_BYTES
MAX_JSON_DEPTH = 32
MAX_DEAD_LETTER_VALUE_BYTES = 512 * 1024  # base64 of it stays under Kafka's default 1 MB message
MAX_INT_DIGITS = 20  # beyond int64; Python would parse up to 4300 digits, and 10**400 overflows float()


def _reject_constant(name: str):
    raise MalformedMessage(f"number {name} is not allowed")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf without ever saying Infinity
        raise MalformedMessage(f"number {text:.24} is not allowed (out of range)")
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedMessage(f"number of {len(text)} digits is not allowed (out of range)")
    return int(text)


def load_json(raw: bytes | str) -> Any:
    """Parse one JSON document strictly, or raise MalformedMessage saying why.

    Strict where :func:`json.loads` is lenient or fails with something other than
    a decode error (which would crash a stage instead of dead-lettering the
    message): bytes must be UTF-8 (not UTF-16/32), no NaN or Infinity and no
    number that overflows to one, no integer longer than MAX_INT_DIGITS, no
    nesting deeper than MAX_JSON_DEPTH, and no string holding a lone UTF-16
    surrogate (``"\\ud800"``), which text models and UTF-8 encoders refuse.
    """
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedMessage(f"not valid JSON (not UTF-8 at byte {exc.start})") from None
    try:
        doc = json.loads(raw, parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise MalformedMessage(f"not valid JSON (nested deeper than {MAX_JSON_DEPTH} levels)") from None
    _check_tree(doc)
    return doc


def _check_tree(doc: Any) -> None:
    """Depth and string checks over a parsed document, without recursion."""
    todo = [(doc, 0)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise MalformedMessage(f"not valid JSON (nested deeper than {MAX_JSON_DEPTH} levels)")
            if isinstance(node, dict):
                for key in node:
                    _check_text(key)
            todo.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedMessage(f"not valid JSON (a string holds a lone surrogate \\u{ord(text[exc.start]):04x})") from None


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise MalformedMessage(message)


def is_finite_number(x) -> bool:
    """A JSON number usable as a float: not bool, not NaN or infinite, not an int too big for a float."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # 10**400 from a dict built in Python, not through load_json
        return False


_is_number = is_finite_number


@dataclass
class CallEvent(Record):
    """Call started or ended, with what the telephony platform knows about it."""

    KIND: ClassVar[str] = "call_event"
    call_id: str
    event: str  # started | ended
    ts: float
    agent_id: str = ""
    queue: str = ""
    customer_tier: str = ""
    metadata: dict = field(default_factory=dict)

    def validate(self) -> None:
        _check(isinstance(self.call_id, str) and 0 < len(self.call_id) <= 128, "call_event: bad call_id")
        _check(self.event in ("started", "ended"), f"call_event: event {self.event!r} is not started or ended")
        _check(_is_number(self.ts), "call_event: ts must be a finite number")
        _check(isinstance(self.metadata, dict), "call_event: metadata must be an object")


# An agent side this far behind (agent_behind_s) is worth telling people: the console marks the call and
# /metrics counts it. Under customer first, agent utterances wait a model call or two behind customer ones
# (well under a second each); 2 s is past that, so the marker does not flicker on ordinary load.
AGENT_BEHIND_NOTICE_S = 2.0


@dataclass
class Utterance(Record):
    """One finished utterance of one speaker, transcribed once."""

    KIND: ClassVar[str] = "utterance"
    utterance_id: str  # "<call_id>/<speaker>/<index>": stable across replays
    call_id: str
    speaker: str
    index: int
    start: float  # seconds since the call started
    end: float
    text: str
    confidence: float
    audio_end_ts: float  # wall-clock time the last voiced audio was captured
    emitted_ts: float = 0.0
    model: str = ""
    no_speech_prob: float | None = None  # Whisper's, highest over segments; None from older producers
    queued_s: float | None = None  # seconds it waited for speech to text (agent side behind); None from older producers
    # Seconds the call's oldest agent utterance still waiting for speech to text had waited when this one was
    # sent (0.0: none waits): how far behind the agent side of the transcript is. None from older producers.
    agent_behind_s: float | None = None

    def validate(self) -> None:
        _check(isinstance(self.call_id, str) and self.call_id, "utterance: bad call_id")
        _check(self.speaker in SPEAKERS, f"utterance: speaker {self.speaker!r} is not agent or customer")
        _check(isinstance(self.text, str), "utterance: text must be a string")
        for name in ("start", "end", "confidence", "audio_end_ts"):
            _check(_is_number(getattr(self, name)), f"utterance: {name} must be a finite number")
        _check(self.end >= self.start >= 0, "utterance: need 0 <= start <= end")
        _check(self.queued_s is None or self.queued_s >= 0, "utterance: queued_s must be >= 0")
        _check(self.agent_behind_s is None or self.agent_behind_s >= 0, "utterance: agent_behind_s must be >= 0")


@dataclass
class Score(Record):
    """The score stage's reading of one utterance and of the call so far."""

    KIND: ClassVar[str] = "score"
    utterance_id: str
    call_id: str
    speaker: str
    start: float
    end: float
    text: str
    sentiment: str  # negative | neutral | positive
    sentiment_scores: dict  # label -> probability
    frustration: float
    intent: float  # P(customer asks to escalate, complains or threatens to leave)
    keywords: list  # [{"category": ..., "phrase": ..., "matched": ...}]
    risk: float  # P(escalation | call so far)
    reasons: list  # [{"feature": ..., "value": ..., "contribution": ..., "text": ...}] strongest first
    model_version: str
    audio_end_ts: float
    scored_ts: float = 0.0

    def validate(self) -> None:
        _check(_is_number(self.risk) and 0 <= self.risk <= 1, "score: risk must be in [0, 1]")


@dataclass
class Alert(Record):
    """A supervisor alert or an agent-assist prompt."""

    KIND: ClassVar[str] = "alert"
    alert_id: str  # stable: the same input makes the same id
    alert_type: str  # escalation_risk | assist_prompt
    call_id: str
    utterance_id: str
    risk: float
    trigger: str  # the category that fired: supervisor_request, cancellation, ...
    reasons: list
    message: str
    prompt_id: str = ""
    route: dict = field(default_factory=dict)  # escalation route: type, team, tier, level, sla_s, ...
    call_time: float = 0.0  # end of the utterance that fired, seconds since the call started
    audio_end_ts: float = 0.0
    created_ts: float = 0.0
    snippet: dict = field(default_factory=dict)  # knowledge snippet for the agent: id, title, text, source, score

    def validate(self) -> None:
        _check(self.alert_type in ("escalation_risk", "assist_prompt"), "alert: unknown alert_type")


@dataclass
class Feedback(Record):
    """An agent's mark on an assist prompt, keyed by call_id: the playbook's training signal.

    ``feedback_id`` is stable per (alert, agent): when an agent changes their mind
    the same id comes again with the newer ``ts``, and the latest one counts.
    """

    KIND: ClassVar[str] = "feedback"
    feedback_id: str
    call_id: str
    alert_id: str  # the assist_prompt alert that was rated
    prompt_id: str
    trigger: str
    helpful: bool
    agent_id: str
    ts: float  # wall-clock time of the click
    utterance_id: str = ""  # the utterance the prompt fired on
    call_time: float = 0.0  # when in the call the prompt fired
    snippet_id: str = ""  # the knowledge snippet shown with it, if any
    source: str = "console"

    def validate(self) -> None:
        for name in ("feedback_id", "call_id", "alert_id", "prompt_id", "agent_id"):
            _check(0 < len(getattr(self, name)) <= 256, f"feedback: {name} must be 1 to 256 characters")


@dataclass
class DeadLetter(Record):
    """A message a stage refused, kept whole, with the reason."""

    KIND: ClassVar[str] = "deadletter"
    MAX_BYTES: ClassVar[int] = 2 * 1024 * 1024  # it carries a refused message of up to 512 KiB, base64
    stage: str
    source_topic: str
    reason: str
    key: str | None
    value_b64: str  # the original bytes, base64: dead letters must lose nothing (see refused)
    headers: dict
    ts: float
    value_size: int = -1  # the original value's length in bytes (-1: a producer that predates it)
    value_truncated: bool = False  # only the first MAX_DEAD_LETTER_VALUE_BYTES are in value_b64

    @classmethod
    def refused(cls, stage: str, source_topic: str, reason: str, key, value: bytes | None, headers,
                ts: float) -> "DeadLetter":
        """The dead letter for one refused message, small enough to be sent.

        Everything is kept, except that a value over MAX_DEAD_LETTER_VALUE_BYTES
        (an oversize message: base64 would take it past Kafka's 1 MB message
        limit, and the dead letter could not be sent at all) keeps its first
        part, with ``value_truncated`` set and ``value_size`` the full length.
        """
        value = bytes(value or b"")
        kept = value[:MAX_DEAD_LETTER_VALUE_BYTES]
        items = headers.items() if isinstance(headers, dict) else (headers or ())
        return cls(
            stage=stage,
            source_topic=source_topic,
            reason=reason,
            key=key.decode("utf-8", "replace") if isinstance(key, (bytes, bytearray)) else key,
            value_b64=base64.b64encode(kept).decode(),
            headers={
                (k.decode("utf-8", "replace") if isinstance(k, (bytes, bytearray)) else str(k)): base64.b64encode(
                    v if isinstance(v, (bytes, bytearray)) else str(v).encode()
                ).decode()
                for k, v in items
            },
            ts=ts,
            value_size=len(value),
            value_truncated=len(kept) < len(value),
        )


CASE_EVENT_KINDS = ("opened", "acknowledged", "coaching_sent", "handed_over", "breached", "resolved", "reopened")
CASE_OUTCOMES = ("resolved", "customer_escalated", "false_alarm")
ROUTED_CASE_EVENTS = ("opened", "handed_over", "breached")  # these set the case's route and its due time
MAX_CASE_TEXT = 2000  # a note or a coaching message


@dataclass
class CaseEvent(Record):
    """One step of an escalation case (calls.cases), keyed by call_id; state is the events replayed in order.

    ``event_id`` is unique per event, so a redelivery changes nothing. ``version``
    is the case's version this event makes (opened is 1): of two events made
    against the same version, the first on the topic wins and the other is ignored.
    """

    KIND: ClassVar[str] = "case_event"
    event_id: str
    case_id: str  # the alert_id of the supervisor alert that opened the case
    call_id: str
    kind: str  # opened | acknowledged | coaching_sent | handed_over | breached | resolved | reopened
    ts: float  # wall clock
    actor: str  # the supervisor; "system" for opened and breached
    version: int
    route: dict = field(default_factory=dict)  # opened, handed_over, breached: type, team, tier, level, sla_s, ...
    due_ts: float = 0.0  # opened, handed_over, breached: acknowledgement due by (0: no further deadline)
    trigger: str = ""  # the opening alert's category
    alert_id: str = ""  # opened: the alert that opened it; breached: the alert the breach raised
    utterance_id: str = ""  # opened: where the opening alert fired
    call_time: float = 0.0  # opened: the alert's call time; resolved: when in the call (0: not known)
    risk: float = 0.0  # opened: the alert's risk
    outcome: str = ""  # resolved: resolved | customer_escalated | false_alarm
    tier: int = 0  # resolved: the tier it was resolved at; handed_over, breached: the tier it goes to
    note: str = ""
    agent_id: str = ""  # opened: the call's agent, if known; coaching_sent: who the message is for
    message: str = ""  # coaching_sent: the text for the agent

    def validate(self) -> None:
        for name in ("event_id", "case_id", "actor"):
            _check(0 < len(getattr(self, name)) <= 256, f"case_event: {name} must be 1 to 256 characters")
        _check(0 < len(self.call_id) <= 128, "case_event: call_id must be 1 to 128 characters")
        _check(self.kind in CASE_EVENT_KINDS,
               f"case_event: kind {self.kind!r:.40} is not one of {', '.join(CASE_EVENT_KINDS)}")
        _check(self.ts >= 0 and self.due_ts >= 0 and self.call_time >= 0, "case_event: times must be >= 0")
        _check(self.version >= 1, "case_event: version must be at least 1")
        _check((self.kind == "opened") == (self.version == 1), "case_event: opened, and only opened, is version 1")
        _check(0 <= self.risk <= 1, "case_event: risk must be in [0, 1]")
        _check(self.tier >= 0, "case_event: tier must be >= 0")
        _check(len(self.note) <= MAX_CASE_TEXT and len(self.message) <= MAX_CASE_TEXT,
               f"case_event: note and message are at most {MAX_CASE_TEXT} characters")
        if self.kind in ROUTED_CASE_EVENTS:
            problem = route_problem(self.route)
            _check(problem is None, f"case_event: {self.kind} needs a route: {problem}")
        if self.kind == "opened":
            _check(bool(self.alert_id) and bool(self.trigger), "case_event: opened needs alert_id and trigger")
        if self.kind == "resolved":
            _check(self.outcome in CASE_OUTCOMES,
                   f"case_event: resolved needs an outcome, one of {', '.join(CASE_OUTCOMES)}; got {self.outcome!r:.40}")
        else:
            _check(self.outcome == "", f"case_event: only resolved carries an outcome, not {self.kind}")
        if self.kind == "coaching_sent":
            _check(bool(self.agent_id) and bool(self.message.strip()),
                   "case_event: coaching_sent needs agent_id and a message")


def route_problem(route: dict) -> str | None:
    """What makes ``route`` unusable as a case's route, or None: it needs type, team, tier and sla_s."""
    if not isinstance(route, dict):
        return "not an object"
    if route.get("type") not in ("functional", "hierarchical"):
        return "type must be functional or hierarchical"
    if not isinstance(route.get("team"), str) or not route["team"].strip():
        return "team must be a non-empty string"
    if not _is_int(route.get("tier")) or route["tier"] < 1:
        return "tier must be a whole number >= 1"
    if not _is_number(route.get("sla_s")) or route["sla_s"] <= 0:
        return "sla_s must be a number > 0"
    if not isinstance(route.get("level", ""), str):
        return "level must be a string"
    return None
