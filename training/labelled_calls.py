"""Labelled calls: the one file format training and evaluation read (see docs/labelled-calls.md).

One record per call: ``call_id``, ``outcome`` (``escalated`` | ``calm``, or
null while unlabelled), optional ``escalation_time``, the ``utterances``
(speaker, start, end, text, optionally the live scores), optional ``alerts``,
``feedback`` (agents' marks on the prompts), ``cases`` (escalation cases: response
times and verdicts), ``metadata`` and ``source``. Parquet is the native form (the archive writes it);
JSONL with the same fields is accepted, so a data scientist can hand-write or
export calls from elsewhere. Reading validates every record and names the line
(JSONL) or row (Parquet) of each problem, because a bad row found deep inside
a training run is expensive.

A folder is an archive: ``*.parquet`` / ``*.jsonl`` parts (the archive process
writes one part per flush) plus ``labels.jsonl``, the outcomes that arrived
later (``calls.outcomes``, ``callradar label import``), ``feedback.jsonl``,
the agents' marks (``calls.feedback``), and ``cases.jsonl``, the escalation
cases' events (``calls.cases``), both of which often come after the call was
written. Reading a folder merges a call's rows across parts (at-least-once
delivery may write a call twice) and applies the latest label, the latest
mark per ``feedback_id`` and each case as its events leave it.
"""

from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from callradar.models.types import SPEAKERS
from callradar.pipeline.errors import UserError
from callradar.pipeline.records import Feedback, MalformedMessage, Record

OUTCOMES = ("escalated", "calm")
LABELS_FILE = "labels.jsonl"
FEEDBACK_FILE = "feedback.jsonl"
CASES_FILE = "cases.jsonl"
MAX_ERRORS_SHOWN = 10


class LabelledCallsError(UserError):
    """A labelled-calls file that cannot be used; the message names the file and each bad line or row."""


# ---------------------------------------------------------------- records


@dataclass
class CallUtterance:
    speaker: str  # agent | customer
    start: float  # seconds since the call started
    end: float
    text: str
    # What the live pipeline said about it (archived calls); None elsewhere.
    utterance_id: str | None = None
    confidence: float | None = None
    sentiment: str | None = None
    frustration: float | None = None
    intent: float | None = None
    risk: float | None = None
    model_version: str | None = None


@dataclass
class CallAlert:
    alert_id: str
    alert_type: str
    trigger: str = ""
    risk: float | None = None
    call_time: float | None = None  # end of the utterance that fired
    utterance_id: str | None = None


@dataclass
class CallFeedback:
    """An agent's mark on an assist prompt (calls.feedback), kept with the call for training the playbook."""

    feedback_id: str  # <alert_id>/<agent_id>: a changed mind comes again with the same id
    alert_id: str
    prompt_id: str
    helpful: bool
    agent_id: str = ""
    trigger: str = ""
    ts: float | None = None  # wall-clock time of the click: the latest per feedback_id counts
    utterance_id: str | None = None
    call_time: float | None = None
    snippet_id: str | None = None
    source: str = ""

    @classmethod
    def from_record(cls, fb: Feedback) -> CallFeedback:
        return cls(fb.feedback_id, fb.alert_id, fb.prompt_id, fb.helpful, fb.agent_id, fb.trigger, fb.ts,
                   fb.utterance_id or None, fb.call_time, fb.snippet_id or None, fb.source)


def latest_feedback(*marks: CallFeedback) -> list[CallFeedback]:
    """One mark per feedback_id: the latest ``ts`` wins (on a tie, the later one given)."""
    out: dict[str, CallFeedback] = {}
    for mark in marks:
        old = out.get(mark.feedback_id)
        if old is None or (mark.ts or 0.0) >= (old.ts or 0.0):
            out[mark.feedback_id] = mark
    return list(out.values())


@dataclass
class CallCase:
    """An escalation case on the call (calls.cases), as its events left it: response time and verdict.

    ``response`` is met or breached once acknowledged (pending while nobody has; breached
    also when a response time ran out first); ``response_s`` is opened to acknowledged.
    ``route_*`` is where the case is now (after hand-overs and breaches), ``handed_over_*``
    the last hand-over's route; ``outcome`` (resolved, customer_escalated, false_alarm) and
    ``resolved_tier`` are empty while it is open. ``version``: the case's version, so the
    later of two copies of a case wins.
    """

    case_id: str
    trigger: str
    opened_ts: float
    status: str  # open | acknowledged | resolved
    version: int = 1
    sla_s: float | None = None  # the first route's response time
    acknowledged_ts: float | None = None
    acknowledged_by: str = ""
    response_s: float | None = None
    response: str = "pending"  # pending | met | breached
    breaches: int = 0
    route_type: str = ""
    route_team: str = ""
    route_tier: int | None = None
    handed_over_team: str = ""
    handed_over_tier: int | None = None
    outcome: str = ""  # resolved | customer_escalated | false_alarm | "" (open)
    resolved_tier: int | None = None
    resolved_ts: float | None = None
    note: str = ""
    agent_id: str = ""

    @classmethod
    def from_case(cls, case) -> CallCase:
        """From an agents/cases.py Case."""
        first = case.events[0] if case.events else None
        opened_sla = (first.route or {}).get("sla_s") if first is not None else case.route.get("sla_s")
        acks = [e for e in case.events if e.kind == "acknowledged"]
        handovers = [e for e in case.events if e.kind == "handed_over"]
        first_ack = acks[0] if acks else None
        return cls(
            case_id=case.case_id, trigger=case.trigger, opened_ts=case.opened_ts, status=case.status,
            version=case.version, sla_s=None if opened_sla is None else float(opened_sla),
            acknowledged_ts=first_ack.ts if first_ack else None, acknowledged_by=first_ack.actor if first_ack else "",
            response_s=max(0.0, first_ack.ts - case.opened_ts) if first_ack else None,
            response=case.response, breaches=case.breaches, route_type=str(case.route.get("type", "")),
            route_team=str(case.route.get("team", "")), route_tier=_int_or_none(case.route.get("tier")),
            handed_over_team=str(handovers[-1].route.get("team", "")) if handovers else "",
            handed_over_tier=_int_or_none(handovers[-1].route.get("tier")) if handovers else None,
            outcome=case.outcome, resolved_tier=case.tier or None, resolved_ts=case.resolved_ts or None,
            note=case.note, agent_id=case.agent_id,
        )


def _int_or_none(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def latest_cases(*cases: CallCase) -> list[CallCase]:
    """One entry per case_id: the highest version wins (on a tie, the later one given)."""
    out: dict[str, CallCase] = {}
    for case in cases:
        old = out.get(case.case_id)
        if old is None or case.version >= old.version:
            out[case.case_id] = case
    return sorted(out.values(), key=lambda c: c.opened_ts)


@dataclass
class LabelledCall:
    call_id: str
    outcome: str | None  # escalated | calm | None (not labelled yet)
    utterances: list[CallUtterance]
    escalation_time: float | None = None  # seconds since the call started
    alerts: list[CallAlert] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = ""
    feedback: list[CallFeedback] = field(default_factory=list)  # agents' marks on the assist prompts
    cases: list[CallCase] = field(default_factory=list)  # escalation cases: response times and verdicts

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def end(self) -> float:
        return max((u.end for u in self.utterances), default=0.0)


@dataclass
class Outcome(Record):
    """calls.outcomes (v1): what happened to a call, sent by whoever knows (CRM, QA, a supervisor)."""

    KIND: ClassVar[str] = "outcome"
    call_id: str
    outcome: str  # escalated | calm
    escalation_time: float | None = None
    source: str = ""
    ts: float = 0.0

    def validate(self) -> None:
        if not isinstance(self.call_id, str) or not 0 < len(self.call_id) <= 128:
            raise MalformedMessage("outcome: call_id must be a string of 1 to 128 characters")
        if self.outcome not in OUTCOMES:
            raise MalformedMessage(f"outcome: outcome is {self.outcome!r}; expected escalated or calm")
        problem = _check_escalation_time(self.outcome, self.escalation_time)
        if problem:
            raise MalformedMessage(f"outcome: {problem}")


# ---------------------------------------------------------------- validation


class _Invalid(ValueError):
    pass


def _number(value, name: str, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Invalid(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _string(value, name: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{name} must be a string, got {type(value).__name__}")
    return value


def _check_escalation_time(outcome, escalation_time) -> str | None:
    if escalation_time is None:
        return None
    if isinstance(escalation_time, bool) or not isinstance(escalation_time, (int, float)) \
            or not math.isfinite(escalation_time) or escalation_time < 0:
        return f"escalation_time must be a number >= 0 or null, got {escalation_time!r}"
    if outcome != "escalated":
        return f"escalation_time is set but outcome is {outcome!r}; only escalated calls have one"
    return None


def _utterance(doc, i: int) -> CallUtterance:
    where = f"utterances[{i}]"
    if not isinstance(doc, dict):
        raise _Invalid(f"{where} must be an object")
    missing = [k for k in ("speaker", "start", "end", "text") if doc.get(k) is None]
    if missing:
        raise _Invalid(f"{where} lacks {', '.join(missing)}")
    if doc["speaker"] not in SPEAKERS:
        raise _Invalid(f"{where}.speaker is {doc['speaker']!r}; expected agent or customer")
    start, end = _number(doc["start"], f"{where}.start"), _number(doc["end"], f"{where}.end")
    if not 0 <= start <= end:
        raise _Invalid(f"{where}: need 0 <= start <= end, got start {start:g}, end {end:g}")
    return CallUtterance(
        speaker=doc["speaker"], start=start, end=end, text=_string(doc["text"], f"{where}.text"),
        utterance_id=_string(doc.get("utterance_id"), f"{where}.utterance_id", True),
        confidence=_number(doc.get("confidence"), f"{where}.confidence", True),
        sentiment=_string(doc.get("sentiment"), f"{where}.sentiment", True),
        frustration=_number(doc.get("frustration"), f"{where}.frustration", True),
        intent=_number(doc.get("intent"), f"{where}.intent", True),
        risk=_number(doc.get("risk"), f"{where}.risk", True),
        model_version=_string(doc.get("model_version"), f"{where}.model_version", True),
    )


def _alert(doc, i: int) -> CallAlert:
    where = f"alerts[{i}]"
    if not isinstance(doc, dict) or not doc.get("alert_id") or not doc.get("alert_type"):
        raise _Invalid(f"{where} must be an object with alert_id and alert_type")
    return CallAlert(
        alert_id=_string(doc["alert_id"], f"{where}.alert_id"),
        alert_type=_string(doc["alert_type"], f"{where}.alert_type"),
        trigger=_string(doc.get("trigger") or "", f"{where}.trigger"),
        risk=_number(doc.get("risk"), f"{where}.risk", True),
        call_time=_number(doc.get("call_time"), f"{where}.call_time", True),
        utterance_id=_string(doc.get("utterance_id"), f"{where}.utterance_id", True),
    )


def _feedback(doc, i: int) -> CallFeedback:
    where = f"feedback[{i}]"
    if not isinstance(doc, dict) or not all(doc.get(k) for k in ("feedback_id", "alert_id", "prompt_id")):
        raise _Invalid(f"{where} must be an object with feedback_id, alert_id, prompt_id and helpful")
    if not isinstance(doc.get("helpful"), bool):
        raise _Invalid(f"{where}.helpful must be true or false, got {doc.get('helpful')!r}")
    return CallFeedback(
        feedback_id=_string(doc["feedback_id"], f"{where}.feedback_id"),
        alert_id=_string(doc["alert_id"], f"{where}.alert_id"),
        prompt_id=_string(doc["prompt_id"], f"{where}.prompt_id"),
        helpful=doc["helpful"],
        agent_id=_string(doc.get("agent_id") or "", f"{where}.agent_id"),
        trigger=_string(doc.get("trigger") or "", f"{where}.trigger"),
        ts=_number(doc.get("ts"), f"{where}.ts", True),
        utterance_id=_string(doc.get("utterance_id"), f"{where}.utterance_id", True),
        call_time=_number(doc.get("call_time"), f"{where}.call_time", True),
        snippet_id=_string(doc.get("snippet_id"), f"{where}.snippet_id", True),
        source=_string(doc.get("source") or "", f"{where}.source"),
    )


_CASE_STATUSES = ("open", "acknowledged", "resolved")
_CASE_RESPONSES = ("pending", "met", "breached")
_CASE_OUTCOMES = ("", "resolved", "customer_escalated", "false_alarm")


def _whole(value, name: str, optional: bool = False, minimum: int = 0) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Invalid(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _case(doc, i: int) -> CallCase:
    where = f"cases[{i}]"
    if not isinstance(doc, dict) or not doc.get("case_id"):
        raise _Invalid(f"{where} must be an object with case_id, trigger, opened_ts and status")

    def choice(key: str, allowed: tuple[str, ...], default: str) -> str:
        value = doc.get(key)
        value = default if value is None else value
        if value not in allowed:
            raise _Invalid(f"{where}.{key} is {value!r}; expected one of {', '.join(a or '(empty)' for a in allowed)}")
        return value

    return CallCase(
        case_id=_string(doc["case_id"], f"{where}.case_id"),
        trigger=_string(doc.get("trigger") or "", f"{where}.trigger"),
        opened_ts=_number(doc.get("opened_ts"), f"{where}.opened_ts"),
        status=choice("status", _CASE_STATUSES, ""),
        version=_whole(doc.get("version", 1), f"{where}.version", minimum=1),
        sla_s=_number(doc.get("sla_s"), f"{where}.sla_s", True),
        acknowledged_ts=_number(doc.get("acknowledged_ts"), f"{where}.acknowledged_ts", True),
        acknowledged_by=_string(doc.get("acknowledged_by") or "", f"{where}.acknowledged_by"),
        response_s=_number(doc.get("response_s"), f"{where}.response_s", True),
        response=choice("response", _CASE_RESPONSES, "pending"),
        breaches=_whole(doc.get("breaches") or 0, f"{where}.breaches"),
        route_type=_string(doc.get("route_type") or "", f"{where}.route_type"),
        route_team=_string(doc.get("route_team") or "", f"{where}.route_team"),
        route_tier=_whole(doc.get("route_tier"), f"{where}.route_tier", True),
        handed_over_team=_string(doc.get("handed_over_team") or "", f"{where}.handed_over_team"),
        handed_over_tier=_whole(doc.get("handed_over_tier"), f"{where}.handed_over_tier", True),
        outcome=choice("outcome", _CASE_OUTCOMES, ""),
        resolved_tier=_whole(doc.get("resolved_tier"), f"{where}.resolved_tier", True),
        resolved_ts=_number(doc.get("resolved_ts"), f"{where}.resolved_ts", True),
        note=_string(doc.get("note") or "", f"{where}.note"),
        agent_id=_string(doc.get("agent_id") or "", f"{where}.agent_id"),
    )


def _metadata(value) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):  # Parquet map columns read back as [(key, value), ...]
        value = dict(value)
    if not isinstance(value, dict):
        raise _Invalid(f"metadata must be an object of strings, got {type(value).__name__}")
    out = {}
    for k, v in value.items():
        if isinstance(v, (dict, list)):
            raise _Invalid(f"metadata[{k!r}] must be a string, number or boolean, not a nested {type(v).__name__}")
        out[str(k)] = "" if v is None else str(v)
    return out


def call_from_dict(doc) -> LabelledCall:
    """Validate one call record (a JSON object or a Parquet row); raises _Invalid with the field."""
    if not isinstance(doc, dict):
        raise _Invalid(f"expected an object, got {type(doc).__name__}")
    call_id = doc.get("call_id")
    if not isinstance(call_id, str) or not 0 < len(call_id) <= 128:
        raise _Invalid(f"call_id must be a string of 1 to 128 characters, got {call_id!r}")
    outcome = doc.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise _Invalid(f"outcome is {outcome!r}; expected escalated, calm or null (not labelled yet)")
    problem = _check_escalation_time(outcome, doc.get("escalation_time"))
    if problem:
        raise _Invalid(problem)
    utterances = doc.get("utterances")
    if not isinstance(utterances, list) or not utterances:
        raise _Invalid("utterances must be a non-empty list")
    alerts = doc.get("alerts") or []
    if not isinstance(alerts, list):
        raise _Invalid("alerts must be a list")
    feedback = doc.get("feedback") or []  # absent in files written before feedback was archived
    if not isinstance(feedback, list):
        raise _Invalid("feedback must be a list")
    cases = doc.get("cases") or []  # absent in files written before cases were archived
    if not isinstance(cases, list):
        raise _Invalid("cases must be a list")
    esc = doc.get("escalation_time")
    return LabelledCall(
        call_id=call_id,
        outcome=outcome,
        utterances=[_utterance(u, i) for i, u in enumerate(utterances)],
        escalation_time=None if esc is None else float(esc),
        alerts=[_alert(a, i) for i, a in enumerate(alerts)],
        metadata=_metadata(doc.get("metadata")),
        source=_string(doc.get("source") or "", "source"),
        feedback=[_feedback(f, i) for i, f in enumerate(feedback)],
        cases=[_case(c, i) for i, c in enumerate(cases)],
    )


def _raise_collected(path: Path, errors: list[str], total: int) -> None:
    if not errors:
        return
    shown = "\n  ".join(errors[:MAX_ERRORS_SHOWN])
    more = f"\n  ... and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
    raise LabelledCallsError(
        f"{path}: {len(errors)} of {total} record(s) are not valid labelled calls "
        f"(format: docs/labelled-calls.md):\n  {shown}{more}"
    )


# ---------------------------------------------------------------- reading


def read_calls(path: str | Path, labelled_only: bool = False) -> list[LabelledCall]:
    """Calls from a ``.parquet`` or ``.jsonl`` file, or an archive folder (parts + labels.jsonl)."""
    path = Path(path)
    if path.is_dir():
        calls = read_archive(path)
    elif not path.exists():
        raise LabelledCallsError(f"{path}: no such file or folder")
    elif path.suffix == ".parquet":
        calls = _read_parquet(path)
    elif path.suffix in (".jsonl", ".ndjson"):
        calls = _read_jsonl(path)
    else:
        raise LabelledCallsError(f"{path}: unknown file type {path.suffix!r}; use .parquet or .jsonl")
    return [c for c in calls if c.outcome is not None] if labelled_only else calls


def _check_unique(path: Path, calls_with_where: list[tuple[str, LabelledCall]], errors: list[str]) -> None:
    seen: dict[str, str] = {}
    for where, call in calls_with_where:
        if call.call_id in seen:
            errors.append(f"{where}: call_id {call.call_id!r} already used at {seen[call.call_id]}")
        else:
            seen[call.call_id] = where


def _read_jsonl(path: Path) -> list[LabelledCall]:
    errors, out, total = [], [], 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelledCallsError(f"{path}: cannot read as UTF-8 text ({exc})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        total += 1
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        try:
            out.append((f"line {n}", call_from_dict(doc)))
        except _Invalid as exc:
            cid = doc.get("call_id") if isinstance(doc, dict) else None
            errors.append(f"line {n}" + (f" (call_id {cid!r})" if isinstance(cid, str) else "") + f": {exc}")
    _check_unique(path, out, errors)
    _raise_collected(path, errors, total)
    return [c for _, c in out]


def _read_parquet(path: Path) -> list[LabelledCall]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise LabelledCallsError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in ("call_id", "outcome", "utterances") if c not in table.column_names]
    if missing:
        raise LabelledCallsError(
            f"{path}: missing column(s) {', '.join(missing)}; it has {', '.join(table.column_names)} "
            "(format: docs/labelled-calls.md)"
        )
    errors, out = [], []
    rows = table.to_pylist()
    for n, doc in enumerate(rows):
        try:
            out.append((f"row {n}", call_from_dict(doc)))
        except _Invalid as exc:
            cid = doc.get("call_id")
            errors.append(f"row {n}" + (f" (call_id {cid!r})" if isinstance(cid, str) else "") + f": {exc}")
    _check_unique(path, out, errors)
    _raise_collected(path, errors, len(rows))
    return [c for _, c in out]


# ---------------------------------------------------------------- writing

_UTTERANCE_FIELDS = [f.name for f in fields(CallUtterance)]
_ALERT_FIELDS = [f.name for f in fields(CallAlert)]
_FEEDBACK_FIELDS = [f.name for f in fields(CallFeedback)]
_CASE_FIELDS = [f.name for f in fields(CallCase)]
_CASE_INTS = ("version", "breaches", "route_tier", "handed_over_tier", "resolved_tier")
_CASE_FLOATS = ("opened_ts", "sla_s", "acknowledged_ts", "response_s", "resolved_ts")


def parquet_schema():
    import pyarrow as pa

    def typed(name: str, kind) -> pa.Field:
        return pa.field(name, kind)

    f64, s = pa.float64(), pa.string()
    utterance = pa.struct([typed(n, f64 if n in ("start", "end", "confidence", "frustration", "intent", "risk")
                                 else s) for n in _UTTERANCE_FIELDS])
    alert = pa.struct([typed(n, f64 if n in ("risk", "call_time") else s) for n in _ALERT_FIELDS])
    feedback = pa.struct([typed(n, pa.bool_() if n == "helpful" else f64 if n in ("ts", "call_time") else s)
                          for n in _FEEDBACK_FIELDS])
    case = pa.struct([typed(n, pa.int64() if n in _CASE_INTS else f64 if n in _CASE_FLOATS else s)
                      for n in _CASE_FIELDS])
    return pa.schema([
        pa.field("call_id", s, nullable=False),
        pa.field("outcome", s),
        pa.field("escalation_time", f64),
        pa.field("utterances", pa.list_(utterance)),
        pa.field("alerts", pa.list_(alert)),
        pa.field("metadata", pa.map_(s, s)),
        pa.field("source", s),
        pa.field("feedback", pa.list_(feedback)),
        pa.field("cases", pa.list_(case)),
    ])


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_calls(path: str | Path, calls: list[LabelledCall]) -> Path:
    """Write calls as Parquet or JSONL (by the suffix), atomically: a reader never sees half a file."""
    path = Path(path)
    docs = [c.to_dict() for c in calls]
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        for d in docs:
            d["metadata"] = list(d["metadata"].items())
        table = pa.Table.from_pylist(docs, schema=parquet_schema())
        _atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    elif path.suffix in (".jsonl", ".ndjson"):
        text = "".join(json.dumps(_compact(d), allow_nan=False) + "\n" for d in docs)
        _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    else:
        raise LabelledCallsError(f"{path}: unknown file type {path.suffix!r}; use .parquet or .jsonl")
    return path


def _compact(doc: dict) -> dict:
    """JSONL is for people too: leave out the optional fields that are empty."""
    doc = {k: v for k, v in doc.items() if v not in (None, [], {}, "") or k in ("outcome", "utterances")}
    doc["utterances"] = [{k: v for k, v in u.items() if v is not None} for u in doc["utterances"]]
    for key in ("alerts", "feedback", "cases"):
        if key in doc:
            doc[key] = [{k: v for k, v in x.items() if v is not None} for x in doc[key]]
    return doc


# ---------------------------------------------------------------- archive folders


def merge_calls(a: LabelledCall, b: LabelledCall) -> LabelledCall:
    """One call seen in two parts (late utterances, redelivery): union by id, later label wins."""

    def key(u: CallUtterance):
        return u.utterance_id or (u.speaker, u.start, u.end, u.text)

    utterances = {key(u): u for u in a.utterances}
    for u in b.utterances:
        utterances.setdefault(key(u), u)
    alerts = {x.alert_id: x for x in a.alerts}
    for x in b.alerts:
        alerts.setdefault(x.alert_id, x)
    labelled = b if b.outcome is not None else a
    return LabelledCall(
        call_id=a.call_id,
        outcome=labelled.outcome,
        utterances=list(utterances.values()),
        escalation_time=labelled.escalation_time,
        alerts=list(alerts.values()),
        metadata={**a.metadata, **b.metadata},
        source=a.source or b.source,
        feedback=latest_feedback(*a.feedback, *b.feedback),
        cases=latest_cases(*a.cases, *b.cases),
    )


def read_labels(folder: str | Path) -> dict[str, Outcome]:
    """The latest outcome per call in ``labels.jsonl`` (later lines win)."""
    path = Path(folder) / LABELS_FILE
    return {o.call_id: o for o in _read_records(path, Outcome)} if path.exists() else {}


def _read_records(path: Path, kind: type[Record]) -> list:
    """Every record of a JSON-lines side file, in order; a bad line refuses the file, naming it."""
    records, errors, total = [], [], 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        total += 1
        try:
            records.append(kind.decode(line))
        except MalformedMessage as exc:
            errors.append(f"line {n}: {exc}")
    _raise_collected(path, errors, total)
    return records


def append_labels(folder: str | Path, outcomes: list[Outcome]) -> Path:
    """Append outcomes to ``labels.jsonl`` (the archive process may be appending too)."""
    return _append_records(Path(folder) / LABELS_FILE, outcomes)


def read_feedback(folder: str | Path) -> dict[str, list[CallFeedback]]:
    """Per call, the latest mark per feedback_id in ``feedback.jsonl`` (by ``ts``; on a tie, the later line)."""
    path = Path(folder) / FEEDBACK_FILE
    if not path.exists():
        return {}
    marks: dict[str, list[CallFeedback]] = {}
    for fb in _read_records(path, Feedback):
        marks.setdefault(fb.call_id, []).append(CallFeedback.from_record(fb))
    return {call_id: latest_feedback(*found) for call_id, found in marks.items()}


def append_feedback(folder: str | Path, feedback: list[Feedback]) -> Path:
    """Append agents' marks to ``feedback.jsonl``: kept whether or not their call is written yet."""
    return _append_records(Path(folder) / FEEDBACK_FILE, feedback)


def _append_records(path: Path, records: list[Record]) -> Path:
    """Append records as JSON lines under a lock, synced: what was appended survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(r.encode().decode() + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return path


def append_case_events(folder: str | Path, events: list) -> Path:
    """Append calls.cases events to ``cases.jsonl``: cases are often resolved after their call was written."""
    return _append_records(Path(folder) / CASES_FILE, events)


def read_cases(folder: str | Path) -> dict[str, list[CallCase]]:
    """Per call, its cases as the events in ``cases.jsonl`` leave them (applied in order, duplicates once)."""
    path = Path(folder) / CASES_FILE
    if not path.exists():
        return {}
    from callradar.agents.cases import CaseBook
    from callradar.agents.routing import EscalationMatrix
    from callradar.pipeline.records import CaseEvent

    book = CaseBook.rebuild(_read_records(path, CaseEvent), EscalationMatrix((), {}))  # applying needs no routes
    out: dict[str, list[CallCase]] = {}
    for case in book.cases.values():
        out.setdefault(case.call_id, []).append(CallCase.from_case(case))
    return {call_id: sorted(cases, key=lambda c: c.opened_ts) for call_id, cases in out.items()}


def archive_parts(folder: Path) -> list[Path]:
    side_files = (LABELS_FILE, FEEDBACK_FILE, CASES_FILE)
    parts = sorted(folder.glob("*.parquet")) + sorted(p for p in folder.glob("*.jsonl") if p.name not in side_files)
    return [p for p in parts if not p.name.startswith(".")]


def read_archive(folder: str | Path) -> list[LabelledCall]:
    """Every call in an archive folder, merged across parts, with the latest labels and feedback applied."""
    folder = Path(folder)
    merged: dict[str, LabelledCall] = {}
    for part in archive_parts(folder):
        for call in read_calls(part):
            merged[call.call_id] = merge_calls(merged[call.call_id], call) if call.call_id in merged else call
    for call_id, label in read_labels(folder).items():
        if call_id in merged:
            merged[call_id].outcome = label.outcome
            merged[call_id].escalation_time = label.escalation_time
    for call_id, marks in read_feedback(folder).items():
        if call_id in merged:
            merged[call_id].feedback = latest_feedback(*merged[call_id].feedback, *marks)
    for call_id, cases in read_cases(folder).items():
        if call_id in merged:
            merged[call_id].cases = latest_cases(*merged[call_id].cases, *cases)
    return list(merged.values())


# ---------------------------------------------------------------- label import


def read_outcomes_csv(path: str | Path, source: str | None = None) -> list[Outcome]:
    """``call_id,outcome[,escalation_time]`` with a header row; every bad line is reported."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LabelledCallsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelledCallsError(f"{path}: cannot read as UTF-8 text ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    if "call_id" not in header or "outcome" not in header:
        raise LabelledCallsError(
            f"{path}: the first line must be a header with call_id,outcome[,escalation_time]; got {','.join(header)!r}"
        )
    unknown = sorted(set(header) - {"call_id", "outcome", "escalation_time"})
    if unknown:
        raise LabelledCallsError(f"{path}: unknown column(s) {', '.join(unknown)}; expected call_id,outcome[,escalation_time]")
    errors, out, seen, now = [], [], {}, time.time()
    source = source or f"import:{path.name}"
    for row in reader:
        n = reader.line_num
        if None in row:  # DictReader puts surplus fields under None
            errors.append(f"line {n}: {len(header) + len(row[None])} fields, the header has {len(header)}")
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        raw_time = row.get("escalation_time", "")
        try:
            esc = float(raw_time) if raw_time else None
        except ValueError:
            errors.append(f"line {n}: escalation_time {raw_time!r} is not a number")
            continue
        try:
            outcome = Outcome.from_dict({"call_id": row.get("call_id", ""), "outcome": row.get("outcome", ""),
                                         "escalation_time": esc, "source": source, "ts": now})
        except MalformedMessage as exc:
            errors.append(f"line {n}: {str(exc).removeprefix('outcome: ')}")
            continue
        if outcome.call_id in seen and seen[outcome.call_id][1] != (outcome.outcome, outcome.escalation_time):
            errors.append(f"line {n}: call_id {outcome.call_id!r} already has a different outcome on line {seen[outcome.call_id][0]}")
            continue
        seen[outcome.call_id] = (n, (outcome.outcome, outcome.escalation_time))
        out.append(outcome)
    _raise_collected(path, errors, reader.line_num - 1)
    return out


def default_archive_dir(settings) -> Path:
    return Path(settings.state_dir) / "archive"
