"""Record encode/decode: round trips, and every refusal says why."""

import json

import pytest

from callradar.pipeline.records import (
    Alert,
    AudioChunk,
    CallEvent,
    ChannelEnd,
    MalformedMessage,
    Score,
    Topics,
    Utterance,
    decode_audio_chunk,
    decode_audio_message,
)


def chunk(**kw):
    base = dict(call_id="c1", channel="customer", seq=3, sample_rate=8000, capture_ts=1700000000.5,
                pcm=b"\x01\x00" * 320)
    base.update(kw)
    return AudioChunk(**base)


def test_audio_chunk_round_trips_through_headers():
    c = chunk()
    assert decode_audio_chunk(b"c1", c.pcm, c.headers()) == c
    assert decode_audio_chunk(b"c1", c.pcm, dict(c.headers())) == c  # Faust hands headers as a dict
    assert c.duration_s == pytest.approx(0.04)


def test_end_marker_decodes_in_band():
    end = ChannelEnd("c1", "agent", 42)
    assert decode_audio_message(b"c1", b"", end.headers()) == end
    c = chunk()
    assert decode_audio_message(b"c1", c.pcm, c.headers()) == c


def _without(headers, name):
    return [(k, v) for k, v in headers if k != name]


def _with(headers, name, value):
    return [(k, value if k == name else v) for k, v in headers]


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda h, p: (_without(h, "call_id"), p), "missing header 'call_id'"),
        (lambda h, p: (_without(h, "seq"), p), "missing header 'seq'"),
        (lambda h, p: (_with(h, "channel", b"supervisor"), p), "expected agent or customer"),
        (lambda h, p: (_with(h, "seq", b"-1"), p), "negative sequence number"),
        (lambda h, p: (_with(h, "seq", b"three"), p), "non-numeric header"),
        (lambda h, p: (_with(h, "sample_rate", b"22050"), p), "unsupported sample rate 22050"),
        (lambda h, p: (_with(h, "encoding", b"mulaw"), p), "unsupported encoding"),
        (lambda h, p: (_with(h, "capture_ts", b"nan"), p), "not a valid time"),
        (lambda h, p: (_with(h, "call_id", b"\xff\xfe"), p), "not UTF-8"),
        (lambda h, p: (h, p[:-1]), "not whole 16-bit samples"),
        (lambda h, p: (h, b""), "no PCM payload"),
        (lambda h, p: (h, b"\x00\x00" * 16001), "longer than"),
        (lambda h, p: (None, p), "no headers"),
        (lambda h, p: (_with(h, "v", b"2"), p), "unsupported version '2' in header 'v'"),
        (lambda h, p: (_with(h, "v", b"1.0"), p), "unsupported version '1.0'"),
        (lambda h, p: (_without(h, "v"), p), "missing header 'v'"),
    ],
)
def test_malformed_audio_chunks_are_refused_with_a_reason(mutate, reason):
    c = chunk()
    headers, payload = mutate(c.headers(), c.pcm)
    with pytest.raises(MalformedMessage, match=reason):
        decode_audio_chunk(b"c1", payload, headers)


def test_audio_version_is_checked_before_the_other_headers():
    """A later version may lay its headers out differently: refuse it for its version, not for a header."""
    c = chunk()
    v2 = [(k, b"2" if k == "v" else v) for k, v in c.headers() if k != "seq"]
    with pytest.raises(MalformedMessage, match="audio chunk: unsupported version '2'"):
        decode_audio_message(b"c1", c.pcm, v2)


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda h: _with(h, "v", b"2"), "end marker: unsupported version '2'"),
        (lambda h: _without(h, "v"), "end marker is missing header 'v'"),
    ],
)
def test_end_marker_version_is_checked(mutate, reason):
    with pytest.raises(MalformedMessage, match=reason):
        decode_audio_message(b"c1", b"", mutate(ChannelEnd("c1", "agent", 42).headers()))


def test_key_must_match_call_id():
    c = chunk()
    with pytest.raises(MalformedMessage, match="differs from header call_id"):
        decode_audio_chunk(b"other", c.pcm, c.headers())


def test_json_records_round_trip_with_version():
    u = Utterance("c1/customer/0", "c1", "customer", 0, 1.0, 2.5, "I want a supervisor", 0.8, 1700000002.5)
    doc = json.loads(u.encode())
    assert doc["v"] == 1 and doc["type"] == "utterance"
    assert Utterance.decode(u.encode()) == u
    e = CallEvent("c1", "started", 1.0, agent_id="a7", queue="billing", customer_tier="gold")
    assert CallEvent.decode(e.encode()) == e
    a = Alert("id1", "escalation_risk", "c1", "c1/customer/0", 0.9, "supervisor_request", [], "risk high",
              call_time=2.5)
    assert Alert.decode(a.encode()) == a


def test_unknown_fields_are_ignored_for_forward_compatibility():
    doc = json.loads(CallEvent("c1", "ended", 2.0).encode())
    doc["future_field"] = {"x": 1}
    assert CallEvent.decode(json.dumps(doc)).event == "ended"


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"call_id": "c1"}', "missing field"),
        (b'{"v": 99, "call_id": "c1"}', "unsupported version"),
        (b'{"call_id":"c1","event":"paused","ts":1}', "not started or ended"),
        (b'{"call_id":"c1","event":"started","ts":NaN}', "NaN is not allowed"),
        (None, "empty message"),
    ],
)
def test_malformed_json_events_are_refused(raw, reason):
    with pytest.raises(MalformedMessage, match=reason):
        CallEvent.decode(raw)


def test_utterance_times_must_be_ordered():
    bad = Utterance("c1/agent/0", "c1", "agent", 0, 3.0, 2.0, "x", 0.5, 1.0)
    with pytest.raises(MalformedMessage, match="start <= end"):
        Utterance.decode(bad.encode())


def test_score_risk_must_be_a_probability():
    doc = json.loads(Score("u", "c1", "customer", 0, 1, "t", "neutral", {}, 0, 0, [], 0.5, [], "v", 1.0).encode())
    doc["risk"] = 1.5
    with pytest.raises(MalformedMessage, match=r"risk must be in \[0, 1\]"):
        Score.from_dict(doc)


def test_topic_prefix_applies_to_every_topic():
    t = Topics("test-")
    assert all(name.startswith("test-calls.") for name in t.all())
    assert len(set(t.all())) == len(Topics.NAMES)
