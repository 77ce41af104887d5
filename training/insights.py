"""Insights for supervisors and managers from the call archive: ``callradar report``.

Reads the archive's Parquet parts column by column (only the columns the numbers
need: a month of calls holds millions of utterances, and their text is never
read), applies ``labels.jsonl`` and ``feedback.jsonl`` as reading the archive
does, and computes plain tables (:func:`insights`): escalations per day, queue,
agent, customer tier, trigger and support tier; alert precision per trigger;
lead time; response-time adherence; prompt helpfulness; calls that calmed down
after a prompt. :func:`write_report` turns them into an HTML page with PNG
charts and one CSV per table. The console's Insights page can render the same
tables from :func:`insights`.

When a call happened: its metadata's ``started_ts`` when the archive has it,
else the time its Parquet part was written (in the part's name, else the file's
modification time): within a minute or so of the call's end.

Escalation cases (``cases`` per call and ``cases.jsonl``: met or breached, tiers,
the verdict) are used when the archive holds any; the sections that need them say
"no case data yet" otherwise.
"""

from __future__ import annotations

import csv
import html
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from callradar.agents.cases import alert_precision
from callradar.pipeline.errors import UserError
from callradar.training.labelled_calls import (
    LabelledCall,
    LabelledCallsError,
    archive_parts,
    read_calls,
    read_cases,
    read_feedback,
    read_labels,
)

SUPERVISOR, PROMPT = "escalation_risk", "assist_prompt"
NO_CASES = "no case data yet: the archive has no escalation cases for these calls"
UNKNOWN = "(unknown)"
SPAN_UNITS = {"h": 3600.0, "d": 86400.0}
PART_STAMP = re.compile(r"calls-(\d{8}T\d{6})-")
# The case fields (training.labelled_calls.CallCase) the report reads.
CASE_FIELDS = ("case_id", "trigger", "version", "opened_ts", "acknowledged_ts", "response_s", "response",
               "route_tier", "handed_over_tier", "outcome", "resolved_tier")
_CASE_NUMBERS = ("version", "opened_ts", "acknowledged_ts", "response_s", "route_tier", "handed_over_tier",
                 "resolved_tier")
MAX_CHART_ROWS = 20
MAX_HTML_ROWS = 50


# ---------------------------------------------------------------- --since


def parse_since(text: str, now: float) -> float:
    """``7d``, ``24h``, ``30d`` (back from ``now``) or an ISO date/time (UTC unless it says otherwise) as epoch seconds."""
    text = (text or "").strip()
    span = re.fullmatch(r"(\d+)\s*([hd])", text.lower())
    if span:
        n = int(span.group(1))
        if n <= 0:
            raise UserError(f"--since {text!r}: the span must be at least 1{span.group(2)}")
        return now - n * SPAN_UNITS[span.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"--since {text!r}: expected a span like 7d, 24h or 30d, or an ISO date like 2025-01-31") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    ts = when.timestamp()
    if ts > now:
        raise UserError(f"--since {text!r} is in the future")
    return ts


# ---------------------------------------------------------------- the archive as columns


@dataclass
class Columns:
    """The archive flattened: one entry per call in ``calls``; alerts, feedback marks, utterances and
    cases one entry each, with ``call`` the row of their call. Strings are object arrays ("" for none)."""

    calls: dict[str, np.ndarray]  # call_id, ts, queue, agent_id, customer_tier, outcome, escalation_time
    alerts: dict[str, np.ndarray]  # call, alert_id, alert_type, trigger, call_time
    feedback: dict[str, np.ndarray]  # call, feedback_id, alert_id, prompt_id, helpful, ts
    utterances: dict[str, np.ndarray]  # call, end, risk
    cases: dict[str, np.ndarray]  # call and CASE_FIELDS; empty arrays when the archive has none

    @property
    def n_calls(self) -> int:
        return len(self.calls["call_id"])

    @property
    def has_cases(self) -> bool:
        return len(self.cases["call"]) > 0

    def select(self, keep: np.ndarray) -> Columns:
        """Only the calls where ``keep`` is true, with their alerts, marks, utterances and cases."""
        new_row = np.cumsum(keep) - 1

        def child(frame: dict) -> dict:
            mask = keep[frame["call"]] if len(frame["call"]) else np.zeros(0, dtype=bool)
            out = {k: v[mask] for k, v in frame.items()}
            out["call"] = new_row[out["call"]] if len(out["call"]) else out["call"]
            return out

        return Columns({k: v[keep] for k, v in self.calls.items()}, child(self.alerts), child(self.feedback),
                       child(self.utterances), child(self.cases))


_CALL_STRINGS = ("call_id", "queue", "agent_id", "customer_tier", "outcome")
_FRAMES = {
    "alerts": {"alert_id": "s", "alert_type": "s", "trigger": "s", "call_time": "f"},
    "feedback": {"feedback_id": "s", "alert_id": "s", "prompt_id": "s", "helpful": "b", "ts": "f"},
    "utterances": {"end": "f", "risk": "f"},
    "cases": {name: ("f" if name in _CASE_NUMBERS else "s") for name in CASE_FIELDS},
}


def _empty(kind: str, n: int = 0) -> np.ndarray:
    if kind == "s":
        out = np.empty(n, dtype=object)
        out[:] = ""
        return out
    return np.zeros(n, dtype=bool) if kind == "b" else np.full(n, np.nan)


def _empty_frame(name: str) -> dict[str, np.ndarray]:
    return {"call": np.zeros(0, dtype=np.int64), **{k: _empty(kind) for k, kind in _FRAMES[name].items()}}


def _as_numpy(arr, kind: str) -> np.ndarray:
    """A pyarrow array as numpy: strings with "" for null, floats with nan, booleans with False."""
    import pyarrow.compute as pc

    if kind == "s":
        out = np.asarray(pc.fill_null(arr.cast("string"), "").to_numpy(zero_copy_only=False), dtype=object)
    elif kind == "b":
        out = np.asarray(pc.fill_null(arr.cast("bool"), False).to_numpy(zero_copy_only=False), dtype=bool)
    else:
        out = np.asarray(arr.cast("float64").to_numpy(zero_copy_only=False), dtype=float)
    return out


def _list_frame(column, name: str) -> dict[str, np.ndarray]:
    """A list<struct> column flattened: one entry per element with its row in ``call``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    parents = np.asarray(pc.list_parent_indices(column).to_numpy(zero_copy_only=False), dtype=np.int64)
    items = pc.list_flatten(column)
    present = {items.type.field(i).name for i in range(items.type.num_fields)}
    out = {"call": parents}
    for key, kind in _FRAMES[name].items():
        out[key] = _as_numpy(items.field(key), kind) if key in present else _empty(kind, len(parents))
    return out


def part_written_ts(path: Path) -> float:
    """When the archive wrote a part: the UTC stamp in its name, else the file's modification time."""
    stamp = PART_STAMP.match(path.name)
    if stamp:
        return datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc).timestamp()
    return path.stat().st_mtime


def _parquet_columns(path: Path) -> Columns:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        if "call_id" not in names:
            raise LabelledCallsError(f"{path}: no call_id column; it has {', '.join(sorted(names))} "
                                     "(format: docs/labelled-calls.md)")
        wanted = [c for c in ("call_id", "outcome", "escalation_time", "alerts", "feedback", "metadata", "cases")
                  if c in names]
        if "utterances" in names:  # their end and risk only: the text is most of the file
            wanted += ["utterances.list.element.end", "utterances.list.element.risk"]
        table = pf.read(columns=wanted)
    except (OSError, pa.ArrowException) as exc:
        raise LabelledCallsError(f"{path}: not a readable Parquet file ({exc})") from None
    n = table.num_rows
    calls = {"call_id": _as_numpy(table["call_id"], "s"),
             "outcome": _as_numpy(table["outcome"], "s") if "outcome" in names else _empty("s", n),
             "escalation_time": (_as_numpy(table["escalation_time"], "f") if "escalation_time" in names
                                 else _empty("f", n))}
    meta = _metadata_columns(table["metadata"], n) if "metadata" in names else {}
    for key in ("queue", "agent_id", "customer_tier"):
        calls[key] = meta.get(key, _empty("s", n))
    calls["ts"] = _started_ts(meta.get("started_ts"), n, part_written_ts(path))
    frames = {name: _list_frame(table[name], name) if name in table.column_names else _empty_frame(name)
              for name in ("alerts", "feedback", "utterances", "cases")}
    return Columns(calls, frames["alerts"], frames["feedback"], frames["utterances"], frames["cases"])


def _metadata_columns(column, n: int) -> dict[str, np.ndarray]:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    # list_parent_indices aborts the process on a map column (pyarrow 26), so the parents come from the offsets
    offsets = np.asarray(column.offsets, dtype=np.int64)
    parents = np.repeat(np.arange(len(column)), np.diff(offsets))
    keys, values = column.keys, column.items
    if len(keys) != offsets[-1] - offsets[0]:  # the children of a sliced array
        keys, values = keys.slice(offsets[0], offsets[-1] - offsets[0]), values.slice(offsets[0], offsets[-1] - offsets[0])
    keys, values = _as_numpy(keys, "s"), _as_numpy(values, "s")
    out = {}
    for key in ("queue", "agent_id", "customer_tier", "started_ts"):
        col = _empty("s", n)
        hit = keys == key
        col[parents[hit]] = values[hit]
        out[key] = col
    return out


def _started_ts(values: np.ndarray | None, n: int, fallback: float) -> np.ndarray:
    ts = np.full(n, float(fallback))
    if values is not None:
        for i in np.flatnonzero(values != ""):
            try:
                ts[i] = float(values[i])
            except ValueError:
                pass
    return ts


def columns_from_calls(calls: list[LabelledCall], written_ts: float = math.nan) -> Columns:
    """The same columns from LabelledCall objects (JSONL parts, the console); ``written_ts``: when, if
    the metadata has no ``started_ts``."""
    n = len(calls)
    out = {"call_id": np.array([c.call_id for c in calls], dtype=object),
           "outcome": np.array([c.outcome or "" for c in calls], dtype=object),
           "escalation_time": np.array([math.nan if c.escalation_time is None else c.escalation_time for c in calls],
                                       dtype=float)}
    for key in ("queue", "agent_id", "customer_tier"):
        out[key] = np.array([c.metadata.get(key, "") for c in calls], dtype=object)
    out["ts"] = _started_ts(np.array([c.metadata.get("started_ts", "") for c in calls], dtype=object), n, written_ts)
    if n == 0:
        out = {k: (v.astype(object) if k in _CALL_STRINGS else v.astype(float)) for k, v in out.items()}

    def frame(name: str, per_call) -> dict[str, np.ndarray]:
        rows = [(i, x) for i, c in enumerate(calls) for x in per_call(c)]
        f = {"call": np.array([i for i, _ in rows], dtype=np.int64)}
        for key, kind in _FRAMES[name].items():
            f[key] = _from_values([getattr(x, key, None) for _, x in rows], kind)
        return f

    return Columns(out, frame("alerts", lambda c: c.alerts), frame("feedback", lambda c: c.feedback),
                   frame("utterances", lambda c: c.utterances), frame("cases", lambda c: getattr(c, "cases", None) or []))


def _from_values(values: list, kind: str) -> np.ndarray:
    if kind == "s":
        return np.array(["" if v is None else str(v) for v in values] or [], dtype=object)
    if kind == "b":
        return np.array([bool(v) for v in values], dtype=bool)
    return np.array([math.nan if v is None or isinstance(v, str) else float(v) for v in values], dtype=float)


def _concat(parts: list[Columns]) -> Columns:
    offsets = np.cumsum([0] + [p.n_calls for p in parts])

    def join(frames: list[dict]) -> dict:
        out = {}
        for key in frames[0]:
            if key == "call":
                out[key] = np.concatenate([f["call"] + off for f, off in zip(frames, offsets)]).astype(np.int64)
            else:
                out[key] = np.concatenate([f[key] for f in frames])
        return out

    return Columns(join([p.calls for p in parts]), join([p.alerts for p in parts]), join([p.feedback for p in parts]),
                   join([p.utterances for p in parts]), join([p.cases for p in parts]))


def _merge_duplicates(cols: Columns) -> Columns:
    """One row per call id, as reading the archive merges them: the later label wins, metadata fills in,
    alerts once per id, a case at its highest version, the latest mark per feedback_id."""
    ids = cols.calls["call_id"]
    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    if len(uniq) < len(ids):
        calls = {k: v[first].copy() for k, v in cols.calls.items()}
        counts = np.bincount(inverse)
        for row in np.flatnonzero(counts[inverse] > 1):  # rows of calls written twice, in part order
            to = inverse[row]
            if cols.calls["outcome"][row]:
                calls["outcome"][to] = cols.calls["outcome"][row]
                calls["escalation_time"][to] = cols.calls["escalation_time"][row]
            for key in ("queue", "agent_id", "customer_tier"):
                calls[key][to] = calls[key][to] or cols.calls[key][row]
            calls["ts"][to] = np.fmin(calls["ts"][to], cols.calls["ts"][row])

        def remap(frame: dict) -> dict:
            return {**frame, "call": inverse[frame["call"]] if len(frame["call"]) else frame["call"]}

        cols = Columns(calls, remap(cols.alerts), remap(cols.feedback), remap(cols.utterances), remap(cols.cases))
    alerts = _keep_last(cols.alerts, list(zip(cols.alerts["call"].tolist(), cols.alerts["alert_id"].tolist())),
                        first_wins=True)
    return Columns(cols.calls, alerts, _latest(cols.feedback, "feedback_id", "ts"), cols.utterances,
                   _latest(cols.cases, "case_id", "version"))


def _keep_last(frame: dict, keys: list, first_wins: bool = False) -> dict:
    chosen: dict = {}
    for i, key in enumerate(keys):
        if first_wins:
            chosen.setdefault(key, i)
        else:
            chosen[key] = i
    if len(chosen) == len(keys):
        return frame
    rows = np.array(sorted(chosen.values()), dtype=np.int64)
    return {k: v[rows] for k, v in frame.items()}


def _latest(frame: dict, key: str, by: str) -> dict:
    """One entry per ``key``: the highest ``by`` wins, on a tie the later one (as latest_feedback, latest_cases)."""
    order = np.nan_to_num(frame[by], nan=0.0)
    chosen: dict = {}
    for i, k in enumerate(frame[key].tolist()):
        old = chosen.get(k)
        if old is None or order[i] >= order[old]:
            chosen[k] = i
    if len(chosen) == len(order):
        return frame
    rows = np.array(sorted(chosen.values()), dtype=np.int64)
    return {k: v[rows] for k, v in frame.items()}


def read_columns(folder: str | Path) -> Columns:
    """Every call in an archive folder as columns, merged across parts, with the latest labels and marks."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such archive folder (`callradar archive` writes one; choose another with --archive)")
    parts = archive_parts(folder)
    if not parts:
        raise UserError(f"{folder}: the archive holds no calls yet (no .parquet or .jsonl parts)")
    cols = _merge_duplicates(_concat([
        _parquet_columns(p) if p.suffix == ".parquet" else columns_from_calls(read_calls(p), part_written_ts(p))
        for p in parts]))
    row_of = {cid: i for i, cid in enumerate(cols.calls["call_id"].tolist())}
    for call_id, label in read_labels(folder).items():
        i = row_of.get(call_id)
        if i is not None:
            cols.calls["outcome"][i] = label.outcome
            cols.calls["escalation_time"][i] = math.nan if label.escalation_time is None else label.escalation_time
    feedback = _with_late(cols.feedback, "feedback", row_of, read_feedback(folder))
    cases = _with_late(cols.cases, "cases", row_of, read_cases(folder))
    return Columns(cols.calls, cols.alerts, _latest(feedback, "feedback_id", "ts"), cols.utterances,
                   _latest(cases, "case_id", "version"))


def _with_late(frame: dict, name: str, row_of: dict[str, int], late_by_call: dict[str, list]) -> dict:
    """A frame with the side file's entries (feedback.jsonl, cases.jsonl) for the calls in the archive appended."""
    late = [(row_of[cid], x) for cid, found in late_by_call.items() if cid in row_of for x in found]
    if not late:
        return frame
    extra = {"call": np.array([i for i, _ in late], dtype=np.int64)}
    for key, kind in _FRAMES[name].items():
        extra[key] = _from_values([getattr(x, key, None) for _, x in late], kind)
    return {k: np.concatenate([frame[k], extra[k]]) for k in frame}


# ---------------------------------------------------------------- the tables


@dataclass
class Table:
    """One computed table: what the CSV, the HTML and the console show."""

    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    note: str = ""  # how it is computed, or why it is empty

    def to_dict(self) -> dict:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "note": self.note}

    def column(self, name: str) -> list:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]


def _ratio(num, den) -> float | None:
    return round(float(num) / float(den), 4) if den else None


def _quantile(values: np.ndarray, q: float) -> float | None:
    return round(float(np.quantile(values, q)), 2) if len(values) else None


def _groups(keys: np.ndarray) -> tuple[list[str], np.ndarray]:
    keys = np.where(keys == "", UNKNOWN, keys).astype(object) if len(keys) else keys.astype(object)
    labels, inverse = np.unique(keys.astype(str), return_inverse=True) if len(keys) else (np.array([]), keys)
    return labels.tolist(), np.asarray(inverse, dtype=np.int64).reshape(-1)


def _count(inverse: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    if not len(inverse):
        return np.zeros(n, dtype=np.int64)
    counts = np.bincount(inverse, weights=None if weights is None else weights.astype(float), minlength=n)
    return np.rint(counts).astype(np.int64)


def _day(ts: np.ndarray) -> np.ndarray:
    days = np.empty(len(ts), dtype=object)
    ok = np.isfinite(ts)
    days[~ok] = ""
    if ok.any():
        days[ok] = np.datetime_as_string(np.floor(ts[ok]).astype("int64").astype("datetime64[s]"), unit="D")
    return days


ESCALATION_COLUMNS = ["calls", "alerted_calls", "escalated", "calm", "unlabelled", "escalation_rate"]


def _escalations_by(key: str, keys: np.ndarray, cols: Columns, alerted: np.ndarray, order: str) -> Table:
    labels, inverse = _groups(keys)
    n = len(labels)
    outcome = cols.calls["outcome"]
    calls = _count(inverse, n)
    alerted_n = _count(inverse, n, alerted)
    esc = _count(inverse, n, outcome == "escalated")
    calm = _count(inverse, n, outcome == "calm")
    rows = [[labels[i], int(calls[i]), int(alerted_n[i]), int(esc[i]), int(calm[i]), int(calls[i] - esc[i] - calm[i]),
             _ratio(esc[i], esc[i] + calm[i])] for i in range(n)]
    if order == "escalated":
        rows.sort(key=lambda r: (-r[3], -r[2], r[0]))
    return Table(f"Escalations per {key.removesuffix('_id').replace('_', ' ')}", [key, *ESCALATION_COLUMNS], rows,
                 "escalated / calm: the call's outcome (labels, case verdicts); alerted: at least one supervisor alert; "
                 "escalation rate: escalated / labelled")


def insights(source: Columns | list[LabelledCall], since: float | None = None, rearm_threshold: float = 0.4,
             follow_up_risk: float = 0.4) -> dict[str, Table]:
    """Every table of the report, by name (the CSV file names), for the calls since ``since`` (epoch seconds)."""
    cols = source if isinstance(source, Columns) else columns_from_calls(source)
    if since is not None:
        cols = cols.select(cols.calls["ts"] >= since)
    n = cols.n_calls
    sup = cols.alerts["alert_type"] == SUPERVISOR
    alerted = _count(cols.alerts["call"][sup], n) > 0
    outcome = cols.calls["outcome"]
    tables = {"summary": _summary(cols, since, sup, alerted)}
    tables["escalations_by_day"] = _escalations_by("day", _day(cols.calls["ts"]), cols, alerted, "key")
    for key in ("queue", "agent_id", "customer_tier"):
        tables[f"escalations_by_{key.removesuffix('_id')}"] = _escalations_by(key, cols.calls[key], cols, alerted,
                                                                                  "escalated")
    tables["escalations_by_trigger"] = _by_trigger(cols, sup, outcome)
    tables["escalations_by_tier"] = _by_tier(cols)
    tables["alert_precision_by_trigger"] = _precision(cols, sup, outcome)
    tables["lead_time"], tables["lead_time_histogram"] = _lead_time(cols, sup, outcome)
    tables["response_adherence"] = _adherence(cols)
    tables["prompt_helpfulness"] = _helpfulness(cols)
    tables["calmed_after_prompt"] = _calmed(cols, outcome, rearm_threshold)
    tables["follow_up"] = _follow_up(cols, alerted, follow_up_risk)
    return tables


def _summary(cols: Columns, since: float | None, sup: np.ndarray, alerted: np.ndarray) -> Table:
    ts = cols.calls["ts"][np.isfinite(cols.calls["ts"])]
    outcome = cols.calls["outcome"]

    def when(t) -> str:
        return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="minutes") if t is not None else ""

    rows = [
        ["since", when(since)],
        ["first call", when(ts.min()) if len(ts) else ""],
        ["last call", when(ts.max()) if len(ts) else ""],
        ["calls", cols.n_calls],
        ["calls with a supervisor alert", int(alerted.sum())],
        ["escalated", int((outcome == "escalated").sum())],
        ["calm", int((outcome == "calm").sum())],
        ["not labelled yet", int((outcome == "").sum())],
        ["supervisor alerts", int(sup.sum())],
        ["assist prompts", int((cols.alerts["alert_type"] == PROMPT).sum())],
        ["feedback marks", len(cols.feedback["call"])],
        ["escalation cases", len(cols.cases["call"]) if cols.has_cases else "no case data yet"],
    ]
    return Table("Summary", ["what", "value"], rows)


def _by_trigger(cols: Columns, sup: np.ndarray, outcome: np.ndarray) -> Table:
    call, trig = cols.alerts["call"][sup], cols.alerts["trigger"][sup]
    labels, inverse = _groups(trig)
    n = len(labels)
    alerts = _count(inverse, n)
    pairs = np.unique(np.stack([inverse, call]), axis=1) if len(call) else np.zeros((2, 0), dtype=np.int64)
    calls = _count(pairs[0], n)
    esc_calls = _count(pairs[0], n, outcome[pairs[1]] == "escalated")
    cases = np.zeros(n, dtype=np.int64)
    if cols.has_cases:
        index = {t: i for i, t in enumerate(labels)}
        for t in cols.cases["trigger"].tolist():
            if (t or UNKNOWN) in index:
                cases[index[t or UNKNOWN]] += 1
    rows = [[labels[i], int(alerts[i]), int(calls[i]), int(esc_calls[i]), _ratio(esc_calls[i], calls[i]),
             int(cases[i]) if cols.has_cases else None] for i in range(n)]
    rows.sort(key=lambda r: (-r[1], r[0]))
    return Table("Escalations per trigger", ["trigger", "supervisor_alerts", "calls", "escalated_calls",
                                             "escalated_share", "cases"], rows,
                 "supervisor alerts (escalation_risk) per trigger; escalated calls: their outcome is escalated"
                 + ("" if cols.has_cases else "; cases: " + NO_CASES))


def _case_tier(cols: Columns) -> np.ndarray:
    """The support tier a case reached: resolved at, else where it is now, else handed over to, else the first."""
    tier = np.full(len(cols.cases["call"]), np.nan)
    for key in ("resolved_tier", "route_tier", "handed_over_tier"):
        tier = np.where(np.isnan(tier) & (cols.cases[key] > 0), cols.cases[key], tier)
    return np.nan_to_num(tier, nan=1.0).astype(np.int64)


def _by_tier(cols: Columns) -> Table:
    columns = ["tier", "cases", "resolved", "customer_escalated", "false_alarm", "open", "breached"]
    if not cols.has_cases or not len(cols.cases["call"]):
        return Table("Escalations per support tier", columns, [], NO_CASES)
    tier, outcome, response = _case_tier(cols), cols.cases["outcome"], cols.cases["response"]
    rows = []
    for t in sorted(set(tier.tolist())):
        m = tier == t
        rows.append([t, int(m.sum()), int((outcome[m] == "resolved").sum()), int((outcome[m] == "customer_escalated").sum()),
                     int((outcome[m] == "false_alarm").sum()), int((outcome[m] == "").sum()),
                     int((response[m] == "breached").sum())])
    return Table("Escalations per support tier", columns, rows,
                 "cases by the tier they reached: resolved at, else the tier of their route now (after hand-overs "
                 "and breaches)")


def _precision(cols: Columns, sup: np.ndarray, outcome: np.ndarray) -> Table:
    """Per trigger: a case's verdict where the call has cases, else each supervisor alert judged by the call's outcome."""
    with_cases = np.zeros(cols.n_calls, dtype=bool)
    with_cases[cols.cases["call"]] = True
    verdicts = []
    if cols.has_cases:
        verdicts += [(t or UNKNOWN, o, "case") for t, o in zip(cols.cases["trigger"].tolist(), cols.cases["outcome"].tolist())]
    as_case = {"escalated": "customer_escalated", "calm": "false_alarm", "": ""}
    plain = sup & ~with_cases[cols.alerts["call"]]
    verdicts += [(t or UNKNOWN, as_case[outcome[c]], "outcome")
                 for t, c in zip(cols.alerts["trigger"][plain].tolist(), cols.alerts["call"][plain].tolist())]
    counts = alert_precision((t, o) for t, o, _ in verdicts)
    seen: dict[str, dict] = {}
    for t, o, src in verdicts:
        row = seen.setdefault(t, {"alerts": 0, "case": 0, "outcome": 0, "none": 0})
        row["alerts"] += 1
        row[src if o else "none"] += 1
    rows = []
    for t, s in seen.items():
        c = counts.get(t, {"confirmed": 0, "false_alarm": 0, "precision": None})
        precision = None if c["precision"] is None else round(c["precision"], 4)
        rows.append([t, s["alerts"], c["confirmed"], c["false_alarm"], precision, s["case"], s["outcome"], s["none"]])
    rows.sort(key=lambda r: (-r[1], r[0]))
    note = ("confirmed: the case was resolved or the customer escalated (or, with no case, the call escalated); "
            "false alarm: the case was closed as one (or, with no case, the call ended calm)")
    return Table("Alert precision per trigger", ["trigger", "alerts_or_cases", "confirmed", "false_alarm", "precision",
                                                 "from_cases", "from_outcomes", "no_verdict_yet"], rows,
                 note + ("" if cols.has_cases else "; " + NO_CASES + ", so every verdict is the call's outcome"))


def _first_per_call(call: np.ndarray, t: np.ndarray, trig: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of alerts (call row, call time, trigger), each call's earliest one."""
    order = np.lexsort((t, call))
    call, t, trig = call[order], t[order], trig[order]
    first = np.r_[True, call[1:] != call[:-1]] if len(call) else np.zeros(0, dtype=bool)
    return call[first], t[first], trig[first]


def _lead_time(cols: Columns, sup: np.ndarray, outcome: np.ndarray) -> tuple[Table, Table]:
    """Escalation time minus the call time of the call's first supervisor alert (> 0: warned before)."""
    call, t = cols.alerts["call"][sup], cols.alerts["call_time"][sup]
    ok = np.isfinite(t)
    call, t, trig = _first_per_call(call[ok], t[ok], cols.alerts["trigger"][sup][ok])
    esc_t = cols.calls["escalation_time"][call]
    has = (outcome[call] == "escalated") & np.isfinite(esc_t)
    lead, trig = esc_t[has] - t[has], trig[has]
    columns = ["trigger", "escalated_calls_alerted", "warned_before", "warned_before_share", "median_s", "p25_s", "p75_s"]

    def row(name: str, x: np.ndarray) -> list:
        before = int((x > 0).sum())
        return [name, len(x), before, _ratio(before, len(x)), _quantile(x, 0.5), _quantile(x, 0.25), _quantile(x, 0.75)]

    labels, inverse = _groups(trig)
    rows = [row("(all)", lead)] + sorted((row(lab, lead[inverse == i]) for i, lab in enumerate(labels)),
                                        key=lambda r: (-r[1], r[0]))
    table = Table("Lead time: first supervisor alert to escalation", columns, rows,
                  "escalated calls with an escalation time and a supervisor alert; lead time = escalation time - "
                  "call time of the first alert, > 0 means the supervisor was warned before the customer escalated")
    hist = Table("Lead time, distribution", ["from_s", "to_s", "calls"], [],
                 "10 s bins; the first and last bins also hold anything beyond them")
    if len(lead):
        lo = max(-120.0, 10.0 * math.floor(lead.min() / 10.0))
        hi = min(600.0, 10.0 * math.ceil(lead.max() / 10.0))
        hi = max(hi, lo + 10.0)
        counts, edges = np.histogram(np.clip(lead, lo, hi), bins=np.arange(lo, hi + 10.0, 10.0))
        hist.rows = [[float(edges[i]), float(edges[i + 1]), int(counts[i])] for i in range(len(counts))]
    return table, hist


def _adherence(cols: Columns) -> Table:
    columns = ["trigger", "cases", "met", "breached", "pending", "adherence", "median_response_s", "p90_response_s"]
    if not cols.has_cases or not len(cols.cases["call"]):
        return Table("Response-time adherence", columns, [], NO_CASES)
    resp = cols.cases["response_s"].copy()
    missing = np.isnan(resp)
    resp[missing] = (cols.cases["acknowledged_ts"] - cols.cases["opened_ts"])[missing]
    response = cols.cases["response"]

    def row(name: str, m: np.ndarray) -> list:
        met, breached = int((response[m] == "met").sum()), int((response[m] == "breached").sum())
        r = resp[m][np.isfinite(resp[m]) & (resp[m] >= 0)]
        return [name, int(m.sum()), met, breached, int(m.sum()) - met - breached, _ratio(met, met + breached),
                _quantile(r, 0.5), _quantile(r, 0.9)]

    labels, inverse = _groups(cols.cases["trigger"])
    rows = [row("(all)", np.ones(len(response), dtype=bool))]
    rows += sorted((row(lab, inverse == i) for i, lab in enumerate(labels)), key=lambda r: (-r[1], r[0]))
    return Table("Response-time adherence", columns, rows,
                 "met: acknowledged within every response time the escalation matrix set; breached: not; pending: "
                 "not acknowledged yet; response time: opened to acknowledged")


def _helpfulness(cols: Columns) -> Table:
    fb = cols.feedback
    labels, inverse = _groups(fb["prompt_id"])
    n = len(labels)
    marks, helpful = _count(inverse, n), _count(inverse, n, fb["helpful"])
    rows = [[labels[i], int(marks[i]), int(helpful[i]), int(marks[i] - helpful[i]), _ratio(helpful[i], marks[i])]
            for i in range(n)]
    rows.sort(key=lambda r: (-r[1], r[0]))
    return Table("Prompt helpfulness", ["prompt_id", "marks", "helpful", "not_helpful", "helpful_share"], rows,
                 "agents' Helpful / Not helpful marks, the latest per agent and prompt"
                 + ("" if n else "; no marks in this period"))


def _calmed(cols: Columns, outcome: np.ndarray, rearm: float) -> Table:
    """Calls with an assist prompt whose risk fell below the re-arm threshold after the first one, or that ended calm."""
    prompt = (cols.alerts["alert_type"] == PROMPT) & np.isfinite(cols.alerts["call_time"])
    first_at = np.full(cols.n_calls, np.inf)
    first_trigger = np.empty(cols.n_calls, dtype=object)
    first_trigger[:] = ""
    call, t, trig = _first_per_call(cols.alerts["call"][prompt], cols.alerts["call_time"][prompt],
                                    cols.alerts["trigger"][prompt])
    first_at[call], first_trigger[call] = t, trig
    u = cols.utterances
    after = (u["end"] > first_at[u["call"]]) & (u["risk"] < rearm) if len(u["call"]) else np.zeros(0, dtype=bool)
    fell = _count(u["call"][after], cols.n_calls) > 0
    prompted = np.isfinite(first_at)
    ended_calm = outcome == "calm"
    calmed = prompted & (fell | ended_calm)
    columns = ["trigger", "calls_with_prompt", "calmed", "calmed_share", "risk_fell_below_rearm", "ended_calm"]

    def row(name: str, m: np.ndarray) -> list:
        k = int((m & calmed).sum())
        return [name, int(m.sum()), k, _ratio(k, int(m.sum())), int((m & fell).sum()), int((m & ended_calm).sum())]

    labels, inverse = _groups(first_trigger[prompted])
    ids = np.full(cols.n_calls, -1, dtype=np.int64)
    ids[prompted] = inverse
    rows = [row("(all)", prompted)] + sorted((row(lab, ids == i) for i, lab in enumerate(labels)),
                                             key=lambda r: (-r[1], r[0]))
    return Table("Calls that calmed down after a prompt", columns, rows,
                 f"per call, after its first assist prompt: the risk fell below the re-arm threshold ({rearm:g}) "
                 "on a later utterance, or the call's outcome is calm; by the first prompt's trigger")


def _follow_up(cols: Columns, alerted: np.ndarray, at_least: float) -> Table:
    """Calls that ended at risk with no supervisor alert, highest risk at the end first: whom to call back.

    The risk at a call's end is the reading after its last utterance. On rated dialogues it ranks the
    dissatisfied ones better than the highest reading over the call does (docs/benchmarks.md, "Labels for
    the call as a whole"), and a call that never crossed the alert threshold reached no supervisor live."""
    u = cols.utterances
    scored = np.isfinite(u["risk"]) & np.isfinite(u["end"]) if len(u["call"]) else np.zeros(0, dtype=bool)
    call, end, risk = u["call"][scored], u["end"][scored], u["risk"][scored]
    same = call[1:] == call[:-1]
    if not ((call[1:] >= call[:-1]).all() and (end[1:] >= end[:-1])[same].all()):  # the archive's order, else sort
        order = np.lexsort((end, call))  # by call, then by end: the last of each call is its end
        call, risk = call[order], risk[order]
    at_end, highest = np.full(cols.n_calls, np.nan), np.full(cols.n_calls, np.nan)
    if len(call):
        first = np.flatnonzero(np.r_[True, call[1:] != call[:-1]])
        at_end[call[first]] = risk[np.r_[first[1:] - 1, len(call) - 1]]
        highest[call[first]] = np.maximum.reduceat(risk, first)
    keep = np.flatnonzero(~alerted & (at_end >= at_least))  # nan compares False
    keep = keep[np.argsort(-at_end[keep], kind="stable")]
    c = cols.calls
    rows = [[c["call_id"][i], c["queue"][i], c["agent_id"][i], round(float(at_end[i]), 4),
             round(float(highest[i]), 4), c["outcome"][i] or "not labelled"] for i in keep]
    note = (f"{len(keep)} calls with no supervisor alert whose risk after the last utterance was at or above "
            f"{at_least:g} (CALLRADAR_FOLLOW_UP_RISK), highest first: candidates for a call-back")
    return Table("Calls to follow up: ended at risk, no alert", ["call_id", "queue", "agent_id", "risk_at_end",
                                                                 "highest_risk", "outcome"], rows, note)


# ---------------------------------------------------------------- the report


def _charts(tables: dict[str, Table], out: Path) -> dict[str, str]:
    """One PNG per chartable table that has rows; returns table name -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, str] = {}

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=100)
        plt.close(fig)
        files[name] = f"{name}.png"

    def hbar(name: str, labels: list, series: list[tuple[str, list, str]], xlabel: str, shares: bool = False,
             notes: list[str] | None = None) -> None:
        labels = [str(x) for x in labels][:MAX_CHART_ROWS][::-1]
        fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.32 * max(len(labels), 3)))
        y = np.arange(len(labels))
        height = 0.8 / len(series)
        for k, (what, values, colour) in enumerate(series):
            v = [np.nan if x is None else x for x in values][:MAX_CHART_ROWS][::-1]
            ax.barh(y + (k - (len(series) - 1) / 2) * height, v, height=height, color=colour, label=what)
        if notes:
            for yi, text in zip(y, notes[:MAX_CHART_ROWS][::-1]):
                ax.text(1.01 if shares else ax.get_xlim()[1], yi, f" {text}", va="center", fontsize=7,
                        transform=ax.get_yaxis_transform() if shares else ax.transData)
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel(xlabel)
        if shares:
            ax.set_xlim(0, 1)
        if len(series) > 1:
            ax.legend(fontsize=8, loc="best")
        ax.set_title(tables[name].title + (f" (top {MAX_CHART_ROWS})" if len(tables[name].rows) > MAX_CHART_ROWS else ""))
        ax.grid(axis="x", alpha=0.3)
        save(fig, name)

    day = tables["escalations_by_day"]
    if day.rows:
        fig, ax = plt.subplots(figsize=(9, 3.8))
        x = np.arange(len(day.rows))
        ax.bar(x - 0.2, day.column("escalated"), width=0.4, color="tab:red", label="escalated calls")
        ax.bar(x + 0.2, day.column("alerted_calls"), width=0.4, color="tab:orange", label="calls with a supervisor alert")
        step = max(1, len(x) // 12)
        ax.set_xticks(x[::step], [str(d)[5:] if d != UNKNOWN else d for d in day.column("day")][::step], fontsize=8)
        ax.set(ylabel="calls", title="Escalations per day (UTC)")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        save(fig, "escalations_by_day")
    for name in ("escalations_by_queue", "escalations_by_agent", "escalations_by_customer_tier"):
        t = tables[name]
        if t.rows:
            hbar(name, t.column(t.columns[0]), [("escalated", t.column("escalated"), "tab:red"),
                                                ("with a supervisor alert", t.column("alerted_calls"), "tab:orange")],
                 "calls")
    t = tables["escalations_by_trigger"]
    if t.rows:
        hbar("escalations_by_trigger", t.column("trigger"),
             [("supervisor alerts", t.column("supervisor_alerts"), "tab:orange"),
              ("escalated calls", t.column("escalated_calls"), "tab:red")], "count")
    t = tables["escalations_by_tier"]
    if t.rows:
        hbar("escalations_by_tier", [f"tier {x}" for x in t.column("tier")],
             [("cases", t.column("cases"), "tab:blue"), ("customer escalated", t.column("customer_escalated"), "tab:red"),
              ("false alarm", t.column("false_alarm"), "tab:grey")], "cases")
    t = tables["alert_precision_by_trigger"]
    if any(p is not None for p in t.column("precision")):
        hbar("alert_precision_by_trigger", t.column("trigger"), [("precision", t.column("precision"), "tab:green")],
             "precision (confirmed / (confirmed + false alarm))", shares=True,
             notes=[f"n={c + f}" for c, f in zip(t.column("confirmed"), t.column("false_alarm"))])
    hist = tables["lead_time_histogram"]
    if hist.rows:
        fig, ax = plt.subplots(figsize=(7.5, 3.8))
        lo, hi, n = (np.array(hist.column(c), dtype=float) for c in ("from_s", "to_s", "calls"))
        ax.bar(lo, n, width=hi - lo, align="edge", color=np.where(lo >= 0, "tab:green", "tab:red"), edgecolor="white")
        ax.axvline(0, color="black", lw=0.8)
        overall = tables["lead_time"].rows[0]
        ax.set(xlabel="lead time, s (escalation time - first supervisor alert; > 0 is early)", ylabel="escalated calls",
               title=f"Lead time (median {overall[4]} s, {overall[3]:.0%} warned before, n={overall[1]})")
        ax.grid(axis="y", alpha=0.3)
        save(fig, "lead_time")
    t = tables["response_adherence"]
    if t.rows:
        hbar("response_adherence", t.column("trigger"), [("adherence (met share)", t.column("adherence"), "tab:blue")],
             "met / (met + breached)", shares=True,
             notes=[f"{m} met, {b} breached" for m, b in zip(t.column("met"), t.column("breached"))])
    t = tables["prompt_helpfulness"]
    if t.rows:
        hbar("prompt_helpfulness", t.column("prompt_id"), [("helpful share", t.column("helpful_share"), "tab:purple")],
             "share of marks that said Helpful", shares=True, notes=[f"n={m}" for m in t.column("marks")])
    t = tables["calmed_after_prompt"]
    if t.rows and t.rows[0][1]:
        hbar("calmed_after_prompt", t.column("trigger"), [("calmed", t.column("calmed_share"), "tab:cyan")],
             "share of prompted calls that calmed down", shares=True,
             notes=[f"n={m}" for m in t.column("calls_with_prompt")])
    return files


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if not v.is_integer() else f"{v:g}"
    return str(v)


def _html(tables: dict[str, Table], charts: dict[str, str], command: str) -> str:
    parts = []
    for name, t in tables.items():
        rows = t.rows[:MAX_HTML_ROWS]
        more = (f"<p class=note>{len(rows)} of {len(t.rows)} rows; all in <a href='{name}.csv'>{name}.csv</a></p>"
                if len(t.rows) > len(rows) else "")
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r) + "</tr>" for r in rows)
        table = (f"<table><tr>{''.join(f'<th>{html.escape(c)}</th>' for c in t.columns)}</tr>{body}</table>"
                 if rows else "<p class=empty>nothing in this period</p>" if not t.note.startswith("no case") else "")
        img = f"<img src='{charts[name]}' alt='{html.escape(t.title)}'>" if name in charts else ""
        note = f"<p class=note>{html.escape(t.note)}</p>" if t.note else ""
        parts.append(f"<section id='{name}'><h2>{html.escape(t.title)}</h2>{note}{img}{table}{more}"
                     f"<p class=csv><a href='{name}.csv'>{name}.csv</a></p></section>")
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>callradar insights</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0; font-size: 0.85rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f3f3f3; }}
img {{ display: block; max-width: 100%; margin: 0.5rem 0; }}
.note {{ color: #555; font-size: 0.85rem; }}
section {{ margin-bottom: 2rem; }}
</style></head><body>
<h1>callradar insights</h1>
<p class=note>command: <code>{html.escape(command)}</code>; written {written}</p>
{''.join(parts)}
</body></html>
"""


def write_report(tables: dict[str, Table], out: Path, command: str = "") -> list[Path]:
    """index.html, one PNG per chart and one CSV per table into ``out``; returns the files written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, t in tables.items():
            path = out / f"{name}.csv"
            with open(path, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(t.columns)
                w.writerows([["" if v is None else v for v in r] for r in t.rows])
            written.append(path)
        charts = _charts(tables, out)
        written += [out / f for f in charts.values()]
        index = out / "index.html"
        index.write_text(_html(tables, charts, command), encoding="utf-8")
        written.append(index)
    except OSError as exc:
        raise UserError(f"{out}: cannot write the report there ({exc.strerror or exc})") from None
    return written
