"""Replay calls through a real worker and record what the pipeline puts on its topics.

The end-to-end tests and the live-load benchmark both do exactly this; keeping
it in one place means the benchmark measures what the tests check.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from callradar.pipeline.kafka.clients import TopicRecorder, make_producer
from callradar.pipeline.processes import WorkerProcess
from callradar.pipeline.records import Alert, CallEvent, DeadLetter, Score, Topics, Utterance
from callradar.pipeline.replay import CallAudio, replay_calls
from callradar.pipeline.settings import Settings


@dataclass
class LiveRunResult:
    topics: Topics
    records: dict  # topic -> [(arrived_wall_ts, ConsumerRecord)]
    worker_ready_s: float
    replay_wall_s: float
    worker_log: str
    worker_stats: dict = field(default_factory=dict)
    worker_pids: list[int] = field(default_factory=list)
    worker_metrics: list[str] = field(default_factory=list)  # each worker's /metrics page after the drain
    metric_samples: list[tuple[float, list[str]]] = field(default_factory=list)  # (seconds since replay start, pages)

    def _decode(self, topic: str, kind):
        return [(arrived, kind.decode(rec.value)) for arrived, rec in self.records[topic]]

    def utterances(self) -> list[tuple[float, Utterance]]:
        return self._decode(self.topics.transcripts, Utterance)

    def scores(self) -> list[tuple[float, Score]]:
        return self._decode(self.topics.scores, Score)

    def alerts(self) -> list[tuple[float, Alert]]:
        return self._decode(self.topics.alerts, Alert)

    def dead_letters(self) -> list[tuple[float, DeadLetter]]:
        return self._decode(self.topics.deadletter, DeadLetter)

    def ended_at(self) -> dict[str, float]:
        """Wall time each call's 'ended' event was sent."""
        out = {}
        for _, event in self._decode(self.topics.events, CallEvent):
            if event.event == "ended":
                out[event.call_id] = event.ts
        return out


def run_live(settings: Settings, calls: list[CallAudio], log_path: Path, speed: float = 1.0,
             before_replay: list[tuple[str, bytes, list]] | None = None, chunk_ms: int = 40,
             sample_worker=None, expected_scores: int = 0, workers: int = 1,
             worker_env: dict[str, str] | None = None, settle_s: float = 0.0,
             stagger_s: float = 0.0, poll_metrics_s: float = 0.0) -> LiveRunResult:
    """Start ``workers`` worker processes (one consumer group), replay ``calls`` side by side, drain, stop.

    ``before_replay`` is raw (key, value, headers) messages for calls.audio sent
    first (bad input for dead-letter checks). ``sample_worker(pid)`` is called
    for each worker about once a second during the replay and once after the
    drain (CPU and memory sampling for benchmarks). After the replay it waits
    until ``expected_scores`` scores have arrived (the workers may lag behind
    real time on a busy machine), or 20 s without news; then, with ``settle_s``,
    until nothing new has arrived for that long (the expected count is a guess
    when the segmenter splits turns). Worker 0 logs to
    ``log_path``, worker i to ``<stem>-<i><suffix>`` beside it. ``stagger_s`` starts
    call i that many seconds after call i-1 (a steady load instead of one burst).
    ``poll_metrics_s`` > 0 reads every worker's /metrics page that often from the
    replay's start to the end of the drain (``metric_samples``: backlog over time).
    """
    topics = Topics(settings.topic_prefix)
    recorder = TopicRecorder(settings, [topics.transcripts, topics.scores, topics.alerts,
                                        topics.deadletter, topics.events])
    recorder.start()
    log_path = Path(log_path)
    procs = [WorkerProcess(settings, log_path if i == 0 else log_path.with_name(f"{log_path.stem}-{i}{log_path.suffix}"),
                           extra_env=worker_env) for i in range(workers)]
    metrics: list[str] = []
    samples: list[tuple[float, list[str]]] = []
    stop_polling = threading.Event()
    try:
        for proc in procs:
            proc.start()
        t_ready = time.time()
        for proc in procs:
            proc.wait_ready(timeout_s=max(1.0, 240 - (time.time() - t_ready)))
        ready_s = time.time() - t_ready
        if workers > 1:
            time.sleep(2.0)  # the last join's rebalance has completed; let the others settle into it
        producer = make_producer(settings)
        for key, value, headers in before_replay or []:
            producer.send(topics.audio, key=key.encode(), value=value, headers=headers)

        def sample_all() -> None:
            if sample_worker:
                for proc in procs:
                    sample_worker(proc.proc.pid)

        t0 = time.time()
        if poll_metrics_s > 0:
            threading.Thread(target=_poll_metrics, args=(procs, poll_metrics_s, t0, samples, stop_polling),
                             daemon=True, name="poll-metrics").start()
        replay_calls(calls, lambda t, k, v, h: producer.send(t, key=k.encode(), value=v, headers=h),
                     topics, speed=speed, chunk_ms=chunk_ms, stagger_s=stagger_s, on_progress=lambda _t: sample_all())
        producer.flush()
        replay_s = time.time() - t0
        scores = recorder.records[topics.scores]
        recorder.wait_until(lambda: expected_scores > 0 and len(scores) >= expected_scores,
                            stall_s=20.0, limit_s=300.0)
        if settle_s > 0:
            recorder.wait_until(lambda: False, stall_s=settle_s, limit_s=300.0)
        sample_all()
        stop_polling.set()
        metrics = [proc.get("/metrics") for proc in procs]
        producer.close()
    finally:
        stop_polling.set()
        for proc in procs:
            proc.stop()
        recorder.stop()
    return LiveRunResult(topics, recorder.records, ready_s, replay_s, procs[0].log_tail(80),
                         worker_pids=[p.proc.pid for p in procs], worker_metrics=metrics, metric_samples=samples)


def _poll_metrics(procs, every_s: float, t0: float, out: list, stop: threading.Event) -> None:
    """Each worker's /metrics page every ``every_s`` seconds until ``stop`` (a worker that does not answer: '')."""
    while not stop.wait(every_s):
        out.append((round(time.time() - t0, 1), [proc.get("/metrics", timeout_s=2.0) for proc in procs]))
