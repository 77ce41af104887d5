"""The product fixes the bad-input corpus (tests/fixtures/bad_inputs.py) found, without Kafka.

Before them: a 400-digit number raised OverflowError in a record's type check,
a 5000-digit one ValueError and deep nesting RecursionError inside json.loads,
1e999 nested in a score passed and then broke encoding the alert, a lone
surrogate in a transcript crashed the text encoder, a corrupt seq allocated
terabytes of "silence", a dead letter of an oversize message was too big to
send, and a call that never ended could only be closed after a fixed 60 s.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from fixtures.bad_inputs import DEAD_LETTERS, HANDLED, SCORE_FILE_LINES

from callradar.pipeline.cli.score import BadLine, parse_line
from callradar.pipeline.metrics import PrometheusMetrics, reason_category
from callradar.pipeline.records import (
    MAX_DEAD_LETTER_VALUE_BYTES,
    CallEvent,
    ChannelEnd,
    DeadLetter,
    MalformedMessage,
    Score,
    Utterance,
    decode_audio_message,
    is_finite_number,
    load_json,
)
from callradar.pipeline.settings import SettingsError, load_settings
from callradar.pipeline.stages.transcribe import MAX_LEADING_GAP_S, MAX_SEQ_GAP_S, TranscribeProcessor

DECODERS = {"events": CallEvent, "transcripts": Utterance, "scores": Score}


def _feed(processor: TranscribeProcessor, msg) -> None:
    if msg.topic != "audio":
        DECODERS[msg.topic].decode(msg.value)
        return
    decoded = decode_audio_message(msg.key.encode(), msg.value, msg.headers)
    if isinstance(decoded, ChannelEnd):
        processor.end_channel(decoded.call_id, decoded.channel)
    else:
        processor.on_chunk(decoded, 1.0)


def test_the_corpus_is_big_enough_and_its_ids_are_unique():
    ids = [c.id for c in DEAD_LETTERS] + [h[0] for h in HANDLED]
    assert len(ids) == len(set(ids))
    assert len(DEAD_LETTERS) + len(HANDLED) + len(SCORE_FILE_LINES) >= 25
    assert {c.topic for c in DEAD_LETTERS} == {"audio", "events", "transcripts", "scores"}


@pytest.mark.parametrize("case", DEAD_LETTERS, ids=lambda c: c.id)
def test_each_case_is_refused_with_its_reason_and_category(case):
    processor = TranscribeProcessor(load_settings())
    for msg in case.messages[:-1]:
        _feed(processor, msg)  # set-up: accepted
    with pytest.raises(MalformedMessage) as refused:
        _feed(processor, case.messages[-1])
    reason = str(refused.value)
    assert case.says in reason
    assert reason_category(reason) == case.category
    for msg in case.after:
        _feed(processor, msg)
    assert not processor.tracks, "every case closes the channels it opens"


@pytest.mark.parametrize("raw, says", [
    (b'{"a": 1' + b"0" * 400 + b"}", "401 digits"),
    (b'{"a": 1' + b"0" * 5000 + b"}", "5001 digits"),  # json.loads raised ValueError (int max str digits)
    (b"[" * 50_000 + b"]" * 50_000, "nested deeper"),  # json.loads raised RecursionError
    (b'{"a": [' * 33 + b"1" + b"]}" * 33, "nested deeper"),
    (b'{"a": [{"b": -1e999}]}', "out of range"),
    (b'{"a": "x\\udbff"}', "lone surrogate \\udbff"),
    (b'{"\\udbff": 1}', "lone surrogate"),
    ('{"a": 1}'.encode("utf-32"), "not UTF-8"),
])
def test_load_json_refuses_what_json_loads_lets_through_or_crashes_on(raw, says):
    with pytest.raises(MalformedMessage) as refused:
        load_json(raw)
    assert says in str(refused.value)


def test_load_json_keeps_what_is_fine():
    assert load_json(b'{"t": "caf\\u00e9 \\ud83d\\ude00", "n": -12345678901234567890, "f": 1.5e300}') == {
        "t": "café 😀", "n": -12345678901234567890, "f": 1.5e300}


def test_is_finite_number_never_raises():
    assert is_finite_number(3) and is_finite_number(-2.5)
    assert not any(is_finite_number(x) for x in (10**400, float("nan"), float("inf"), True, "1", None))


def test_a_record_built_from_a_python_dict_with_a_huge_int_is_refused_not_crashed():
    doc = {"call_id": "c", "event": "started", "ts": 10**400}
    with pytest.raises(MalformedMessage, match="ts must be a finite number"):
        CallEvent.from_dict(doc)


def test_json_messages_over_the_size_limit_are_refused_before_parsing():
    big = json.dumps({"call_id": "c", "event": "started", "ts": 1.0, "metadata": {"x": "y" * 70_000}})
    with pytest.raises(MalformedMessage, match="over the 65536 byte limit"):
        CallEvent.decode(big.encode())
    with pytest.raises(MalformedMessage, match="over the 65536 byte limit"):
        CallEvent.decode(big)  # str: counted in UTF-8 bytes too


def test_a_dead_letter_of_an_oversize_message_fits_in_a_kafka_message_and_says_it_was_cut():
    value = bytes(range(256)) * 4000  # 1 024 000 bytes
    letter = DeadLetter.refused("score", "calls.transcripts", "too big", b"k\xff", value,
                                [("h", b"\x00"), (b"g", "text")], ts=5.0)
    encoded = letter.encode()
    assert len(encoded) < 1_000_000  # Faust's and kafka-python's default max request size
    back = DeadLetter.decode(encoded)
    assert back.value_truncated and back.value_size == len(value)
    assert base64.b64decode(back.value_b64) == value[:MAX_DEAD_LETTER_VALUE_BYTES]
    assert back.key == "k\ufffd" and back.headers == {"h": "AA==", "g": "dGV4dA=="}
    small = DeadLetter.refused("transcribe", "calls.audio", "odd", "c1", b"\x01\x02\x03", {"seq": b"1"}, 1.0)
    assert not small.value_truncated and small.value_size == 3 and base64.b64decode(small.value_b64) == b"\x01\x02\x03"


def test_new_reason_categories():
    assert reason_category("utterance: message of 70000 bytes is over the 65536 byte limit") == "oversize"
    assert reason_category("chunk longer than 1.0 s; send 20-100 ms chunks") == "oversize"
    assert reason_category("sequence number 9 on c/agent is 8 chunks (500.0 s of audio) past the expected 1; "
                           "a jump over 120 s is refused as corrupt") == "seq_gap"


def _chunk(call_id, seq, seconds=0.04, value=0):
    from callradar.pipeline.records import AudioChunk

    # 16 kHz, the model rate: no resampler delay, so sample counts are exact
    return AudioChunk(call_id, "customer", seq, 16000, 1.0 + seq * seconds,
                      np.full(int(16000 * seconds), value, "<i2").tobytes())


def test_a_seq_jump_past_the_limit_is_refused_and_the_channel_goes_on_at_the_expected_seq():
    processor = TranscribeProcessor(load_settings())
    processor.on_chunk(_chunk("c", 0), 1.0)
    too_far = int(MAX_SEQ_GAP_S / 0.04) + 2
    with pytest.raises(MalformedMessage, match="past the expected 1"):
        processor.on_chunk(_chunk("c", too_far), 1.0)
    processor.on_chunk(_chunk("c", 1), 1.0)  # the stream goes on as if the corrupt chunk never came
    track = processor.tracks[("c", "customer")]
    assert track.next_seq == 2 and track.samples_fed == 2 * 640


def test_a_gap_within_the_limit_is_filled_with_silence_in_bounded_pieces():
    processor = TranscribeProcessor(load_settings())
    processor.on_chunk(_chunk("c", 0), 1.0)
    gap = int(MAX_SEQ_GAP_S / 0.04) - 1  # just under the limit
    processor.on_chunk(_chunk("c", gap + 1), 1.0)
    track = processor.tracks[("c", "customer")]
    assert track.samples_fed == (gap + 2) * 640  # call time kept: 16 kHz samples
    assert track.segmenter.buffered_samples < 16000 * 12  # never the whole gap in memory


def test_a_channel_first_seen_mid_call_is_accepted_up_to_an_hour_in():
    processor = TranscribeProcessor(load_settings())
    processor.on_chunk(_chunk("late", int(600 / 0.04)), 1.0)  # a worker that joins 10 minutes in
    assert processor.tracks[("late", "customer")].samples_fed == (int(600 / 0.04) + 1) * 640
    with pytest.raises(MalformedMessage, match="starts over 3600 s in"):
        processor.on_chunk(_chunk("corrupt", int(MAX_LEADING_GAP_S / 0.04) + 10), 1.0)


def test_the_idle_timeout_comes_from_settings_and_is_counted(monkeypatch):
    monkeypatch.setenv("CALLRADAR_CHANNEL_IDLE_TIMEOUT_S", "6")
    processor = TranscribeProcessor(load_settings())
    assert processor.idle_timeout_s == 6.0
    speech = _chunk("never-ends", 0, seconds=1.0, value=0)
    processor.on_chunk(speech, now=100.0)
    assert processor.evict_idle(105.0) == [] and processor.timed_out == 0
    processor.evict_idle(106.5)
    assert processor.timed_out == 1 and not processor.tracks
    with pytest.raises(MalformedMessage, match="after its channel ended"):
        processor.on_chunk(_chunk("never-ends", 1), now=107.0)
    assert TranscribeProcessor(load_settings(), idle_timeout_s=2.0).idle_timeout_s == 2.0


def test_the_idle_timeout_must_be_positive(monkeypatch):
    monkeypatch.setenv("CALLRADAR_CHANNEL_IDLE_TIMEOUT_S", "0")
    with pytest.raises(SettingsError, match="CHANNEL_IDLE_TIMEOUT_S"):
        load_settings()


def test_at_least_one_whisper_worker(monkeypatch):
    monkeypatch.setenv("CALLRADAR_WHISPER_WORKERS", "0")
    with pytest.raises(SettingsError, match="WHISPER_WORKERS must be at least 1"):
        load_settings()
    monkeypatch.setenv("CALLRADAR_WHISPER_WORKERS", "2")
    assert load_settings().whisper_workers == 2


def test_timed_out_channels_are_exported():
    metrics = PrometheusMetrics(stages=("transcribe",))
    assert b"callradar_channels_timed_out_total 0.0" in metrics.exposition()[0]
    count = [0]
    metrics.watch_timed_out_channels(lambda: count[0])
    count[0] = 3
    assert b"callradar_channels_timed_out_total 3.0" in metrics.exposition()[0]


@pytest.mark.parametrize("what, line, says", SCORE_FILE_LINES, ids=[w for w, _, _ in SCORE_FILE_LINES])
def test_score_file_lines_are_refused_not_crashed(what, line, says):
    with pytest.raises(BadLine) as refused:
        parse_line(line)
    assert says in str(refused.value)


def test_callradar_score_reports_each_bad_line_by_number_and_scores_the_rest(tmp_path, capsys, monkeypatch):
    from callradar.pipeline.cli.main import main

    monkeypatch.setenv("CALLRADAR_MODELS_DIR", str(tmp_path / "registry"))  # never the checkout's registry
    good = [json.dumps({"call_id": "c1", "speaker": "customer", "start": float(i), "end": i + 1.0,
                        "text": text}).encode()
            for i, text in enumerate(["Hello there.", "I want to cancel my account.", "Thanks."])]
    bad = [line for _, line, _ in SCORE_FILE_LINES]
    lines = [good[0], *bad, good[1], good[2]]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    status = main(["score", "--quiet", str(path)])
    out, err = capsys.readouterr()
    assert status == 1
    refused = [line for line in err.splitlines() if ": refused: " in line]
    assert [int(line.split(":")[1]) for line in refused] == list(range(2, 2 + len(bad)))
    for (_, _, says), line in zip(SCORE_FILE_LINES, refused):
        assert says in line
    scored = [json.loads(line) for line in out.splitlines() if '"utterance_score"' in line]
    assert [r["line"] for r in scored] == [1, 2 + len(bad), 3 + len(bad)]
