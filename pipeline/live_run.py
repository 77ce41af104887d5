"""Replay calls through a real worker and record what the pipeline puts on its topics.

The end-to-end tests and the live-load benchmark both do exactly this; keeping
it in one place means the benchmark measures what the tests check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.kafka_io import TopicRecorder, make_producer
from pipeline.processes import WorkerProcess
from pipeline.records import Alert, CallEvent, DeadLetter, Score, Topics, Utterance
from pipeline.replay import CallAudio, replay_calls
from pipeline.settings import Settings


@dataclass
class LiveRunResult:
    topics: Topics
    records: dict  # topic -> [(arrived_wall_ts, ConsumerRecord)]
    worker_ready_s: float
    replay_wall_s: float
    worker_log: str
    worker_stats: dict = field(default_factory=dict)

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
             sample_worker=None, expected_scores: int = 0) -> LiveRunResult:
    """Start a worker, replay ``calls`` side by side, drain, stop; return what landed.

    ``before_replay`` is raw (key, value, headers) messages for calls.audio sent
    first (bad input for dead-letter checks). ``sample_worker(pid)`` is called
    about once a second during the replay (CPU and memory sampling for benchmarks).
    After the replay it waits until ``expected_scores`` scores have arrived (the
    worker may lag behind real time on a busy machine), or 20 s without news.
    """
    topics = Topics(settings.topic_prefix)
    recorder = TopicRecorder(settings, [topics.transcripts, topics.scores, topics.alerts,
                                        topics.deadletter, topics.events])
    recorder.start()
    worker = WorkerProcess(settings, log_path).start()
    try:
        ready_s = worker.wait_ready(timeout_s=240)
        producer = make_producer(settings)
        for key, value, headers in before_replay or []:
            producer.send(topics.audio, key=key.encode(), value=value, headers=headers)

        def on_progress(_t: float) -> None:
            if sample_worker:
                sample_worker(worker.proc.pid)

        t0 = time.time()
        replay_calls(calls, lambda t, k, v, h: producer.send(t, key=k.encode(), value=v, headers=h),
                     topics, speed=speed, chunk_ms=chunk_ms, on_progress=on_progress)
        producer.flush()
        replay_s = time.time() - t0
        scores = recorder.records[topics.scores]
        recorder.wait_until(lambda: expected_scores > 0 and len(scores) >= expected_scores,
                            stall_s=20.0, limit_s=300.0)
        producer.close()
    finally:
        worker.stop()
        recorder.stop()
    return LiveRunResult(topics, recorder.records, ready_s, replay_s, worker.log_tail(80))
