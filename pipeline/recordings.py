"""Recorded calls on disk: finding them, pairing agent and customer files, naming calls, metadata.

``callradar replay`` and ``callradar analyze`` both start here, so a call gets
the same id and metadata whichever way it goes through the pipeline.

* A call is one stereo file (``agent_channel`` says which side is the agent) or
  two mono files, one per side.
* Folders and globs are searched for audio files; files whose name ends in
  ``_agent`` and ``_caller`` / ``_customer`` (or ``_left`` / ``_right``, or ``-``
  / ``.`` / space before the word) pair up automatically, or by a
  ``{call}`` pattern the user gives.
* A call is named after the call, never after one of its files:
  ``auto_repairs_40_agent.wav`` + ``auto_repairs_40_caller.wav`` is
  ``auto_repairs_40``. A label file ``<call>.json`` beside the audio (what
  ``callradar simulate`` writes) may give the id and metadata.
* A metadata file (CSV with a ``call_id`` column, or JSON keyed by call id)
  gives each call's ``agent_id``, ``queue`` and ``customer_tier``; it wins over
  a label file.
"""

from __future__ import annotations

import csv
import glob
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from callradar.pipeline.audio.pcm import AudioFileError

AGENT_CHANNELS = ("left", "right")
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64", ".rf64"}
# The word after the call's name that says whose side a mono file is; left/right follow --agent-channel.
SIDE_WORDS = {"agent": "agent", "caller": "customer", "customer": "customer", "left": "left", "right": "right"}
_SIDE_RE = re.compile(r"^(?P<call>.+?)[_\-. ](?P<side>" + "|".join(SIDE_WORDS) + r")$", re.IGNORECASE)
METADATA_FIELDS = ("agent_id", "queue", "customer_tier")
MAX_PAIR_LENGTH_GAP_S = 1.0  # the two sides of one call are recorded together; more apart than this is a mix-up
MAX_CALL_ID = 128


@dataclass
class CallAudio:
    """One call ready to stream: both channels at a wire rate (8 or 16 kHz)."""

    call_id: str
    sample_rate: int
    agent: np.ndarray  # int16
    customer: np.ndarray  # int16
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max(len(self.agent), len(self.customer)) / self.sample_rate


@dataclass(frozen=True)
class Recording:
    """One call on disk, before its audio is read."""

    call_id: str
    paths: tuple[Path, ...]  # (stereo,) or (agent, customer)
    agent_channel: str = "left"  # stereo files only

    @property
    def layout(self) -> str:
        return f"stereo-agent-{self.agent_channel}"

    @property
    def is_pair(self) -> bool:
        return len(self.paths) == 2


@dataclass(frozen=True)
class Problem:
    """An input that cannot be analysed, and what to do about it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# ---------------------------------------------------------------- naming


def side_of(path: Path) -> tuple[str, str] | None:
    """(call name, side word) when the file name ends in a side word (``x_agent.wav``), else None."""
    m = _SIDE_RE.match(Path(path).stem)
    return (m.group("call"), SIDE_WORDS[m.group("side").lower()]) if m else None


def call_name(paths) -> str:
    """The call's name from its files: a stereo file's stem; for a pair, the part both names share.

    ``x_agent.wav`` + ``x_caller.wav`` -> ``x``; ``call7-a.wav`` + ``call7-b.wav`` -> ``call7``
    (the common beginning, cut back to a separator); names with nothing in common -> ``a+b``.
    """
    paths = [Path(p) for p in paths]
    if len(paths) == 1:
        return paths[0].stem
    stems = [p.stem for p in paths]
    sides = [side_of(p) for p in paths]
    if all(sides) and sides[0][0] == sides[1][0]:
        return sides[0][0]
    common = _common_prefix(stems)
    cut = max(common.rfind(c) for c in "_-. ")
    name = common[:cut] if cut > 0 and common != stems[0] and common != stems[1] else ""
    return name or "+".join(stems)


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _label_file(rec_paths: tuple[Path, ...], name: str) -> Path | None:
    """``<stem>.json`` beside a stereo file, ``<call>.json`` beside a pair (what ``callradar simulate`` writes)."""
    candidates = [rec_paths[0].with_suffix(".json")] if len(rec_paths) == 1 else [rec_paths[0].parent / f"{name}.json"]
    return next((c for c in candidates if c.is_file()), None)


def read_label(rec_paths: tuple[Path, ...], name: str) -> dict:
    """A call label beside the audio, or {}; a stray .json that is not a label is ignored."""
    path = _label_file(rec_paths, name)
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def label_metadata(label: dict) -> dict:
    return {k: label[k] for k in (*METADATA_FIELDS, "script") if k in label}


# ---------------------------------------------------------------- finding


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[Problem]]:
    """Files, folders (searched recursively for audio files) and globs, in a stable order, each once."""
    found: list[Path] = []
    problems: list[Problem] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                problems.append(Problem(item, "a folder with no audio files in it (looked for "
                                              f"{', '.join(sorted(AUDIO_SUFFIXES))}); check the path"))
            found += files
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(item):
            files = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not files:
                problems.append(Problem(item, "no file matches this pattern; check it (quote it so the shell "
                                              "does not expand it first)"))
            found += files
        else:
            problems.append(Problem(item, "no such file or folder; check the path"))
    unique, seen = [], set()
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, problems


def compile_pair_pattern(agent: str, customer: str) -> tuple[re.Pattern, re.Pattern]:
    """``--pair-pattern '{call}-in.wav' '{call}-out.wav'``: file-name patterns with ``{call}`` (and ``*``)."""
    def one(pattern: str) -> re.Pattern:
        if pattern.count("{call}") != 1:
            raise ValueError(f"pair pattern {pattern!r} must contain {{call}} exactly once, e.g. '{{call}}-in.wav'")
        before, after = pattern.split("{call}")
        glob_part = lambda s: re.escape(s).replace(r"\*", ".*").replace(r"\?", ".")  # noqa: E731
        return re.compile(f"^{glob_part(before)}(?P<call>.+?){glob_part(after)}$", re.IGNORECASE)

    return one(agent), one(customer)


def find_recordings(inputs: list[str], pairs: list[list[str]] | None = None, agent_channel: str = "left",
                    pair_pattern: tuple[str, str] | None = None) -> tuple[list[Recording], list[Problem]]:
    """The calls among ``inputs`` (files, folders, globs) and explicit ``pairs`` (AGENT, CUSTOMER).

    A mono file whose name ends in a side word is paired with its other side: among the
    inputs, or else beside it on disk. Everything else is taken for a stereo file; whether
    it is one is checked when it is read. Returns the calls (unique ids) and the inputs
    that cannot be used.
    """
    if agent_channel not in AGENT_CHANNELS:
        raise ValueError(f"agent channel {agent_channel!r}: use left or right")
    files, problems = expand_inputs(inputs)
    patterns = compile_pair_pattern(*pair_pattern) if pair_pattern else None
    groups: list[tuple[Path, ...]] = []
    halves: dict[tuple[Path, str], dict[str, Path]] = {}  # (folder, call name) -> {agent|customer: path}
    for path in files:
        found = _side(path, agent_channel, patterns)
        if found is None:
            groups.append((path,))
        else:
            name, side = found
            halves.setdefault((path.parent, name), {})[side] = path
    for (folder, name), sides in halves.items():
        if len(sides) == 1:
            (side, path), = sides.items()
            other = _partner_on_disk(folder, name, "customer" if side == "agent" else "agent", agent_channel, patterns)
            if other is None:
                wanted = "customer (caller)" if side == "agent" else "agent"
                problems.append(Problem(str(path), f"the {side} side of call {name!r}, but no {wanted} file was "
                                                   "found beside it; give both files, or the pair with --pair AGENT "
                                                   "CUSTOMER"))
                continue
            sides = {side: path, ("customer" if side == "agent" else "agent"): other}
        groups.append((sides["agent"], sides["customer"]))
    groups += [(Path(a), Path(c)) for a, c in (pairs or [])]
    for group in groups[len(groups) - len(pairs or []):]:
        problems += [Problem(str(p), "no such file; check the path") for p in group if not p.is_file()]
    groups = [g for g in groups if all(p.is_file() for p in g)]
    return _named(groups, agent_channel, problems)


def _side(path: Path, agent_channel: str, patterns) -> tuple[str, str] | None:
    """(call name, agent|customer) of a mono file of a pair, by the user's pattern or the side words."""
    if patterns is not None:
        for side, pattern in zip(("agent", "customer"), patterns):
            m = pattern.match(path.name)
            if m:
                return m.group("call"), side
        return None
    found = side_of(path)
    if found is None:
        return None
    name, side = found
    if side in AGENT_CHANNELS:
        side = "agent" if side == agent_channel else "customer"
    return name, side


def _partner_on_disk(folder: Path, name: str, side: str, agent_channel: str, patterns) -> Path | None:
    for candidate in sorted(folder.iterdir()):
        if candidate.is_file() and _side(candidate, agent_channel, patterns) == (name, side):
            return candidate
    return None


def _named(groups: list[tuple[Path, ...]], agent_channel: str,
           problems: list[Problem]) -> tuple[list[Recording], list[Problem]]:
    """Give each call its id (label file, else its files' name); two calls never share one."""
    named = []
    for group in groups:
        name = call_name(group)
        label_id = read_label(group, name).get("call_id")
        named.append((label_id if isinstance(label_id, str) and label_id else name, group))
    counts: dict[str, int] = {}
    for call_id, _ in named:
        counts[call_id] = counts.get(call_id, 0) + 1
    out, taken = [], {}
    for call_id, group in named:
        if counts[call_id] > 1:  # the same name in two folders: say which folder
            call_id = f"{group[0].parent.name}-{call_id}" if group[0].parent.name else call_id
        if len(call_id) > MAX_CALL_ID:
            problems.append(Problem(str(group[0]), f"call id {call_id[:40]!r}... is over {MAX_CALL_ID} characters; "
                                                   "rename the file"))
        elif call_id in taken:
            problems.append(Problem(str(group[0]), f"call id {call_id!r} is already taken by {taken[call_id]}; "
                                                   "rename one of them"))
        else:
            taken[call_id] = group[0]
            out.append(Recording(call_id, group, agent_channel))
    return out, problems


# ---------------------------------------------------------------- metadata


def read_metadata(path: str | Path) -> dict[str, dict[str, str]]:
    """Call id -> {agent_id, queue, customer_tier, ...} from a CSV (header with call_id) or JSON.

    JSON: ``{"<call_id>": {"agent_id": ..., ...}, ...}`` or a list of objects with ``call_id``.
    Other columns or keys are kept as metadata too. A file that cannot be used raises
    ValueError naming the file and what is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such metadata file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read as UTF-8 text ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if isinstance(doc, list):
            rows = doc
        elif isinstance(doc, dict):
            rows = [{"call_id": k, **v} if isinstance(v, dict) else {"call_id": k, "_bad": v} for k, v in doc.items()]
        else:
            rows = None
        if rows is None or not all(isinstance(r, dict) and "_bad" not in r for r in rows):
            raise ValueError(f"{path}: expected an object keyed by call id ({{\"c-1\": {{\"agent_id\": \"a7\", "
                             "\"queue\": \"billing\", \"customer_tier\": \"gold\"}}}}) or a list of objects with call_id")
        where = "entry"
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if "call_id" not in [h.strip() for h in reader.fieldnames or []]:
            raise ValueError(f"{path}: the first line must be a header with call_id (and agent_id, queue, "
                             f"customer_tier); got {','.join(reader.fieldnames or [])!r}")
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
        where = "row"
    else:
        raise ValueError(f"{path}: unknown metadata file type {path.suffix!r}; use .csv or .json")
    out: dict[str, dict[str, str]] = {}
    for n, row in enumerate(rows, 1):
        call_id = row.get("call_id")
        if not isinstance(call_id, str) or not call_id.strip():
            raise ValueError(f"{path}: {where} {n} has no call_id")
        values = {str(k): "" if v is None else str(v) for k, v in row.items() if k != "call_id"}
        nested = [k for k, v in row.items() if isinstance(v, (dict, list))]
        if nested:
            raise ValueError(f"{path}: {where} {n} ({call_id}): {', '.join(nested)} must be a string or number")
        out[call_id.strip()] = values
    return out


# ---------------------------------------------------------------- reading


def check_recording(rec: Recording) -> float:
    """Read the files' headers only: the call's duration in seconds, or AudioFileError naming the problem.

    Cheap enough to run over every file before any work starts (progress and ETA need the total).
    """
    import soundfile as sf

    infos = []
    for path in rec.paths:
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise AudioFileError(f"{path}: cannot be read as audio ({exc}); it may be corrupt or truncated, or "
                                 "in a format soundfile does not read. Convert it to WAV or FLAC.") from None
        if info.frames == 0:
            raise AudioFileError(f"{path}: contains no audio samples; leave it out or re-export the recording")
        infos.append(info)
    if not rec.is_pair:
        if infos[0].channels != 2:
            raise AudioFileError(
                f"{rec.paths[0]}: has {infos[0].channels} channel(s); a call file needs exactly 2 (agent and "
                "customer). Pass a stereo file, or the two mono files of a call as --pair AGENT CUSTOMER, or name "
                "them <call>_agent.wav and <call>_caller.wav so they pair up.")
        return infos[0].frames / infos[0].samplerate
    for path, info in zip(rec.paths, infos):
        if info.channels != 1:
            raise AudioFileError(f"{path}: has {info.channels} channels; each file of an agent/customer pair must "
                                 "be mono. Pass a stereo call file on its own instead.")
    (a, c), (pa, pc) = infos, rec.paths
    if a.samplerate != c.samplerate:
        raise AudioFileError(f"sample rates differ: {pa} is {a.samplerate} Hz, {pc} is {c.samplerate} Hz; "
                             "convert both to one rate (e.g. sox IN -r 16000 OUT).")
    la, lc = a.frames / a.samplerate, c.frames / c.samplerate
    if abs(la - lc) > MAX_PAIR_LENGTH_GAP_S:
        raise AudioFileError(
            f"lengths differ: {pa} is {la:.1f} s, {pc} is {lc:.1f} s; the two sides of a call are recorded "
            "together, so these may not be one call. Check the pairing, or pad the shorter with silence "
            f"(sox IN OUT pad 0 {abs(la - lc):.1f}) if they do start together.")
    return max(la, lc)


def load_call(paths, layout: str = "stereo-agent-left", call_id: str | None = None,
              metadata: dict | None = None) -> CallAudio:
    """Read a stereo file or an agent/customer pair, at a rate the stages accept.

    ``call_id`` defaults to the label file's, else the files' call name; ``metadata``
    (agent_id, queue, customer_tier) goes over what a label file beside the audio says.
    """
    from callradar.pipeline.audio.pcm import read_call_audio, resample, to_wire_rate

    paths = tuple(Path(p) for p in paths)
    rate, agent, customer = read_call_audio(list(paths), layout=layout)
    wire = to_wire_rate(rate)
    if wire != rate:
        agent, customer = resample(agent, rate, wire), resample(customer, rate, wire)
    name = call_name(paths)
    label = read_label(paths, name)
    label_id = label.get("call_id") if isinstance(label.get("call_id"), str) else None
    return CallAudio(call_id or label_id or name, wire, agent, customer, {**label_metadata(label), **(metadata or {})})


def load_recording(rec: Recording, metadata: dict | None = None) -> CallAudio:
    """The call's audio after :func:`check_recording`'s checks (length, rate, channels)."""
    check_recording(rec)
    return load_call(rec.paths, layout=rec.layout, call_id=rec.call_id, metadata=metadata)
