"""Audio in, alerts out: the real broker, the real worker process, the real models.

One run (module fixture) replays two calm and two escalating simulated calls at
once in real time, with malformed chunks mixed in; the tests below each check
one promise against what landed on the topics.
"""

from __future__ import annotations

import base64

import pytest

from bench.live_run import run_live
from callradar.models.wer import word_error_rate
from callradar.pipeline.records import AudioChunk
from callradar.pipeline.replay import load_call
from callradar.pipeline.simulator.calls import load_label, simulate_calls

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

MALFORMED = [
    # (description, key, payload, headers): each must land on calls.deadletter with a reason
    ("odd-length PCM", "bad-1", b"\x00\x01\x02", AudioChunk("bad-1", "customer", 0, 8000, 1.0, b"").headers()),
    ("unsupported rate", "bad-2", b"\x00\x00" * 160, AudioChunk("bad-2", "agent", 0, 11025, 1.0, b"").headers()),
    ("missing headers", "bad-3", b"\x00\x00" * 160, [("call_id", b"bad-3")]),
    ("unknown channel", "bad-4", b"\x00\x00" * 160,
     [(k, b"supervisor" if k == "channel" else v) for k, v in AudioChunk("bad-4", "agent", 0, 8000, 1.0, b"").headers()]),
]


@pytest.fixture(scope="module")
def live_run(kafka_settings, tmp_path_factory):
    label_paths = simulate_calls(tmp_path_factory.mktemp("calls"), 4, seed=11)
    labels = [load_label(p) for p in label_paths]
    assert sorted(lab["outcome"] for lab in labels) == ["calm", "calm", "escalated", "escalated"]
    calls = [load_call([p.parent / lab["wav"]]) for p, lab in zip(label_paths, labels)]
    result = run_live(kafka_settings, calls, tmp_path_factory.mktemp("logs") / "worker.log",
                      before_replay=[(key, payload, headers) for _, key, payload, headers in MALFORMED],
                      expected_scores=sum(len(lab["transcript"]) for lab in labels))
    result.labels = {lab["call_id"]: lab for lab in labels}
    return result


def test_every_escalating_call_alerts_before_it_ends(live_run):
    alerts = [a for _, a in live_run.alerts() if a.alert_type == "escalation_risk"]
    ended = live_run.ended_at()
    for call_id, label in live_run.labels.items():
        if label["outcome"] != "escalated":
            continue
        mine = [a for a in alerts if a.call_id == call_id]
        assert mine, f"{call_id} escalated but got no escalation_risk alert\n{live_run.worker_log}"
        first = min(mine, key=lambda a: a.created_ts)
        assert first.created_ts < ended[call_id], f"{call_id}: first alert came after the call ended"
        assert first.call_time <= label["duration"]
        assert first.reasons, "a supervisor alert must say why"


def test_no_calm_call_alerts(live_run):
    alerts = [a for _, a in live_run.alerts() if a.alert_type == "escalation_risk"]
    for call_id, label in live_run.labels.items():
        if label["outcome"] == "calm":
            assert not [a for a in alerts if a.call_id == call_id], f"false alarm on calm call {call_id}"


def test_escalations_come_with_an_assist_prompt_and_stable_unique_ids(live_run):
    alerts = [a for _, a in live_run.alerts()]
    risk = [a for a in alerts if a.alert_type == "escalation_risk"]
    prompts = [a for a in alerts if a.alert_type == "assist_prompt"]
    assert {a.call_id for a in prompts} >= {a.call_id for a in risk}
    assert all(p.message and p.prompt_id for p in prompts)
    ids = [a.alert_id for a in alerts]
    assert len(ids) == len(set(ids)), "an alert was sent twice"


def test_every_customer_utterance_is_transcribed_exactly_once(live_run):
    """Each scripted customer turn maps, by time, to exactly one transcript and no more.

    Words are checked per call against the measured bound: word error on these
    8 kHz synthetic voices is 0.25-0.30 per call (see
    tests/integration/test_simulated_call_transcription.py), and a single short
    turn can come out badly garbled by tiny.en, so no per-turn bound is set.
    """
    utterances = [u for _, u in live_run.utterances()]
    ids = [u.utterance_id for u in utterances]
    assert len(ids) == len(set(ids)), "an utterance was emitted twice"
    for call_id, label in live_run.labels.items():
        heard = sorted((u for u in utterances if u.call_id == call_id and u.speaker == "customer"),
                       key=lambda u: u.start)
        turns = [t for t in label["transcript"] if t["speaker"] == "customer"]
        for ref in turns:
            overlapping = [u for u in heard if u.start < ref["end"] + 0.3 and u.end > ref["start"] - 0.3]
            assert len(overlapping) == 1, (
                f"{call_id} customer turn at {ref['start']:.1f}s {ref['text']!r} matched "
                f"{[(u.start, u.end, u.text) for u in overlapping]}"
            )
            assert overlapping[0].text.strip(), f"{call_id}: empty transcript for {ref['text']!r}"
        assert len(heard) == len(turns), f"{call_id}: transcripts that match no scripted turn"
        call_wer = word_error_rate(" ".join(t["text"] for t in turns), " ".join(u.text for u in heard))
        print(f"{call_id}: customer WER {call_wer:.3f}")
        assert call_wer <= 0.35, f"{call_id}: customer WER {call_wer:.2f}"


def test_malformed_chunks_land_on_the_dead_letter_topic_with_reasons(live_run):
    letters = [d for _, d in live_run.dead_letters()]
    by_key = {d.key: d for d in letters}
    for description, key, payload, _ in MALFORMED:
        assert key in by_key, f"{description} ({key}) did not reach the dead-letter topic"
        letter = by_key[key]
        assert letter.stage == "transcribe" and letter.reason
        assert letter.source_topic == live_run.topics.audio
        assert base64.b64decode(letter.value_b64) == payload, "the dead letter must keep the original bytes"
