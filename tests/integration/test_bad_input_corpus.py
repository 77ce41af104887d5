"""The whole bad-input corpus through one real worker on the real broker, with valid calls beside it.

Sends every case of tests/fixtures/bad_inputs.py (DEAD_LETTERS) and plays the
HANDLED calls and one valid escalating call side by side, at twice real time,
then checks: each case's one dead letter (stage, topic, reason, original bytes),
the worker's callradar_dead_letters_total by stage and reason (exactly the
corpus), nothing else dead-lettered, and the valid call transcribed turn by
turn (no utterance lost) and alerted. Prints the figures for docs/reliability.md.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import urllib.request
from collections import Counter

import numpy as np
import pytest
from fixtures.bad_inputs import DEAD_LETTERS, HANDLED, PCM_40MS

from callradar.pipeline.kafka.clients import TopicRecorder, delete_topics, ensure_topics, make_producer
from callradar.pipeline.processes import WorkerProcess
from callradar.pipeline.records import Alert, AudioChunk, DeadLetter, MalformedMessage, Score, Topics, Utterance
from callradar.pipeline.replay import CallAudio, load_call, replay_calls
from callradar.pipeline.simulator.calls import (
    Script,
    Turn,
    _espeak,
    load_label,
    load_scripts,
    render_call,
    simulate_calls,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IDLE_TIMEOUT_S = 6  # CALLRADAR_CHANNEL_IDLE_TIMEOUT_S for this worker (60 s by default)
SPEED = 2.0
MAX_UTTERANCE_S = 15.0  # settings.vad_max_utterance_s
RATE = 8000
MONOLOGUE = (
    "Let me read you the whole paragraph from the letter so you have it exactly as it was written. "
    "It says that the annual service review will take place in the spring, that the engineer will check "
    "the meter and the boiler and the wiring in the kitchen, that the visit takes about two hours, "
    "that somebody over eighteen must be at home for the whole visit, that the engineer will show an "
    "identity card at the door, that the review is free of charge for every customer on the standard "
    "plan, and that a written report arrives by post within ten working days after the visit."
)


def _render(call_id: str, *turns: tuple[str, str]) -> tuple[CallAudio, dict]:
    book = load_scripts()
    script = Script(call_id, "calm", "billing", "", tuple(Turn(who, text) for who, text in turns))
    stereo, label = render_call(call_id, script, book, _espeak())
    return CallAudio(call_id, RATE, stereo[:, 0].copy(), stereo[:, 1].copy()), label


def _handled_calls() -> tuple[list[CallAudio], dict]:
    rng = np.random.default_rng(7)
    calls, labels = [], {}
    unknown, labels["ok-unknown-call"] = _render("ok-unknown-call", ("customer", "Hello, I would like to check "
                                                                    "the balance on my account, please."))
    gap, labels["ok-seq-gap"] = _render("ok-seq-gap", ("customer", "My meter reading is four five two one."),
                                        ("agent", "Thank you, I have that now."),
                                        ("customer", "Great, and when is the next bill due?"))
    monologue, labels["ok-monologue"] = _render("ok-monologue", ("customer", MONOLOGUE))
    never, labels["ok-never-ends"] = _render("ok-never-ends", ("customer", "I have been waiting for my refund "
                                                              "for three whole weeks and"))
    voiced = np.flatnonzero(np.abs(never.customer) > 300)
    cut = voiced[-1] - RATE // 5  # stop mid-word: no trailing silence, no end marker
    never = CallAudio("ok-never-ends", RATE, never.agent[:cut], never.customer[:cut])
    silence = CallAudio("ok-silence", RATE, np.zeros(4 * RATE, np.int16), np.zeros(4 * RATE, np.int16))
    t = np.arange(3 * RATE) / RATE
    bursts = np.concatenate([np.concatenate([rng.normal(0, 6000, RATE), np.zeros(RATE)]) for _ in range(4)])
    tone_and_hum = np.concatenate([8000 * np.sin(2 * np.pi * 440 * t),
                                   3000 * np.sin(2 * np.pi * 50 * t) + rng.normal(0, 300, len(t))])
    noise = CallAudio("ok-noise", RATE, np.pad(tone_and_hum, (0, 2 * RATE)).clip(-32768, 32767).astype(np.int16),
                      bursts.clip(-32768, 32767).astype(np.int16))
    calls += [unknown, gap, monologue, never, silence, noise]
    return calls, labels


def _scrape(port: int) -> dict[str, list[tuple[dict, float]]]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _value(samples, name: str, **labels) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


def test_every_bad_input_is_dead_lettered_or_handled_and_valid_calls_are_unaffected(kafka_settings, tmp_path):
    settings = dataclasses.replace(kafka_settings, topic_prefix=f"{kafka_settings.topic_prefix}badinput-")
    topics = Topics(settings.topic_prefix)
    ensure_topics(settings)
    label_path = simulate_calls(tmp_path / "calls", 1, seed=11, kind="escalating")[0]
    valid_label = load_label(label_path)
    valid = load_call([label_path.parent / valid_label["wav"]])
    handled, labels = _handled_calls()
    handled_ids = {c.call_id for c in handled}
    assert handled_ids | {"ok-unknown-fields-event", "ok-unknown-fields-utterance"} == {h[0] for h in HANDLED}
    gap_seqs = set(range(30, 55))  # 1 s of the ok-seq-gap customer channel never sent

    recorder = TopicRecorder(settings, [topics.transcripts, topics.scores, topics.alerts, topics.deadletter])
    recorder.start()
    worker = WorkerProcess(settings, tmp_path / "worker.log",
                           extra_env={"CALLRADAR_CHANNEL_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S)}).start()
    producer = None
    t0 = time.time()
    try:
        worker.wait_ready(timeout_s=240)
        ready_s = time.time() - t0
        producer = make_producer(settings)

        def send(topic: str, key: str, value: bytes | None, headers: list) -> None:
            producer.send(topic, key=key.encode(), value=value, headers=headers)

        for case in DEAD_LETTERS:
            for msg in case.messages + case.after:
                send(getattr(topics, msg.topic), msg.key, msg.value, msg.headers)
        extra = Utterance(utterance_id="ok-unknown-fields-utterance/customer/0", call_id="ok-unknown-fields-utterance",
                          speaker="customer", index=0, start=1.0, end=3.0, text="Thanks, that is all I needed.",
                          confidence=0.9, audio_end_ts=time.time()).to_dict()
        send(topics.transcripts, extra["call_id"], json.dumps({**extra, "sentiment_hint": "calm",
                                                               "x_vendor": {"id": 7}}).encode(), [])

        def replay_send(topic: str, key: str, value: bytes, headers: list) -> None:
            h = dict(headers)
            if key == "ok-never-ends" and (h.get("end") == b"1" or (topic == topics.events and b'"ended"' in value)):
                return  # a call that never ends
            if key == "ok-unknown-call" and topic == topics.events:
                return  # never announced
            if key == "ok-seq-gap" and h.get("channel") == b"customer" and int(h.get("seq", b"-1")) in gap_seqs:
                return  # lost chunks
            if key == valid.call_id and topic == topics.events:
                value = json.dumps({**json.loads(value), "x_crm_ticket": {"id": "T-1", "tags": ["vip"]},
                                    "priority": 3}).encode()  # ok-unknown-fields-event
            send(topic, key, value, headers)

        t1 = time.time()
        replay_calls([valid, *handled], replay_send, topics, speed=SPEED)
        producer.flush()
        replay_s = time.time() - t1

        records = recorder.records
        expected_keys = corpus_keys = {c.messages[-1].key for c in DEAD_LETTERS}

        def decoded(topic, kind):
            """What the worker wrote (the corpus's own bad transcripts and scores are on these topics too)."""
            out = []
            for _, r in records[topic]:
                try:
                    out.append(kind.decode(r.value))
                except MalformedMessage:
                    assert r.key.decode("utf-8", "replace") in corpus_keys, r.value[:200]
            return out

        def timed_out() -> float:
            try:
                return _value(_scrape(worker.port), "callradar_channels_timed_out_total")
            except OSError:
                return -1

        late_sent = False
        deadline = time.time() + 120
        while True:
            letters = decoded(topics.deadletter, DeadLetter)
            keys = {d.key for d in letters}
            if not late_sent and timed_out() >= 2:
                # The idle timeout closed the call that never ended: audio for it now is refused.
                late = AudioChunk("ok-never-ends", "customer", 10_000, RATE, time.time(), PCM_40MS)
                send(topics.audio, late.call_id, late.pcm, late.headers())
                producer.flush()
                late_sent = True
            utts = decoded(topics.transcripts, Utterance)
            scores = decoded(topics.scores, Score)
            alerts = decoded(topics.alerts, Alert)
            mine = [u for u in utts if u.call_id == valid.call_id]
            done = {
                "every dead letter": expected_keys <= keys,
                "late chunk refused": "ok-never-ends" in keys,
                "valid call scored": mine and len([s for s in scores if s.call_id == valid.call_id]) == len(mine),
                "valid call alerted": any(a.call_id == valid.call_id and a.alert_type == "escalation_risk"
                                          for a in alerts),
                "valid call ended": len([u for u in mine if u.speaker == "customer"])
                >= sum(t["speaker"] == "customer" for t in valid_label["transcript"]),
                "unknown fields scored": any(s.call_id == "ok-unknown-fields-utterance" for s in scores),
                "never-ending call transcribed": any(u.call_id == "ok-never-ends" for u in utts),
            }
            if all(done.values()):
                break
            if time.time() > deadline:
                pytest.fail(f"not seen within 120 s: {[k for k, v in done.items() if not v]}\n{worker.log_tail(60)}")
            time.sleep(1.0)
        time.sleep(2.0)  # anything that should not come would have come by now
        samples = _scrape(worker.port)
        letters = decoded(topics.deadletter, DeadLetter)
        utts = decoded(topics.transcripts, Utterance)
        scores = decoded(topics.scores, Score)
        alerts = decoded(topics.alerts, Alert)
    finally:
        if producer is not None:
            producer.close()
        worker.stop()
        recorder.stop()
        delete_topics(settings, topics.all())
    total_s = time.time() - t0

    # Each case: exactly one dead letter, from its stage, about its topic, with its reason and its bytes.
    by_key: dict[str, list[DeadLetter]] = {}
    for d in letters:
        by_key.setdefault(d.key, []).append(d)
    for case in DEAD_LETTERS:
        last = case.messages[-1]
        got = by_key.get(last.key, [])
        assert len(got) == 1, f"{case.id}: {len(got)} dead letters {[d.reason for d in got]}"
        d = got[0]
        assert (d.stage, d.source_topic) == (case.stage, getattr(topics, last.topic)), case.id
        assert case.says in d.reason, f"{case.id}: {d.reason}"
        kept = base64.b64decode(d.value_b64)
        assert d.value_size == len(last.value or b"")
        if d.value_truncated:
            assert case.category == "oversize" and (last.value or b"").startswith(kept) and len(kept) == 512 * 1024
        else:
            assert kept == (last.value or b""), f"{case.id}: the dead letter must keep the original bytes"
    (late,) = by_key["ok-never-ends"]
    assert "after its channel ended" in late.reason
    assert set(by_key) == {c.messages[-1].key for c in DEAD_LETTERS} | {"ok-never-ends"}, "nothing else refused"

    # The metric counts exactly the corpus, by stage and short reason label.
    expected = Counter((c.stage, c.category) for c in DEAD_LETTERS) + Counter({("transcribe", "after_end"): 1})
    counted = {(lab["stage"], lab["reason"]): v for lab, v in samples["callradar_dead_letters_total"] if v}
    assert counted == dict(expected)
    assert _value(samples, "callradar_channels_timed_out_total") == 2  # both channels of the call that never ended

    # The valid escalating call: every scripted customer turn transcribed exactly once, and it alerted.
    mine = [u for u in utts if u.call_id == valid.call_id]
    lost = 0
    for turn in valid_label["transcript"]:
        heard = [u for u in mine if u.speaker == turn["speaker"]
                 and u.start < turn["end"] + 0.3 and u.end > turn["start"] - 0.3]
        lost += not heard
        if turn["speaker"] == "customer":
            assert len(heard) == 1 and heard[0].text.strip(), f"customer turn {turn['text']!r}: {heard}"
    assert lost == 0
    assert {s.utterance_id for s in scores if s.call_id == valid.call_id} == {u.utterance_id for u in mine}
    escalations = [a for a in alerts if a.call_id == valid.call_id and a.alert_type == "escalation_risk"]
    assert escalations and escalations[0].reasons

    def of(call_id):
        return sorted((u for u in utts if u.call_id == call_id), key=lambda u: (u.speaker, u.start))

    assert not [a for a in alerts if a.call_id in handled_ids], "a bad or odd call raised an alert"
    assert of("ok-silence") == []
    noise = of("ok-noise")
    assert all(len(u.text.split()) <= 3 for u in noise), [u.text for u in noise]
    monologue = [u for u in of("ok-monologue") if u.speaker == "customer"]
    spoken = labels["ok-monologue"]["transcript"][0]
    assert len(monologue) >= 3 and max(u.end - u.start for u in monologue) <= MAX_UTTERANCE_S + 0.05
    assert sum(u.end - u.start for u in monologue) >= 0.8 * (spoken["end"] - spoken["start"])
    unknown = of("ok-unknown-call")
    assert unknown and any("balance" in u.text.lower() for u in unknown)
    assert {s.utterance_id for s in scores if s.call_id == "ok-unknown-call"} == {u.utterance_id for u in unknown}
    gap_heard = [u for u in of("ok-seq-gap") if u.speaker == "customer"]
    last_turn = labels["ok-seq-gap"]["transcript"][-1]
    assert abs(gap_heard[-1].start - last_turn["start"]) < 0.3, "the gap must keep call time"
    assert any(u.text.strip() for u in of("ok-never-ends"))

    print(json.dumps({
        "cases_tried": len(DEAD_LETTERS) + len(HANDLED), "refused_cases": len(DEAD_LETTERS),
        "dead_letters": len(letters), "handled_cases": len(HANDLED),
        "valid_turns": len(valid_label["transcript"]), "lost_valid_utterances": lost,
        "valid_escalation_alerts": len(escalations), "timed_out_channels": 2,
        "noise_utterances": len(noise), "monologue_pieces": len(monologue),
        "worker_ready_s": round(ready_s, 1), "replay_s": round(replay_s, 1), "total_s": round(total_s, 1),
        "dead_letters_by_label": {f"{s}/{r}": int(v) for (s, r), v in sorted(counted.items())},
    }, indent=1))
