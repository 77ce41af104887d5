"""``callradar analyze``: recorded calls to labelled calls, through the live stages, without Kafka.

One implementation: each call is cut into the chunks the replayer sends
(:func:`callradar.pipeline.replay.messages_at`) and fed, on call time, to the
objects the live worker runs: the transcribe stage's ``TranscribeProcessor``
(segmenter), ``SpeechToText.transcribe_batch``, the transcript redactor and
record builder (``transcript_records``), ``ScoreProcessor.score`` and
``TriggerProcessor.on_event`` / ``on_score``. Utterances are scored in the order
the segmenter finishes them, which is the order a live worker that keeps up
sends them; so transcripts, scores and alerts are what the live pipeline gives
(tests/integration/test_analyze_vs_live.py compares the two on the real broker).

Throughput: worker processes (one per core by default), each loading the
models once and transcribing the utterances of several calls in one
``transcribe_batch`` (utterances of one encoder size share a model call;
on a GPU, float16 and batches of ``GPU_WHISPER_BATCH``).

Resumable: each finished call is written at once, atomically, to
``<out>.parts/<call>.json`` with what it was made from (the files' size and
mtime, the agent channel, the metadata, the models and settings); a second run
skips the calls whose part still matches, and the output file is put together
from the parts at the end. A crash loses at most the calls a worker was
holding. Outcomes (``--labels``) are joined when the output is written, so new
labels need no re-analysis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from callradar.pipeline.errors import UserError
from callradar.pipeline.processes import limit_math_threads
from callradar.pipeline.recordings import CallAudio, Problem, Recording, check_recording, load_recording
from callradar.pipeline.records import CallEvent, ChannelEnd, Utterance

log = logging.getLogger(__name__)

SOURCE = "analyze"  # the labelled calls' source field
CHUNK_MS = 40  # the replayer's default chunk: the segmenter sees the same cuts as in a live replay
TASK_AUDIO_S = 600.0  # a worker takes calls until it holds this much audio (CPU); a crash loses at most those
GPU_TASK_AUDIO_S = 3600.0
GPU_WHISPER_BATCH = 32  # utterances per Whisper call on a GPU (8 on CPU: models/whisper_decode.py)
PART_VERSION = 1
# Settings that change what a call's analysis gives: a part made with other values is done again.
RESULT_SETTINGS = ("whisper_model", "whisper_device", "whisper_compute_type", "whisper_beam_size", "whisper_context",
                   "redact_pii", "redact_types", "segmenter", "vad_frame_ms", "vad_end_silence_ms",
                   "vad_min_speech_ms", "vad_max_utterance_s", "encoder_model", "sentiment_model",
                   "sentiment_model_labels", "intent_model", "intent_model_labels", "risk_alert_threshold",
                   "risk_rearm_threshold", "alert_cooldown_s", "escalation_matrix", "playbook", "knowledge_dir",
                   "assist_semantic")


# ---------------------------------------------------------------- one worker: the live stages on call time


@dataclass
class AnalysedCall:
    """One call through the stages: its transcripts, scores and alerts in the order they were made."""

    call: CallAudio
    utterances: list[Utterance]
    scores: list  # Score records, in scoring order
    alerts: list  # Alert records
    speech_model: str = ""


class CallAnalyzer:
    """The live worker's stage objects in one process, models loaded once."""

    def __init__(self, settings):
        from callradar.agents.triggers import load_triggers
        from callradar.models.speech import SpeechToText
        from callradar.pipeline.audio.redact import transcript_redactor
        from callradar.pipeline.stages.score import ScoreProcessor
        from callradar.pipeline.stages.trigger import TriggerProcessor

        self.settings = settings
        self.stt = SpeechToText(settings)  # CALLRADAR_WHISPER_DEVICE: CUDA float16 where there is a GPU
        if self.stt.device == "cuda":
            self.stt.decoder.max_batch = GPU_WHISPER_BATCH
        self.redact = transcript_redactor(settings)
        self.scorer = ScoreProcessor.from_settings(settings, watch=False)  # one model set for the whole run
        # Assist retrieval is never shed: a live worker sheds it only when it falls behind.
        self.trigger = TriggerProcessor(load_triggers(settings))

    def analyze(self, calls: list[CallAudio]) -> list[AnalysedCall]:
        """Segment every call, transcribe all their utterances together, then score and trigger call by call."""
        from callradar.pipeline.stages.transcribe import transcript_records

        finished = [segment_call(call, self.settings) for call in calls]
        everything = [u for utterances in finished for u in utterances]
        results = self.stt.transcribe_batch([u.audio for u in everything]) if everything else []
        records = iter(transcript_records(everything, results, self.redact, self.stt.model_id, time.time()))
        out = []
        for call, utterances in zip(calls, finished):
            transcripts = [next(records) for _ in utterances]
            scores, alerts = self.score_and_trigger(call, transcripts)
            out.append(AnalysedCall(call, transcripts, scores, alerts, self.stt.model_id))
        return out

    def score_and_trigger(self, call: CallAudio, transcripts: list[Utterance]) -> tuple[list, list]:
        """The score and trigger stages over one call's transcripts, in the order they were finished."""
        meta = call.metadata
        started = CallEvent(call.call_id, "started", 0.0, agent_id=str(meta.get("agent_id", "")),
                            queue=str(meta.get("queue", "")), customer_tier=str(meta.get("customer_tier", "")))
        self.trigger.on_event(started)
        scores, alerts = [], []
        for utt in transcripts:  # one at a time, as a live worker that keeps up scores them
            for score in self.scorer.score([utt], now=utt.end):
                scores.append(score)
                alerts += self.trigger.on_score(score)
        self.trigger.on_event(CallEvent(call.call_id, "ended", call.duration_s))
        self.trigger.forget(call.call_id)
        self.scorer.forget(call.call_id)
        return scores, alerts


def segment_call(call: CallAudio, settings) -> list:
    """The call's finished utterances, in the order the transcribe stage finishes them live.

    Fed the replayer's messages, the clock being call time (seconds from the call's start).
    """
    from callradar.pipeline.replay import messages_at, tick_count
    from callradar.pipeline.stages.transcribe import TranscribeProcessor

    processor = TranscribeProcessor(settings)
    finished = []
    for tick in range(tick_count(call, CHUNK_MS) + 1):
        now = tick * CHUNK_MS / 1000
        for message in messages_at(call, tick, CHUNK_MS, now):
            if isinstance(message, ChannelEnd):
                finished += processor.end_channel(message.call_id, message.channel)
            else:
                finished += processor.on_chunk(message, now)
    return finished


def to_labelled(analysed: AnalysedCall, recording: Recording):
    """A labelled call (source ``analyze``), outcome unset; None when nobody spoke."""
    from callradar.training.labelled_calls import CallAlert, CallUtterance, LabelledCall

    by_id = {u.utterance_id: u for u in analysed.utterances}
    utterances = [
        CallUtterance(speaker=s.speaker, start=s.start, end=s.end, text=s.text, utterance_id=s.utterance_id,
                      confidence=by_id[s.utterance_id].confidence, sentiment=s.sentiment, frustration=s.frustration,
                      intent=s.intent, risk=s.risk, model_version=s.model_version)
        for s in analysed.scores
    ]
    if not utterances:
        return None
    alerts = [CallAlert(a.alert_id, a.alert_type, a.trigger, a.risk, a.call_time, a.utterance_id)
              for a in analysed.alerts]
    call = analysed.call
    metadata = {k: str(v) for k, v in call.metadata.items()}
    metadata.update(recording_metadata(recording))
    metadata.update({"duration_s": f"{call.duration_s:.3f}", "speech_model": analysed.speech_model})
    return LabelledCall(call.call_id, None, utterances, alerts=alerts, metadata=metadata, source=SOURCE)


def recording_metadata(recording: Recording) -> dict[str, str]:
    if recording.is_pair:
        return {"recording_agent": str(recording.paths[0]), "recording_customer": str(recording.paths[1])}
    return {"recording": str(recording.paths[0]), "agent_channel": recording.agent_channel}


# ---------------------------------------------------------------- resume bookkeeping


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def part_path(parts: Path, call_id: str) -> Path:
    """A file name for any call id: readable, and unique by a hash of the id."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", call_id)[:80]
    return parts / f"{safe}-{hashlib.sha1(call_id.encode()).hexdigest()[:10]}.json"


def run_fingerprint(settings) -> dict:
    """What, besides the recording, decides a call's analysis: settings and the models in force."""
    from callradar.models.registry import CARD_FILE, KINDS, Registry, RegistryError

    registry = Registry(settings.models_root)
    values = {name: getattr(settings, name, None) for name in RESULT_SETTINGS}
    values = {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
    models = {}
    for kind in KINDS:  # the version in force, and its card's hash: a rebuilt built-in model keeps its name
        try:
            version, folder = registry.resolve(kind)
        except RegistryError as exc:
            raise UserError(str(exc)) from None
        card = folder / CARD_FILE
        models[kind] = [version, hashlib.sha1(card.read_bytes()).hexdigest()[:12] if card.is_file() else ""]
    return {"settings": values, "models": models, "part": PART_VERSION}


def recording_fingerprint(recording: Recording, metadata: dict, run: dict) -> dict:
    """The file's name, size and modification time, not its folder: a folder of recordings that was
    moved or mounted elsewhere (``mv`` keeps the times) resumes instead of starting again."""
    files = []
    for path in recording.paths:
        st = path.stat()
        files.append([path.name, st.st_size, st.st_mtime_ns])
    return {"files": files, "agent_channel": recording.agent_channel, "metadata": metadata, "run": run}


def part_matches(part: dict | None, job: "Job") -> bool:
    """Whether a part on disk is this job's finished work (parts written before 2026-12-04 hold whole paths)."""
    if part is None:
        return False
    stored = part["fingerprint"]
    files = stored.get("files") if isinstance(stored, dict) else None
    if isinstance(files, list):
        stored = {**stored, "files": [[Path(str(f[0])).name, *f[1:]] if isinstance(f, list) and f else f
                                      for f in files]}
    return stored == job.fingerprint


def write_part(path: Path, fingerprint: dict, call, audio_s: float) -> None:
    """Atomically: a reader (a later run) sees the whole part or none."""
    doc = {"fingerprint": fingerprint, "audio_s": audio_s, "call": None if call is None else call.to_dict()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)


def read_part(path: Path) -> dict | None:
    """A finished call's part, or None (absent, or damaged: then it is done again)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "fingerprint" in doc else None


# ---------------------------------------------------------------- the run


@dataclass
class Job:
    """One recording to analyse, with what its part will be checked against."""

    recording: Recording
    metadata: dict
    audio_s: float
    part: Path
    fingerprint: dict


@dataclass
class JobResult:
    """What became of one job: ``error`` set when the file was skipped."""

    call_id: str
    audio_s: float
    utterances: int = 0
    alerts: int = 0
    error: str | None = None


@dataclass
class RunSummary:
    calls: list  # LabelledCall, as written
    analysed: int = 0  # this run
    resumed: int = 0  # finished by an earlier run
    silent: list[str] = field(default_factory=list)  # analysed, nobody spoke: not in the output
    skipped: list[Problem] = field(default_factory=list)  # bad files
    unknown_labels: list[str] = field(default_factory=list)
    audio_s: float = 0.0  # analysed this run
    wall_s: float = 0.0
    out: Path | None = None

    @property
    def exit_status(self) -> int:
        """0 when every file was analysed, else the number skipped (at most 100)."""
        return min(len(self.skipped), 100)


def check_output(out: Path) -> Path:
    """Refuse an output path that cannot be written, before any work. Returns the parts folder."""
    if out.suffix not in (".parquet", ".jsonl"):
        raise UserError(f"--out {out}: unknown file type {out.suffix!r}; use .parquet or .jsonl")
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file name such as {out / 'calls.parquet'}")
    parts = parts_dir(out)
    try:
        parts.mkdir(parents=True, exist_ok=True)
        probe = parts / f".probe.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        if out.exists() and not os.access(out, os.W_OK):
            raise PermissionError(f"{out} is read-only")
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror or exc}); choose a folder you can "
                        "write to") from None
    return parts


def plan_jobs(recordings: list[Recording], metadata: dict[str, dict], parts: Path,
              run: dict) -> tuple[list[Job], list[Job], list[Problem]]:
    """(to do, already done, bad files): headers are read here, so bad files are named before any work."""
    from callradar.pipeline.audio.pcm import AudioFileError

    todo, done, bad = [], [], []
    for rec in recordings:
        try:
            audio_s = check_recording(rec)
        except AudioFileError as exc:
            bad.append(Problem(rec.call_id, str(exc)))
            continue
        meta = metadata.get(rec.call_id, {})
        job = Job(rec, meta, audio_s, part_path(parts, rec.call_id), recording_fingerprint(rec, meta, run))
        (done if part_matches(read_part(job.part), job) else todo).append(job)
    return todo, done, bad


def tasks_of(jobs: list[Job], task_audio_s: float) -> list[list[Job]]:
    """Consecutive jobs in groups of about ``task_audio_s`` of audio (at least one call each)."""
    tasks, current, held = [], [], 0.0
    for job in jobs:
        if current and held + job.audio_s > task_audio_s:
            tasks.append(current)
            current, held = [], 0.0
        current.append(job)
        held += job.audio_s
    return tasks + ([current] if current else [])


def analyse_task(analyzer, jobs: list[Job]) -> list[JobResult]:
    """Load, analyse and write the part of each call; a bad file is reported, the others go on."""
    from callradar.pipeline.audio.pcm import AudioFileError

    loaded, outcomes = [], []
    for job in jobs:
        try:
            loaded.append((job, load_recording(job.recording, job.metadata)))
        except AudioFileError as exc:
            outcomes.append(JobResult(job.recording.call_id, job.audio_s, error=str(exc)))
    try:
        analysed = list(zip(loaded, analyzer.analyze([call for _, call in loaded])))
    except Exception:  # noqa: BLE001 - find the call that fails: one at a time
        analysed = []
        for job, call in loaded:
            try:
                analysed.append(((job, call), analyzer.analyze([call])[0]))
            except Exception as exc:  # noqa: BLE001 - a file that breaks a stage is reported, not fatal
                log.exception("%s: analysis failed", job.recording.call_id)
                outcomes.append(JobResult(job.recording.call_id, job.audio_s,
                                        error=f"analysis failed ({type(exc).__name__}: {exc}); "
                                              "see the log above, and report it with the file if it is a bug"))
    for (job, _), result in analysed:
        labelled = to_labelled(result, job.recording)
        try:
            write_part(job.part, job.fingerprint, labelled, job.audio_s)
        except OSError as exc:  # a full disk stops the run: every later call would fail the same way
            raise UserError(f"cannot write {job.part} ({exc.strerror or exc}); free some space, or choose "
                            "another --out, and run again: finished calls are kept") from None
        outcomes.append(JobResult(job.recording.call_id, job.audio_s, len(result.scores), len(result.alerts)))
    return outcomes


class StartError(UserError):
    """The models would not load: no call can be analysed, so the run stops with this message."""


def start_analyzer(settings, analyzer_factory):
    try:
        return analyzer_factory(settings)
    except Exception as exc:  # noqa: BLE001 - model resolution, registry, config files: say which, stop
        raise StartError(f"the models could not be loaded ({type(exc).__name__}: {exc})") from exc


# Worker processes: the analyzer each one loads once (spawned processes share nothing). A failure
# to start is kept and raised with the first task, so the run stops with it instead of a broken pool.
_worker_analyzer = None
_worker_start_error: str | None = None


def _start_worker(settings, analyzer_factory) -> None:
    global _worker_analyzer, _worker_start_error
    limit_math_threads(settings.math_threads)
    try:
        _worker_analyzer = start_analyzer(settings, analyzer_factory)
    except StartError as exc:
        _worker_start_error = str(exc)


def _worker_task(jobs: list[Job]) -> list[JobResult]:
    if _worker_start_error is not None:
        raise StartError(_worker_start_error)
    return analyse_task(_worker_analyzer, jobs)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_analysis(settings, recordings: list[Recording], out: Path, *, metadata: dict[str, dict] | None = None,
                 outcomes: list | None = None, workers: int = 1, problems: list[Problem] | None = None,
                 analyzer_factory: Callable | None = None, progress: Progress | None = None) -> RunSummary:
    """Analyse the recordings not yet done, then write ``out`` from every finished call's part.

    ``outcomes``: Outcome records (``--labels``) joined by call id. ``workers`` 1 runs in this
    process; more start that many processes. ``analyzer_factory(settings)`` gives the object
    whose ``analyze(calls)`` does the work (default :class:`CallAnalyzer`; tests pass a stand-in).
    """
    from callradar.training.labelled_calls import write_calls

    started = time.monotonic()
    parts = check_output(out)
    run = run_fingerprint(settings)
    todo, done, bad = plan_jobs(recordings, metadata or {}, parts, run)
    summary = RunSummary([], resumed=len(done), skipped=list(problems or []) + bad, out=out)
    progress = progress or Progress(len(todo), sum(j.audio_s for j in todo))
    progress.begin(len(done))
    gpu = settings.whisper_device == "cuda" or (settings.whisper_device == "auto" and _cuda_available())
    # Several tasks per worker, so the workers finish together and progress moves in small steps.
    total = sum(job.audio_s for job in todo)
    tasks = tasks_of(todo, min(GPU_TASK_AUDIO_S if gpu else TASK_AUDIO_S, total / (4 * max(1, workers))))
    for outcome in _execute(tasks, settings, workers, analyzer_factory or CallAnalyzer):
        if outcome.error is not None:
            summary.skipped.append(Problem(outcome.call_id, outcome.error))
        else:
            summary.analysed += 1
            summary.audio_s += outcome.audio_s
        progress.update(outcome)
    progress.end()
    summary.calls, summary.silent = assemble([*done, *todo], outcomes or [], summary)
    write_calls(out, summary.calls)
    summary.wall_s = time.monotonic() - started
    return summary


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # noqa: BLE001 - no CTranslate2 CUDA: CPU
        return False


def _execute(tasks: list[list[Job]], settings, workers: int, analyzer_factory):
    """Each job's JobResult as its task finishes; in this process, or in ``workers`` processes."""
    if not tasks:
        return
    if workers <= 1:
        analyzer = start_analyzer(settings, analyzer_factory)
        for task in tasks:
            yield from analyse_task(analyzer, task)
        return
    pending, attempt = list(tasks), 0
    while pending:
        attempt += 1
        # A worker that dies (out of memory, a crash in native code) breaks its whole pool: the
        # unfinished calls go again one per task, and on a third try each alone in its own
        # pool, so that only the call that kills a worker is reported.
        pools = [pending] if attempt < 3 else [[task] for task in pending]
        broken: list[list[Job]] = []
        for group in pools:
            broken += yield from _run_pool(group, settings, workers, analyzer_factory)
        pending = []
        for job in (job for task in broken for job in task):
            finished = read_part(job.part)
            if part_matches(finished, job):  # written before the crash
                yield _result_of(job, finished)
            elif attempt >= 3:
                yield JobResult(job.recording.call_id, job.audio_s,
                                error="a worker process died while analysing it (out of memory, or a crash in a "
                                      "native library); check the file, or run it alone with --workers 1")
            else:
                pending.append([job])


def _run_pool(tasks: list[list[Job]], settings, workers: int, analyzer_factory):
    """Run ``tasks`` on a pool of worker processes, yielding results; returns the tasks a dead worker broke."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork after threads and model libraries
    pool = ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context,
                               initializer=_start_worker, initargs=(settings, analyzer_factory))
    futures = {pool.submit(_worker_task, task): task for task in tasks}
    broken = []
    try:
        while futures:
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished:
                task = futures.pop(future)
                try:
                    yield from future.result()
                except BrokenProcessPool:
                    broken.append(task)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return broken


def _result_of(job: Job, part: dict) -> JobResult:
    call = part.get("call") or {}
    return JobResult(job.recording.call_id, job.audio_s, len(call.get("utterances") or []),
                     len(call.get("alerts") or []))


def assemble(jobs: list[Job], outcomes: list, summary: RunSummary) -> tuple[list, list[str]]:
    """Every finished call of this run from its part, with its outcome joined; and the silent calls."""
    from callradar.training.labelled_calls import call_from_dict

    by_id = {o.call_id: o for o in outcomes}
    calls, silent = [], []
    for job in jobs:
        doc = read_part(job.part)
        if not part_matches(doc, job):
            continue  # skipped this run
        if doc["call"] is None:
            silent.append(job.recording.call_id)
            continue
        call = call_from_dict(doc["call"])
        call.metadata.update(recording_metadata(job.recording))  # where the file is now, if it moved
        label = by_id.get(call.call_id)
        if label is not None:
            call.outcome, call.escalation_time = label.outcome, label.escalation_time
        calls.append(call)
    known = {job.recording.call_id for job in jobs} | {p.path for p in summary.skipped}
    summary.unknown_labels = [o.call_id for o in outcomes if o.call_id not in known]
    return calls, silent


# ---------------------------------------------------------------- progress


class Progress:
    """Calls done / total, audio hours, ETA on stderr: one rewritten line on a terminal, a line every
    ``every_s`` seconds otherwise (CI logs)."""

    def __init__(self, calls: int, audio_s: float, stream=None, every_s: float = 10.0):
        self.calls, self.audio_s = calls, audio_s
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s
        self.done = self.failed = 0
        self.done_audio_s = 0.0
        self.t0 = self.last = time.monotonic()

    def begin(self, resumed: int) -> None:
        if resumed:
            print(f"analyze: {resumed} call(s) already done by an earlier run (kept)", file=self.stream, flush=True)
        if self.calls:
            print(f"analyze: {self.calls} call(s), {self.audio_s / 3600:.2f} h of audio to do", file=self.stream,
                  flush=True)

    def update(self, outcome: JobResult) -> None:
        self.done += 1
        self.failed += outcome.error is not None
        self.done_audio_s += outcome.audio_s
        now = time.monotonic()
        if self.tty:
            print(f"\r{self.line(now)}", end="", file=self.stream, flush=True)
        elif now - self.last >= self.every_s or self.done == self.calls:
            self.last = now
            print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float) -> str:
        elapsed = now - self.t0
        left = max(0.0, self.audio_s - self.done_audio_s)
        eta = left * elapsed / self.done_audio_s if self.done_audio_s else math.inf
        failed = f", {self.failed} skipped" if self.failed else ""
        return (f"analyze: {self.done}/{self.calls} calls{failed}, {self.done_audio_s / 3600:.2f}/"
                f"{self.audio_s / 3600:.2f} h audio, {_clock(elapsed)} elapsed, ETA {_clock(eta)}")

    def end(self) -> None:
        if self.tty and self.done:
            print(file=self.stream)


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def backtest(calls: list) -> dict:
    """What the alerts would have said on these calls: per outcome, calls alerted; lead times."""
    risk_alerts = {c.call_id: [a for a in c.alerts if a.alert_type == "escalation_risk"] for c in calls}
    escalated = [c for c in calls if c.outcome == "escalated"]
    calm = [c for c in calls if c.outcome == "calm"]
    leads = []
    for c in escalated:
        times = [a.call_time for a in risk_alerts[c.call_id] if a.call_time is not None]
        if times and c.escalation_time is not None and min(times) <= c.escalation_time:
            leads.append(c.escalation_time - min(times))
    return {
        "calls": len(calls),
        "alerted": sum(bool(a) for a in risk_alerts.values()),
        "escalated": len(escalated),
        "escalated_alerted": sum(bool(risk_alerts[c.call_id]) for c in escalated),
        "calm": len(calm),
        "calm_alerted": sum(bool(risk_alerts[c.call_id]) for c in calm),
        "median_lead_s": sorted(leads)[len(leads) // 2] if leads else None,
    }

