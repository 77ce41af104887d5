"""Replay: chunking, schedule, headers and end markers, with a fake clock and no Kafka."""

import numpy as np
import pytest

from callradar.pipeline.records import AudioChunk, CallEvent, ChannelEnd, Topics, decode_audio_message
from callradar.pipeline.replay import CallAudio, replay_calls


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def now(self):
        return self.t

    def sleep(self, s):
        self.t += s


def run(calls, **kw):
    sent = []
    clock = FakeClock()
    stats = replay_calls(calls, lambda t, k, v, h: sent.append((t, k, v, h)), Topics(), clock=clock.now,
                         sleep=clock.sleep, **kw)
    return sent, stats, clock


def call(call_id, seconds, rate=8000):
    n = int(seconds * rate)
    return CallAudio(call_id, rate, np.arange(n, dtype=np.int16), -np.arange(n, dtype=np.int16))


def test_each_channel_arrives_whole_in_order_then_ends():
    sent, stats, _ = run([call("a", 1.0)], chunk_ms=40)
    audio = [decode_audio_message(k.encode(), v, h) for t, k, v, h in sent if t == "calls.audio"]
    for channel, expected in (("agent", np.arange(8000)), ("customer", -np.arange(8000))):
        chunks = [m for m in audio if m.channel == channel and isinstance(m, AudioChunk)]
        assert [c.seq for c in chunks] == list(range(25))
        pcm = np.frombuffer(b"".join(c.pcm for c in chunks), "<i2")
        assert np.array_equal(pcm, expected.astype(np.int16))
        ends = [m for m in audio if m.channel == channel and isinstance(m, ChannelEnd)]
        assert len(ends) == 1 and audio.index(ends[0]) > audio.index(chunks[-1])
    assert stats.chunks == 50


def test_started_and_ended_events_bracket_the_audio():
    sent, _, _ = run([call("a", 0.2)], chunk_ms=20)
    topics = [t for t, *_ in sent]
    events = [CallEvent.decode(v) for t, k, v, h in sent if t == "calls.events"]
    assert [e.event for e in events] == ["started", "ended"]
    assert topics[0] == "calls.events" and topics[-1] == "calls.events"


def test_real_time_pacing_and_speed():
    _, stats, _ = run([call("a", 2.0)], chunk_ms=50)
    assert stats.wall_seconds == pytest.approx(2.0, abs=0.06)
    _, fast, _ = run([call("a", 2.0)], chunk_ms=50, speed=4)
    assert fast.wall_seconds == pytest.approx(0.5, abs=0.02)


def test_calls_play_side_by_side_and_shorter_ones_end_first():
    sent, _, _ = run([call("long", 1.0), call("short", 0.4)], chunk_ms=40)
    keys_in_order = [k for t, k, v, h in sent if t == "calls.audio"]
    assert keys_in_order[:4] == ["long", "long", "short", "short"]  # interleaved from the first tick
    ends = [i for i, (t, k, v, h) in enumerate(sent) if t == "calls.events" and b'"ended"' in v]
    assert [sent[i][1] for i in ends] == ["short", "long"]


def test_capture_time_follows_the_schedule():
    sent, _, clock = run([call("a", 0.4)], chunk_ms=40)
    chunks = [decode_audio_message(k.encode(), v, h) for t, k, v, h in sent if t == "calls.audio"]
    agent = [c for c in chunks if isinstance(c, AudioChunk) and c.channel == "agent"]
    gaps = np.diff([c.capture_ts for c in agent])
    assert np.allclose(gaps, 0.04, atol=1e-6)


@pytest.mark.parametrize("kw", [{"chunk_ms": 10}, {"chunk_ms": 150}, {"speed": 0}])
def test_bad_parameters_are_refused(kw):
    with pytest.raises(ValueError):
        run([call("a", 0.2)], **kw)


# ---------------------------------------------------------------- the command's refusals

from callradar.pipeline.cli.main import main  # noqa: E402


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("missing.wav", None, "no such file"),
        ("corrupt.wav", b"RIFF\x00\x00junk", "cannot be read as audio"),
        ("empty.wav", b"", "cannot be read as audio"),
    ],
)
def test_replay_refuses_bad_files_with_a_clear_message(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err


def _tone(freq, seconds, rate, amplitude=8000):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _dominant_hz(x, rate):
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64)))
    return np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize("layout, agent_side", [("stereo-agent-left", 0), ("stereo-agent-right", 1)])
def test_load_call_reads_44k_stereo_at_a_wire_rate_with_the_right_channels(tmp_path, layout, agent_side):
    import soundfile as sf

    from callradar.pipeline.replay import load_call

    agent, customer = _tone(300, 1.0, 44100), _tone(1000, 1.0, 44100)
    sides = [agent, customer] if agent_side == 0 else [customer, agent]
    path = tmp_path / "call-44k.wav"
    sf.write(str(path), np.stack(sides, axis=1), 44100, subtype="PCM_16")
    loaded = load_call([path], layout=layout)
    assert loaded.call_id == "call-44k" and loaded.sample_rate == 16000  # 44.1 kHz travels at 16 kHz
    assert len(loaded.agent) == len(loaded.customer) == pytest.approx(16000, abs=2)
    assert loaded.agent.dtype == loaded.customer.dtype == np.int16
    assert _dominant_hz(loaded.agent, 16000) == pytest.approx(300, abs=2)
    assert _dominant_hz(loaded.customer, 16000) == pytest.approx(1000, abs=2)


def test_load_call_reads_an_agent_customer_mono_pair(tmp_path):
    import soundfile as sf

    from callradar.pipeline.replay import load_call

    sf.write(str(tmp_path / "agent.wav"), _tone(300, 1.0, 8000), 8000, subtype="PCM_16")
    sf.write(str(tmp_path / "customer.wav"), _tone(1000, 0.5, 8000), 8000, subtype="PCM_16")
    loaded = load_call([tmp_path / "agent.wav", tmp_path / "customer.wav"], call_id="pair-1")
    assert loaded.call_id == "pair-1" and loaded.sample_rate == 8000  # a wire rate passes as it is
    assert len(loaded.agent) == len(loaded.customer) == 8000  # the shorter is padded with silence
    assert _dominant_hz(loaded.agent, 8000) == pytest.approx(300, abs=2)
    assert _dominant_hz(loaded.customer[:4000], 8000) == pytest.approx(1000, abs=2)
    assert not loaded.customer[4000:].any()


def test_replay_of_one_mono_file_says_to_use_pair(tmp_path, capsys):
    import soundfile as sf

    path = tmp_path / "agent-only.wav"
    sf.write(str(path), _tone(300, 0.5, 8000), 8000, subtype="PCM_16")
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "has 1 channel" in err and "--pair AGENT CUSTOMER" in err


def test_replay_without_files_says_what_to_give(capsys):
    assert main(["replay"]) == 2
    assert "give at least one FILE" in capsys.readouterr().err
