"""Call-file reading, resampling and PCM conversion (pipeline/audio/pcm.py)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from callradar.pipeline.audio.pcm import (
    AudioFileError,
    StreamResampler,
    float_to_pcm16_bytes,
    int16_to_float,
    pcm16_bytes_to_float,
    read_call_audio,
    resample,
    to_wire_rate,
)


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize("from_rate,to_rate", [(8000, 16000), (44100, 16000), (48000, 16000), (22050, 16000), (16000, 8000)])
def test_resample_keeps_frequency_and_length_ratio(from_rate, to_rate):
    x = sine(440.0, from_rate, 1.0)
    y = resample(x, from_rate, to_rate)
    assert y.dtype == np.float32
    assert len(y) == pytest.approx(len(x) * to_rate / from_rate, abs=1)
    assert peak_frequency(y, to_rate) == pytest.approx(440.0, abs=2.0)
    # Away from the edges the amplitude is unchanged.
    assert np.abs(y[len(y) // 4 : -len(y) // 4]).max() == pytest.approx(0.5, abs=0.01)


def test_resample_int16_stays_int16():
    x = (sine(300.0, 8000, 0.5) * 32767).astype(np.int16)
    y = resample(x, 8000, 16000)
    assert y.dtype == np.int16
    assert len(y) == 2 * len(x)
    assert peak_frequency(y.astype(np.float32), 16000) == pytest.approx(300.0, abs=2.0)


def test_resample_same_rate_is_a_copy():
    x = sine(300.0, 16000, 0.1)
    y = resample(x, 16000, 16000)
    assert np.array_equal(x, y) and y is not x


@pytest.mark.parametrize("from_rate,to_rate", [(8000, 16000), (44100, 16000)])
def test_stream_resampler_matches_one_shot(from_rate, to_rate):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(from_rate) * 0.1).astype(np.float32)
    stream = StreamResampler(from_rate, to_rate)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, from_rate // 10))
        parts.append(stream.process(x[i : i + n]))
        i += n
    parts.append(stream.flush())
    y = np.concatenate(parts)
    expected = resample(x, from_rate, to_rate)
    assert len(y) == len(expected)
    assert np.allclose(y, expected, atol=1e-6)


def stream_in_chunks(x: np.ndarray, chunk: int, from_rate: int = 8000) -> tuple[np.ndarray, list[int]]:
    """The streamed 16 kHz output (flush included), and how many samples each chunk returned."""
    stream = StreamResampler(from_rate, 16000)
    parts = [stream.process(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    sizes = [len(p) for p in parts]
    return np.concatenate([*parts, stream.flush()]), sizes


def test_stream_resampler_puts_each_sample_at_its_time_on_the_call_clock():
    """The segmenter's timestamps count output samples: input sample k must land on output 2k."""
    for at in (1000, 1003, 4159):  # inside a chunk, and one before a 320-sample chunk boundary
        x = np.zeros(8000, np.float32)
        x[at] = 1.0
        y, _ = stream_in_chunks(x, 320)
        assert len(y) == 16000
        assert int(np.argmax(np.abs(y))) == 2 * at
        assert y[2 * at - 1] == pytest.approx(y[2 * at + 1], abs=1e-4)  # centred there, not half a sample off


@pytest.mark.parametrize("chunk_ms", [20, 40, 100])
def test_stream_resampler_returns_every_chunk_at_once(chunk_ms):
    """Each wire chunk gives its own length of output (after a fixed 20-sample lag on the first):
    the stage stands in a lost chunk's silence from that length and ties each chunk's capture
    time to its output position, so a resampler that buffers or bursts would skew both."""
    chunk = 8 * chunk_ms
    x = (np.random.default_rng(2).standard_normal(50 * chunk) * 0.1).astype(np.float32)
    y, sizes = stream_in_chunks(x, chunk)
    assert sizes == [2 * chunk - 20] + [2 * chunk] * 49
    assert len(y) == 2 * len(x)


def test_stream_resampler_is_faithful_in_the_telephone_band():
    """Band-limited noise (below 3.4 kHz) against ideal (FFT) 2x: 58 dB now; a filter or a
    half-sample slip that costs quality falls well under 50 dB."""
    rng = np.random.default_rng(3)
    spectrum = np.fft.rfft(rng.standard_normal(16000))
    spectrum[np.fft.rfftfreq(16000, 1 / 8000) > 3400] = 0
    x = (np.fft.irfft(spectrum, 16000) * 0.1).astype(np.float32)
    ideal = np.fft.irfft(np.concatenate([np.fft.rfft(x.astype(np.float64)), np.zeros(8000)]) * 2, 32000)
    y, _ = stream_in_chunks(x, 320)
    assert len(y) == len(ideal)
    inner = slice(4000, -4000)  # the FFT reference wraps around at the ends
    error = np.sum((y[inner] - ideal[inner]) ** 2)
    assert 10 * np.log10(np.sum(ideal[inner] ** 2) / error) > 50


# ---------------------------------------------------------------- PCM and rates


def test_pcm_bytes_round_trip():
    samples = np.array([-32768, -1, 0, 1, 12345, 32767], dtype="<i2")
    floats = pcm16_bytes_to_float(samples.tobytes())
    assert floats.dtype == np.float32
    assert floats.min() >= -1.0 and floats.max() < 1.0
    assert float_to_pcm16_bytes(floats) == samples.tobytes()
    assert np.array_equal(int16_to_float(samples), floats)


def test_float_to_pcm_clips():
    out = np.frombuffer(float_to_pcm16_bytes(np.array([-2.0, 2.0], dtype=np.float32)), dtype="<i2")
    assert out.tolist() == [-32768, 32767]


@pytest.mark.parametrize("rate,wire", [(8000, 8000), (16000, 16000), (22050, 16000), (44100, 16000), (48000, 16000)])
def test_to_wire_rate(rate, wire):
    assert to_wire_rate(rate) == wire


# ---------------------------------------------------------------- call files


def write(path, data: np.ndarray, rate: int, **kwargs):
    sf.write(str(path), data, rate, subtype="PCM_16", **kwargs)
    return path


def two_tones(rate: int, seconds: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    return sine(300.0, rate, seconds), sine(1000.0, rate, seconds)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_stereo_file_agent_left(tmp_path, rate, suffix):
    left, right = two_tones(rate)
    path = write(tmp_path / f"call.{suffix}", np.stack([left, right], axis=1), rate)
    got_rate, agent, customer = read_call_audio(path)
    assert got_rate == rate
    assert agent.dtype == customer.dtype == np.int16
    assert len(agent) == len(customer) == len(left)
    assert peak_frequency(agent.astype(np.float32), rate) == pytest.approx(300.0, abs=5)
    assert peak_frequency(customer.astype(np.float32), rate) == pytest.approx(1000.0, abs=5)


def test_stereo_layout_swaps_sides(tmp_path):
    left, right = two_tones(16000)
    path = write(tmp_path / "call.wav", np.stack([left, right], axis=1), 16000)
    _, agent, customer = read_call_audio(str(path), layout="stereo-agent-right")
    assert peak_frequency(agent.astype(np.float32), 16000) == pytest.approx(1000.0, abs=5)
    assert peak_frequency(customer.astype(np.float32), 16000) == pytest.approx(300.0, abs=5)


def test_mono_pair_is_padded_to_the_longer(tmp_path):
    agent_path = write(tmp_path / "agent.wav", sine(300.0, 8000, 1.0), 8000)
    customer_path = write(tmp_path / "customer.wav", sine(1000.0, 8000, 0.5), 8000)
    rate, agent, customer = read_call_audio([agent_path, customer_path])
    assert rate == 8000
    assert len(agent) == len(customer) == 8000
    assert not customer[4000:].any()
    assert np.abs(customer[:4000]).max() > 10000


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match="no such file; check the path"):
        read_call_audio(tmp_path / "nope.wav")


def test_corrupt_file(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(50))
    with pytest.raises(AudioFileError, match="cannot be read as audio.*corrupt"):
        read_call_audio(path)


def test_directory_is_refused(tmp_path):
    with pytest.raises(AudioFileError, match="is not a file"):
        read_call_audio(tmp_path)


def test_single_mono_file_needs_a_partner(tmp_path):
    path = write(tmp_path / "mono.wav", sine(300.0, 16000, 0.2), 16000)
    with pytest.raises(AudioFileError, match="has 1 channel.*needs exactly 2"):
        read_call_audio(path)


def test_three_channels_refused(tmp_path):
    path = write(tmp_path / "three.wav", np.zeros((1600, 3), dtype=np.float32), 16000)
    with pytest.raises(AudioFileError, match="has 3 channel"):
        read_call_audio(path)


def test_stereo_file_in_a_pair_refused(tmp_path):
    stereo = write(tmp_path / "stereo.wav", np.zeros((1600, 2), dtype=np.float32), 16000)
    mono = write(tmp_path / "mono.wav", np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(AudioFileError, match="must be mono"):
        read_call_audio([stereo, mono])


def test_pair_with_different_rates_refused(tmp_path):
    a = write(tmp_path / "agent.wav", sine(300.0, 8000, 0.2), 8000)
    c = write(tmp_path / "customer.wav", sine(300.0, 16000, 0.2), 16000)
    with pytest.raises(AudioFileError, match="sample rates differ.*8000 Hz.*16000 Hz"):
        read_call_audio([a, c])


def test_empty_file_refused(tmp_path):
    path = write(tmp_path / "empty.wav", np.zeros((0, 2), dtype=np.float32), 16000)
    with pytest.raises(AudioFileError, match="no audio"):
        read_call_audio(path)


def test_wrong_number_of_files_and_unknown_layout(tmp_path):
    with pytest.raises(AudioFileError, match="got 3 files"):
        read_call_audio([tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"])
    with pytest.raises(AudioFileError, match="unknown layout"):
        read_call_audio(tmp_path / "a.wav", layout="mono")


def test_audio_file_error_is_a_value_error():
    assert issubclass(AudioFileError, ValueError)
