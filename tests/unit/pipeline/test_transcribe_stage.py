"""Transcribe stage logic (no Kafka, no model): chunks in, pending utterances out."""

import numpy as np
import pytest

from callradar.pipeline.records import AudioChunk, MalformedMessage
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.transcribe import TranscribeProcessor

RATE = 8000
CHUNK = 320  # 40 ms at 8 kHz


def voiced(seconds: float, rate: int = RATE) -> np.ndarray:
    """A speech-like harmonic signal: low zero-crossing rate, well above silence."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 150 * t) + 0.15 * np.sin(2 * np.pi * 300 * t) + 0.05 * np.sin(2 * np.pi * 450 * t)
    return (x * 32767 * 0.8).astype(np.int16)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.int16)


def chunks(call_id, channel, signal, t0=1000.0, first_seq=0):
    for i in range(0, len(signal), CHUNK):
        seq = first_seq + i // CHUNK
        yield AudioChunk(call_id, channel, seq, RATE, t0 + seq * CHUNK / RATE, signal[i : i + CHUNK].tobytes())


def feed_all(proc, signal, call_id="c1", channel="customer"):
    out = []
    for c in chunks(call_id, channel, signal):
        out += proc.on_chunk(c, now=c.capture_ts)
    return out


@pytest.fixture
def proc():
    return TranscribeProcessor(load_settings(environ={}))


def test_utterances_come_out_with_call_time_and_capture_time(proc):
    signal = np.concatenate([silence(0.5), voiced(1.5), silence(1.0), voiced(1.0), silence(1.0)])
    got = feed_all(proc, signal)
    assert [u.utterance_id for u in got] == ["c1/customer/0", "c1/customer/1"]
    assert got[0].start == pytest.approx(0.5, abs=0.05) and got[0].end == pytest.approx(2.0, abs=0.05)
    assert got[1].start == pytest.approx(3.0, abs=0.05) and got[1].end == pytest.approx(4.0, abs=0.05)
    # Capture time of the last voiced sample: chunks are stamped in real time from t0 = 1000.
    assert got[0].audio_end_ts == pytest.approx(1000.0 + got[0].end, abs=0.01)
    assert got[0].audio.dtype == np.float32 and len(got[0].audio) >= 1.5 * 16000


def test_end_of_channel_flushes_open_speech_and_refuses_later_chunks(proc):
    assert feed_all(proc, np.concatenate([silence(0.3), voiced(1.0)])) == []
    flushed = proc.end_channel("c1", "customer")
    assert len(flushed) == 1 and flushed[0].end == pytest.approx(1.3, abs=0.05)
    late = AudioChunk("c1", "customer", 99, RATE, 1.0, voiced(0.04).tobytes())
    with pytest.raises(MalformedMessage, match="after its channel ended"):
        proc.on_chunk(late, now=1.0)


def test_duplicate_sequence_numbers_are_refused(proc):
    first = next(chunks("c1", "agent", silence(0.04)))
    proc.on_chunk(first, now=1.0)
    with pytest.raises(MalformedMessage, match="already seen"):
        proc.on_chunk(first, now=1.0)


def test_a_gap_keeps_the_call_clock(proc):
    signal = np.concatenate([silence(0.4), voiced(1.0), silence(1.0)])
    all_chunks = list(chunks("c1", "customer", signal))
    got = []
    for c in all_chunks[:3] + all_chunks[5:]:  # chunks 3 and 4 (silence) lost in transit
        got += proc.on_chunk(c, now=c.capture_ts)
    assert len(got) == 1
    assert got[0].start == pytest.approx(0.4, abs=0.05)


def test_channels_and_calls_are_independent(proc):
    a = feed_all(proc, np.concatenate([voiced(1.0), silence(1.0)]), call_id="a", channel="agent")
    b = feed_all(proc, np.concatenate([silence(0.5), voiced(1.0), silence(1.0)]), call_id="b", channel="customer")
    assert [u.utterance_id for u in a] == ["a/agent/0"]
    assert [u.utterance_id for u in b] == ["b/customer/0"]
    assert proc.live_calls == 2


def test_idle_channels_are_closed(proc):
    feed_all(proc, np.concatenate([silence(0.2), voiced(1.0)]))
    assert proc.evict_idle(now=1000.0 + 10) == []  # still within the timeout
    flushed = proc.evict_idle(now=1000.0 + 10_000)
    assert [u.utterance_id for u in flushed] == ["c1/customer/0"]
    assert proc.live_calls == 0
