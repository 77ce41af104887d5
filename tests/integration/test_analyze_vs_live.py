"""`callradar analyze` against the live pipeline, on real models and the real broker.

The same simulated escalating call goes through the live worker (replayed in real
time through the embedded Kafka broker) and through ``analyze``; the transcripts,
the scores and the alerts must be the same, timing aside. And the two real
contact-centre calls (when ../shared is present) come out named after the call,
with both speakers, and a second run does no work twice.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.live_run import run_live
from callradar.pipeline.analyze import run_analysis
from callradar.pipeline.recordings import find_recordings, load_recording
from callradar.pipeline.simulator.calls import load_label, simulate_calls
from callradar.training.labelled_calls import read_calls

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REAL_CALLS = Path(__file__).resolve().parents[3] / "shared" / "data" / "audio" / "calls"


@pytest.fixture(scope="module")
def escalating_call(tmp_path_factory):
    label_path = simulate_calls(tmp_path_factory.mktemp("sim"), 1, seed=11, kind="escalating")[0]
    return label_path.parent / load_label(label_path)["wav"], load_label(label_path)


def test_analyze_gives_what_the_live_pipeline_gives(kafka_settings, escalating_call, tmp_path):
    wav, label = escalating_call
    (tmp_path / "labels.csv").write_text(f"call_id,outcome,escalation_time\n{label['call_id']},escalated,"
                                         f"{label['escalation_time']}\n")
    recordings, problems = find_recordings([str(wav)])
    assert not problems and [r.call_id for r in recordings] == [label["call_id"]]
    from callradar.training.labelled_calls import read_outcomes_csv

    summary = run_analysis(kafka_settings, recordings, tmp_path / "calls.parquet", workers=1,
                           outcomes=read_outcomes_csv(tmp_path / "labels.csv"))
    assert summary.analysed == 1 and not summary.skipped
    (batch,) = read_calls(tmp_path / "calls.parquet")
    assert batch.outcome == "escalated" and batch.source == "analyze"

    live = run_live(kafka_settings, [load_recording(recordings[0])], tmp_path / "worker.log",
                    expected_scores=len(batch.utterances), settle_s=3.0)
    call_id = label["call_id"]
    transcripts = {u.utterance_id: u for _, u in live.utterances() if u.call_id == call_id}
    scores = [s for _, s in live.scores() if s.call_id == call_id]
    alerts = [a for _, a in live.alerts() if a.call_id == call_id]

    # the same utterances, cut at the same samples, read the same way
    assert sorted(transcripts) == sorted(u.utterance_id for u in batch.utterances), live.worker_log
    for u in batch.utterances:
        t = transcripts[u.utterance_id]
        assert (u.start, u.end, u.text, u.confidence) == (t.start, t.end, t.text, t.confidence), u.utterance_id
    # scored in the same order, to the same 4 decimals
    assert [s.utterance_id for s in scores] == [u.utterance_id for u in batch.utterances]
    for u, s in zip(batch.utterances, scores):
        assert (u.sentiment, round(u.frustration, 4), round(u.intent, 4), round(u.risk, 4), u.model_version) == (
            s.sentiment, round(s.frustration, 4), round(s.intent, 4), round(s.risk, 4), s.model_version), u.utterance_id
    # and the same alerts, at the same call time
    assert alerts, "an escalating call should alert: nothing to compare"
    assert sorted((a.alert_type, a.trigger, a.utterance_id, a.call_time, a.alert_id) for a in alerts) == sorted(
        (a.alert_type, a.trigger, a.utterance_id, a.call_time, a.alert_id) for a in batch.alerts)


@pytest.mark.skipif(not REAL_CALLS.is_dir(), reason=f"the real calls are not here ({REAL_CALLS}); "
                    "they come with ../shared/data")
def test_the_two_real_calls_are_named_after_the_call_and_a_second_run_does_no_work(tmp_path):
    from callradar.pipeline.settings import load_settings

    settings = load_settings()
    with (tmp_path / "meta.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["call_id", "agent_id", "queue"], ["auto_repairs_40", "a-40", "service"]])
    from callradar.pipeline.recordings import read_metadata

    recordings, problems = find_recordings([str(REAL_CALLS)])
    assert not problems
    assert sorted(r.call_id for r in recordings) == ["auto_repairs_40", "auto_repairs_49"]
    out = tmp_path / "real.jsonl"
    first = run_analysis(settings, recordings, out, workers=2, metadata=read_metadata(tmp_path / "meta.csv"))
    assert first.analysed == 2 and not first.skipped
    calls = {c.call_id: c for c in read_calls(out)}
    for call in calls.values():
        speakers = {u.speaker for u in call.utterances}
        assert speakers == {"agent", "customer"}, f"{call.call_id}: utterances only from {speakers}"
        assert sum(bool(u.text.strip()) for u in call.utterances) >= 20
        assert call.metadata["recording_agent"].endswith(f"{call.call_id}_agent.wav")
    assert (calls["auto_repairs_40"].metadata["agent_id"], calls["auto_repairs_40"].metadata["queue"]) == (
        "a-40", "service")
    second = run_analysis(settings, recordings, out, workers=2, metadata=read_metadata(tmp_path / "meta.csv"))
    assert (second.analysed, second.resumed) == (0, 2)
    assert [c.utterances for c in read_calls(out)] == [calls[c.call_id].utterances for c in read_calls(out)]
