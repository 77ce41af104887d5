"""``callradar score TRANSCRIPT.jsonl``: score historical transcripts offline, as live would.

Data scientists backtest a model on past calls with this. Each line of the input
is one utterance::

    {"call_id": "c1", "speaker": "customer", "start": 12.5, "end": 15.0, "text": "..."}

(extra fields are ignored). The output, JSONL on stdout, has one line per
utterance (``"type": "utterance_score"``: its sentiment, intent, keywords and the
call's risk so far, with the input's line number) and, after the input ends, one
line per call (``"type": "call_risk"``: final and peak risk, and the call time
the risk first reached the live alert threshold).

Scoring runs the live score stage's own code (ScoreProcessor: the same text
models, CallState features and risk model), so a backtest and live scoring
cannot drift apart. Lines are taken in file order, as the live stage takes
utterances in arrival order; a call's lines need not be next to each other.
The encoder runs on batches of ``--batch`` lines.

``--texts`` reads text that is not a call (posts, chat messages, survey answers: one per line,
plain or ``{"text": ..., "id": ...}``, or a .csv file with a ``text`` column and optionally ``id``)
and scores each text alone, as a customer's words in a call of its own: one
``"type": "text_score"`` line each, no call lines.

Bad lines (not UTF-8, not JSON, missing or wrong fields, NaN or infinite numbers,
nesting over 32 deep, lone UTF-16 surrogates in strings)
are reported on stderr with their line numbers and skipped; the rest is scored.
Exit status: 0 every line scored; 1 some lines refused (the rest scored);
2 the command could not run (no such file, models that do not load).
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from callradar.models.types import MODEL_KINDS, SPEAKERS

REQUIRED = ("call_id", "speaker", "start", "end", "text")
EXIT_REFUSED = 1


class BadLine(ValueError):
    """One input line that cannot be scored; the message says why."""


def _decoded(raw: bytes) -> str | None:
    """One input line as text, None when blank; BadLine when it is not UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})") from None
    text = text.lstrip("\ufeff")  # a byte-order mark some editors put first
    return text if text.strip() else None


def _json(text: str):
    from callradar.pipeline.records import MalformedMessage, load_json

    try:
        return load_json(text)  # the live decoders' strict parser: no NaN, overflow, deep nesting, lone surrogates
    except MalformedMessage as exc:
        raise BadLine(str(exc)) from None


def parse_line(raw: bytes) -> dict | None:
    """One input line -> an utterance dict, None for a blank line; BadLine says what is wrong."""
    text = _decoded(raw)
    return None if text is None else check_utterance(_json(text))


def parse_text_line(raw: bytes, line_no: int) -> dict | None:
    """``--texts``: one line -> a call of its own, one customer utterance; None for a blank line.

    A line starting with ``{`` is a JSON object with ``text`` (and optionally ``id``, echoed in the
    output); any other line is the text itself. Why a call of its own: posts, chat messages or survey
    answers are not turns of one conversation, so no text may colour the next one's risk.
    """
    text = _decoded(raw)
    if text is None:
        return None
    doc = {"text": text.strip()}
    if text.lstrip().startswith("{"):
        doc = _json(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
            raise BadLine('expected a JSON object with a "text" string (or a plain text line)')
        if "id" in doc and not isinstance(doc["id"], (str, int)):
            raise BadLine("id must be a string or a whole number")
    return text_utterance(doc["text"], line_no, doc.get("id"))


def text_utterance(text: str, line_no: int, text_id=None) -> dict:
    """A text that is not a call as a call of its own: one customer utterance."""
    words = len(text.split())
    utterance = {"call_id": f"line-{line_no}", "speaker": "customer", "start": 0.0,
                 "end": max(0.6, 0.4 * words), "text": text}  # timing is not read by the default features
    return utterance if text_id is None else {**utterance, "id": text_id}


def csv_texts(path: str) -> Iterator[tuple[int, dict | None]]:
    """``--texts`` on a .csv file: (line number, utterance) per row from its ``text`` column (``id`` too
    when there is one); None for an empty text. A file without a ``text`` column stops the command."""
    import csv

    from callradar.pipeline.errors import UserError

    try:
        content = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 (byte {exc.start}); save it as UTF-8 CSV") from None
    reader = csv.DictReader(io.StringIO(content, newline=""))
    if not reader.fieldnames or "text" not in reader.fieldnames:
        raise UserError(f"{path}: no \"text\" column (columns: {', '.join(reader.fieldnames or []) or 'none'}); "
                        "name the column that holds the texts \"text\" (and an identifier column \"id\")")
    for row in reader:
        text = (row.get("text") or "").strip()
        yield reader.line_num, (text_utterance(text, reader.line_num, row.get("id") or None) if text else None)


def check_utterance(doc) -> dict:
    if not isinstance(doc, dict):
        raise BadLine(f"expected a JSON object, got {type(doc).__name__}")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise BadLine(f"missing field(s) {', '.join(missing)}")
    if not isinstance(doc["call_id"], str) or not doc["call_id"] or len(doc["call_id"]) > 128:
        raise BadLine("call_id must be a string of 1 to 128 characters")
    if doc["speaker"] not in SPEAKERS:
        raise BadLine(f"speaker {doc['speaker']!r} is not agent or customer")
    from callradar.pipeline.records import is_finite_number

    for key in ("start", "end"):
        v = doc[key]
        if not is_finite_number(v):
            raise BadLine(f"{key} must be a finite number of seconds, not {v!r:.40}")
    if not 0 <= doc["start"] <= doc["end"]:
        raise BadLine(f"need 0 <= start <= end (start {doc['start']}, end {doc['end']})")
    if not isinstance(doc["text"], str):
        raise BadLine("text must be a string")
    return doc


@dataclass
class CallSummary:
    call_id: str
    utterances: int = 0
    risk: float = 0.0
    max_risk: float = 0.0
    max_risk_at: float = 0.0
    crossed_at: float | None = None  # call time the risk first reached the threshold
    reasons: list = field(default_factory=list)

    def to_dict(self, threshold: float, model_version: str) -> dict:
        return {
            "type": "call_risk",
            "call_id": self.call_id,
            "utterances": self.utterances,
            "risk": self.risk,
            "max_risk": self.max_risk,
            "max_risk_at": self.max_risk_at,
            "threshold": threshold,
            "risk_crossed_threshold_at": self.crossed_at,
            "reasons": self.reasons,
            "model_version": model_version,
        }


class OfflineScorer:
    """Feeds utterance dicts through a ScoreProcessor in batches; keeps per-call summaries."""

    def __init__(self, processor, threshold: float, batch_size: int = 256, texts: bool = False):
        self.processor = processor
        self.threshold = threshold
        self.batch_size = batch_size
        self.texts = texts  # every line a call of its own (parse_text_line): no call summaries, state dropped at once
        self.calls: dict[str, CallSummary] = {}
        self._index: dict[tuple[str, str], int] = {}

    def _utterance(self, doc: dict):
        from callradar.pipeline.records import Utterance

        key = (doc["call_id"], doc["speaker"])
        index = self._index.get(key, 0)
        self._index[key] = index + 1
        return Utterance(
            utterance_id=str(doc.get("utterance_id") or f"{doc['call_id']}/{doc['speaker']}/{index}"),
            call_id=doc["call_id"], speaker=doc["speaker"], index=index,
            start=float(doc["start"]), end=float(doc["end"]), text=doc["text"],
            confidence=1.0, audio_end_ts=0.0,
        )

    def score_batch(self, batch: list[tuple[int, dict]]) -> list[dict]:
        """(line number, utterance dict) pairs -> output records, in the same order."""
        if not batch:
            return []
        # now=0: offline there is no idle time, so no call is evicted mid-file.
        utterances = [self._utterance(doc) for _, doc in batch]
        scores = {s.utterance_id: s for s in self.processor.score(utterances, now=0.0)}
        out = []
        for (line_no, src), utt in zip(batch, utterances):
            s = scores.pop(utt.utterance_id, None)
            if s is None:  # the processor scores an utterance id once, as live
                print(f"line {line_no}: utterance_id {utt.utterance_id!r} repeats an earlier line; skipped",
                      file=sys.stderr)
                continue
            if self.texts:
                self.processor.forget(s.call_id)
                doc = s.to_dict()
                for k in ("v", "audio_end_ts", "scored_ts", "utterance_id", "call_id", "start", "end", "speaker"):
                    doc.pop(k, None)
                out.append({"line": line_no, **({"id": src["id"]} if "id" in src else {}), **doc,
                            "type": "text_score"})
                continue
            summary = self.calls.setdefault(s.call_id, CallSummary(s.call_id))
            summary.utterances += 1
            summary.risk, summary.reasons = s.risk, s.reasons
            if s.risk > summary.max_risk:
                summary.max_risk, summary.max_risk_at = s.risk, s.end
            if summary.crossed_at is None and s.risk >= self.threshold:
                summary.crossed_at = s.end
            doc = s.to_dict()
            for k in ("v", "audio_end_ts", "scored_ts"):
                doc.pop(k, None)
            doc["type"] = "utterance_score"
            out.append({"line": line_no, **doc})
        return out

    def score_all(self, docs: Iterable[tuple[int, dict]]) -> Iterator[dict]:
        """Every utterance's record, then one call_risk record per call (in order of first appearance)."""
        batch = []
        for item in docs:
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield from self.score_batch(batch)
                batch = []
        yield from self.score_batch(batch)
        for summary in self.calls.values():
            yield summary.to_dict(self.threshold, self.processor.model_version)


def score_utterances(utterances: list[dict], settings=None, pins: dict[str, str] | None = None) -> list[dict]:
    """Python entry point (notebooks): utterance dicts in, the same records ``callradar score`` prints out."""
    from callradar.pipeline.settings import load_settings
    from callradar.pipeline.stages.score import ScoreProcessor

    settings = settings or load_settings()
    processor = ScoreProcessor.from_settings(settings, pins=pins, watch=False)
    scorer = OfflineScorer(processor, settings.risk_alert_threshold)
    return list(scorer.score_all((i, check_utterance(u)) for i, u in enumerate(utterances, 1)))


# ------------------------------------------------------------------ CLI


def register(sub) -> None:
    p = sub.add_parser(
        "score",
        help="score a transcript file offline (JSONL in, JSONL out), as the live score stage would",
        description="Score utterances (one JSON object per line: call_id, speaker agent|customer, start, "
        "end, text) with the live score stage's models and code. JSONL on stdout: one line per "
        "utterance (sentiment, intent, keywords, the call's risk so far), then one per call (final risk).",
        epilog="Exit status: 0 every line scored; 1 some lines refused (reported on stderr with "
        "their line numbers; the rest scored); 2 the command could not run.",
    )
    p.add_argument("transcript", help="JSONL file, one utterance per line ('-' reads stdin)")
    p.add_argument("--models", metavar="DIR", type=Path,
                   help="model registry root whose current versions to use (default CALLRADAR_MODELS_DIR)")
    p.add_argument("--version", metavar="KIND=VERSION", action="append", default=[],
                   help="pin a kind to a registry version or a model folder, e.g. risk=v3 or "
                   "risk=runs/risk-candidate (repeatable)")
    p.add_argument("--texts", action="store_true",
                   help="the input is one text per line (plain text, or JSON objects with \"text\" and optionally "
                   "\"id\"), or a .csv file with a \"text\" column: posts, chat messages, survey answers; each "
                   "is scored on its own as a customer's words (one \"text_score\" line each: sentiment, intent, "
                   "keywords, risk), no call lines")
    p.add_argument("--batch", type=int, default=256, help="utterances per encoder batch (default 256)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_run)


def _pins(items: list[str]) -> dict[str, str]:
    from callradar.pipeline.errors import UserError

    pins = {}
    for item in items:
        kind, sep, version = item.partition("=")
        if not sep or kind not in MODEL_KINDS or not version:
            raise UserError(f"--version {item!r}: expected KIND=VERSION with KIND one of {', '.join(MODEL_KINDS)}")
        pins[kind] = version
    return pins


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    from callradar.pipeline.errors import UserError

    if path == "-":
        yield from enumerate(sys.stdin.buffer, 1)
        return
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
        yield from enumerate(f, 1)


def _run(args) -> int:
    from callradar.models.registry import RegistryError
    from callradar.models.risk import RiskModelError
    from callradar.models.sentiment import ArtifactError
    from callradar.pipeline.errors import UserError
    from callradar.pipeline.settings import load_settings
    from callradar.pipeline.stages.score import ScoreProcessor

    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    pins = _pins(args.version)
    settings = load_settings(**({"models_dir": args.models} if args.models else {}))
    if args.transcript != "-" and not Path(args.transcript).is_file():
        raise UserError(f"{args.transcript}: no such file")
    # read whole before the models load (seconds): a file without a text column stops at once
    csv_rows = list(csv_texts(args.transcript)) if args.texts and args.transcript.lower().endswith(".csv") else None
    t0 = time.monotonic()
    try:
        processor = ScoreProcessor.from_settings(settings, pins=pins, watch=False)
    except (RegistryError, RiskModelError, ArtifactError) as exc:
        raise UserError(str(exc)) from None
    if not args.quiet:
        print(f"models: {processor.model_version} (loaded in {time.monotonic() - t0:.1f} s)", file=sys.stderr)
    scorer = OfflineScorer(processor, settings.risk_alert_threshold, args.batch, texts=args.texts)
    refused = 0
    name = "<stdin>" if args.transcript == "-" else args.transcript

    def accepted() -> Iterator[tuple[int, dict]]:
        nonlocal refused
        if csv_rows is not None:
            yield from ((n, doc) for n, doc in csv_rows if doc is not None)
            return
        for line_no, raw in _lines(args.transcript):
            try:
                line = raw.rstrip(b"\r\n")
                doc = parse_text_line(line, line_no) if args.texts else parse_line(line)
            except BadLine as exc:
                refused += 1
                print(f"{name}:{line_no}: refused: {exc}", file=sys.stderr)
                continue
            if doc is not None:
                yield line_no, doc

    t1, last_report, scored = time.monotonic(), time.monotonic(), 0
    out = sys.stdout
    for record in scorer.score_all(accepted()):
        out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        if record["type"] != "call_risk":
            scored += 1
            if not args.quiet and time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                rate = scored / max(last_report - t1, 1e-9)
                print(f"scored {scored} utterances ({rate:.0f}/s)", file=sys.stderr)
    out.flush()
    elapsed = time.monotonic() - t1
    if not args.quiet or refused:
        what = f"{scored} texts" if args.texts else f"{scored} utterances of {len(scorer.calls)} calls"
        print(f"scored {what} in {elapsed:.1f} s ({scored / max(elapsed, 1e-9):.0f}/s); refused {refused} line(s)",
              file=sys.stderr)
    return EXIT_REFUSED if refused else 0
