"""kill -9 of a worker, and a broker restart, mid-stream: nothing lost, nothing made up.

Four simulated calls (two escalating) stream in real time through two worker
processes: one transcribes, one scores and triggers. Each is killed with SIGKILL
while customers are talking and started again. Afterwards:

* every scripted customer turn maps, by time, to exactly one utterance id, whole;
* every utterance id is scored, and its risk is the one a processor that never
  crashed computes from the same utterances in the same order (so the call
  state came back from the changelog, not from zero);
* the alert ids are exactly those a trigger stage that never crashed sends for
  the same scores: none lost.

A record delivered just before a crash, whose "done" mark in the changelog was not
yet written, is sent again with the same id (every consumer skips it); the tests
print how many. Anything else repeated or missing fails.

The broker test does the same across a stop and start of the broker itself (a
private one, so the session's broker stays up for the other tests).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time

import pytest

from callradar.pipeline.kafka.clients import TopicRecorder, delete_topics, ensure_topics, make_producer
from callradar.pipeline.kafka.embedded import EmbeddedKafka, free_port
from callradar.pipeline.processes import WorkerProcess
from callradar.pipeline.records import Alert, Score, Topics, Utterance
from callradar.pipeline.replay import load_call, replay_calls
from callradar.pipeline.simulator.calls import load_label, simulate_calls

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _customer_turn_midpoint(label: dict, after_s: float) -> float:
    """Call time in the middle of the first customer turn starting after ``after_s``."""
    turn = next(t for t in label["transcript"] if t["speaker"] == "customer" and t["start"] > after_s)
    return (turn["start"] + turn["end"]) / 2


def _redelivered_skipped(exposition: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {s.labels["stage"]: s.value for f in text_string_to_metric_families(exposition)
            for s in f.samples if s.name == "callradar_redelivered_skipped_total"}


def _check_against_uncrashed_run(settings, labels, records, topics):
    from callradar.agents.triggers import load_triggers
    from callradar.pipeline.stages.score import ScoreProcessor
    from callradar.pipeline.stages.trigger import TriggerProcessor

    utterances = [Utterance.decode(r.value) for _, r in records[topics.transcripts]]
    scores = [Score.decode(r.value) for _, r in records[topics.scores]]
    alerts = [Alert.decode(r.value) for _, r in records[topics.alerts]]

    # Exactly once: each scripted customer turn is one utterance id, and each id is scored once.
    ids = {u.utterance_id: u for u in utterances}
    for call_id, label in labels.items():
        heard = [u for u in ids.values() if u.call_id == call_id and u.speaker == "customer"]
        for ref in (t for t in label["transcript"] if t["speaker"] == "customer"):
            matched = [u for u in heard if u.start < ref["end"] + 0.3 and u.end > ref["start"] - 0.3]
            assert len(matched) == 1, f"{call_id} turn at {ref['start']:.1f}s {ref['text']!r}: {matched}"
            # Whole: a crash mid-turn must not cut off the audio before it (segmentation is within 0.1 s).
            u = matched[0]
            assert u.start <= ref["start"] + 0.3 and u.end >= ref["end"] - 0.3, (
                f"{call_id} turn {ref['start']:.1f}-{ref['end']:.1f}s heard only {u.start:.1f}-{u.end:.1f}s")
    # A crash between a record's delivery and the changelog write that marks it done may send
    # it again, with the same id, which every consumer honours; anything else is a failure.
    scored = [s.utterance_id for s in scores]
    unscored = [(u.utterance_id, f"partition {r.partition} offset {r.offset}", f"arrived at {t:.2f}")
                for (t, r), u in zip(records[topics.transcripts], utterances) if u.utterance_id not in set(scored)]
    assert not unscored, f"transcripts never scored (the kill times are printed below): {unscored}"

    # The call state survived: the same risks (a repeat's too) as a processor that saw every
    # utterance once, in order. A transcript sent again after the transcriber's crash is the same
    # speech transcribed again, in another batch, and its words can differ; the score stage kept
    # the first copy (a call's transcripts stay in order on its partition) and skipped the second.
    reference = ScoreProcessor.from_settings(settings, watch=False)
    by_id = {}
    for u in utterances:
        by_id.setdefault(u.utterance_id, u)
    assert [s.text for s in scores] == [by_id[s.utterance_id].text for s in scores]
    expected = {s.utterance_id: s.risk for s in reference.score([by_id[s.utterance_id] for s in scores], now=0.0)}
    off = [(s.utterance_id, s.risk, expected[s.utterance_id]) for s in scores
           if abs(s.risk - expected[s.utterance_id]) > 1e-3]
    assert not off, f"risks that differ from an uncrashed run (state lost?): {off[:5]}"

    # No alert lost or made up: the alerts an uncrashed trigger stage sends for these scores.
    triggers = TriggerProcessor(load_triggers(settings))
    wanted = {a.alert_id: a for s in scores for a in triggers.on_score(s)}
    assert {a.alert_id for a in alerts} == set(wanted)
    for a in alerts:  # a repeat is the same alert
        assert (a.alert_type, a.trigger, a.utterance_id) == (wanted[a.alert_id].alert_type,
                                                            wanted[a.alert_id].trigger, wanted[a.alert_id].utterance_id)
    escalated = {c for c, lab in labels.items() if lab["outcome"] == "escalated"}
    assert {a.call_id for a in alerts if a.alert_type == "escalation_risk"} == escalated
    repeats = {"transcripts": len(utterances) - len(ids),
               "transcripts in other words": sum(u.text != by_id[u.utterance_id].text for u in utterances),
               "scores": len(scored) - len(set(scored)),
               "alerts": len(alerts) - len(wanted)}
    return len(ids), len(wanted), repeats


def test_kill_9_of_each_worker_mid_stream_loses_and_repeats_nothing(kafka_settings, tmp_path):
    settings = dataclasses.replace(kafka_settings, topic_prefix=f"{kafka_settings.topic_prefix}crash-")
    topics = Topics(settings.topic_prefix)
    ensure_topics(settings)
    label_paths = simulate_calls(tmp_path / "calls", 4, seed=11)
    labels = {lab["call_id"]: lab for lab in map(load_label, label_paths)}
    calls = [load_call([p.parent / lab["wav"]]) for p, lab in zip(label_paths, labels.values())]
    first = next(iter(labels.values()))
    kill_transcriber_at = _customer_turn_midpoint(first, after_s=8.0)
    kill_scorer_at = _customer_turn_midpoint(first, after_s=kill_transcriber_at + 8.0)

    recorder = TopicRecorder(settings, [topics.transcripts, topics.scores, topics.alerts])
    recorder.start()
    workers = {"transcribe": WorkerProcess(settings, tmp_path / "transcribe-0.log", stages="transcribe"),
               "score,trigger": WorkerProcess(settings, tmp_path / "score-0.log", stages="score,trigger")}
    killed: dict[str, float] = {}  # stages -> replay time of the kill
    killed_wall: dict[str, float] = {}
    producer = None
    try:
        for w in workers.values():
            w.start()
        for w in workers.values():
            w.wait_ready(timeout_s=240)
        producer = make_producer(settings)

        def crash_and_restart(stages: str, replay_t: float) -> None:
            workers[stages].kill()
            killed[stages] = replay_t
            killed_wall[stages] = time.time()
            log = tmp_path / f"{stages.split(',')[0]}-1.log"
            workers[stages] = WorkerProcess(settings, log, stages=stages).start()

        def on_progress(t: float) -> None:
            if t >= kill_transcriber_at and "transcribe" not in killed:
                crash_and_restart("transcribe", t)
            if t >= kill_scorer_at and "score,trigger" not in killed:
                crash_and_restart("score,trigger", t)

        replay_calls(calls, lambda t, k, v, h: producer.send(t, key=k.encode(), value=v, headers=h),
                     topics, on_progress=on_progress)
        producer.flush()
        assert set(killed) == {"transcribe", "score,trigger"}
        for w in workers.values():
            w.wait_ready(timeout_s=240)
        recorder.wait_until(lambda: False, stall_s=20.0, limit_s=300.0)  # drained: nothing new for 20 s
        skipped = {stages: _redelivered_skipped(w.get("/metrics")) for stages, w in workers.items()}
    finally:
        if producer is not None:
            producer.close()
        for w in workers.values():
            w.stop()
        recorder.stop()
        delete_topics(settings, topics.all())

    print(f"kills at wall time {killed_wall}")
    n_utts, n_alerts, repeats = _check_against_uncrashed_run(settings, labels, recorder.records, topics)
    # Recovery time: from the kill to the first record the restarted worker sent.
    first_after = {
        stages: min(t for t, _ in recorder.records[topic] if t > killed_wall[stages]) - killed_wall[stages]
        for stages, topic in (("transcribe", topics.transcripts), ("score,trigger", topics.scores))
    }
    print(f"killed at replay time {killed}; first output {first_after} s after the kill; {n_utts} utterances, "
          f"{n_alerts} alerts, none lost; sent again with the same id: {repeats}; "
          f"redelivered and skipped after the restart: {skipped}")


def test_a_broker_restart_mid_stream_loses_and_repeats_nothing(kafka_settings, tmp_path):
    settings = dataclasses.replace(kafka_settings, topic_prefix="restart-", state_dir=tmp_path / "state",
                                   embedded_kafka_port=free_port(), embedded_kafka_controller_port=free_port())
    broker = EmbeddedKafka(settings)
    assert broker.start(timeout_s=120)
    topics = Topics(settings.topic_prefix)
    label_paths = simulate_calls(tmp_path / "calls", 4, seed=11)
    labels = {lab["call_id"]: lab for lab in map(load_label, label_paths)}
    calls = [load_call([p.parent / lab["wav"]]) for p, lab in zip(label_paths, labels.values())]
    outage: dict[str, float] = {}

    def restart_broker() -> None:
        outage["stopped"] = time.time()
        broker.stop()
        time.sleep(2.0)
        broker.start(timeout_s=120)
        outage["started"] = time.time()

    recorder = TopicRecorder(settings, [topics.transcripts, topics.scores, topics.alerts])
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    restarter = threading.Timer(20.0, restart_broker)
    producer = None
    try:
        recorder.start()
        worker.start().wait_ready(timeout_s=240)
        producer = make_producer(settings)
        restarter.start()
        replay_calls(calls, lambda t, k, v, h: producer.send(t, key=k.encode(), value=v, headers=h), topics)
        restarter.join()
        producer.flush()
        recorder.wait_until(lambda: False, stall_s=20.0, limit_s=300.0)  # drained: nothing new for 20 s
        alive = worker.proc.poll() is None
        log_tail = worker.log_tail(40)
    finally:
        restarter.cancel()
        if producer is not None:
            producer.close()
        worker.stop()
        recorder.stop()
        broker.stop()

    assert alive, f"the worker died with the broker:\n{log_tail}"
    assert outage.keys() == {"stopped", "started"}
    n_utts, n_alerts, repeats = _check_against_uncrashed_run(settings, labels, recorder.records, topics)
    back = [t for t, _ in recorder.records[topics.transcripts] if t > outage["started"]]
    print(f"broker down {outage['started'] - outage['stopped']:.1f} s; first transcript "
          f"{min(back) - outage['started']:.1f} s after it was back; {n_utts} utterances, {n_alerts} alerts, none lost; "
          f"sent again with the same id: {repeats}")


def test_a_worker_whose_broker_is_gone_still_stops_on_sigterm(kafka_settings, tmp_path):
    """Under systemd or Kubernetes a stop is SIGTERM, then SIGKILL after a grace period: a worker that
    ignores SIGTERM while the broker is down is killed mid-write. aiokafka's close raised on the fetch
    it was retrying, and faust then waited for its consumer thread forever (ClosingConsumerThread)."""
    if not kafka_settings.embedded:
        pytest.skip("CALLRADAR_KAFKA_BOOTSTRAP is set: no embedded broker to kill")
    settings = dataclasses.replace(kafka_settings, topic_prefix="gone-", state_dir=tmp_path / "state",
                                   embedded_kafka_port=free_port(), embedded_kafka_controller_port=free_port())
    broker = EmbeddedKafka(settings)
    assert broker.start(timeout_s=120)
    worker = WorkerProcess(settings, tmp_path / "worker.log", stages="score,trigger")
    try:
        worker.start().wait_ready(timeout_s=240)
        os.kill(broker.status().pid, signal.SIGKILL)  # gone, as in a crash: no goodbye to the clients
        time.sleep(10.0)  # the consumer is now retrying its fetches
        worker.proc.send_signal(signal.SIGTERM)
        try:
            rc = worker.proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        log_tail = worker.log_tail(30)
    finally:
        worker.stop(grace_s=1)
        broker.stop()
    assert rc is not None, f"the worker ignored SIGTERM for 30 s with its broker gone:\n{log_tail}"
    assert rc == 0, f"exit status {rc}:\n{log_tail}"
