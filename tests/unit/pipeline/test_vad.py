"""Streaming utterance segmentation (pipeline/audio/segmenter.py) on synthetic speech-like audio."""

from __future__ import annotations

import numpy as np
import pytest

from callradar.pipeline.audio.segmenter import UtteranceSegmenter

RATE = 16000
FRAME = 320  # 20 ms
TOLERANCE = 2 * FRAME  # boundaries within two frames


def voice(seconds: float, amplitude: float = 0.25, f0: float = 140.0) -> np.ndarray:
    """Speech-like: a harmonic complex in 200 ms syllables with 50 ms dips 30 dB down, 5 ms ramps.

    The dips matter: like real speech, and unlike a steady tone, the sound falls
    back towards the noise floor between syllables.
    """
    t = np.arange(int(RATE * seconds)) / RATE
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    syllables = np.where(((t % 0.25) < 0.2) | (t >= seconds - 0.2), 1.0, 0.03)
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    envelope = np.convolve(syllables, np.ones(80) / 80, mode="same") * ramp
    return (amplitude * x / np.abs(x).max() * envelope).astype(np.float32)


def call(bursts: list[tuple[float, float]], total_s: float, noise_dbfs: float | None = None, seed: int = 0):
    """Bursts of voice at (start_s, duration_s) on silence or on white noise at noise_dbfs RMS."""
    x = np.zeros(int(RATE * total_s), dtype=np.float32)
    if noise_dbfs is not None:
        rng = np.random.default_rng(seed)
        x += (rng.standard_normal(len(x)) * 10 ** (noise_dbfs / 20)).astype(np.float32)
    for start, duration in bursts:
        b = voice(duration)
        i = int(start * RATE)
        x[i : i + len(b)] += b
    return x


def run(x: np.ndarray, chunk: int = 1600, **kwargs) -> list:
    seg = UtteranceSegmenter(**kwargs)
    out = []
    for i in range(0, len(x), chunk):
        out += seg.feed(x[i : i + chunk])
    return out + seg.flush()


def assert_boundaries(segments, bursts):
    assert len(segments) == len(bursts), [(s.start_s, s.end_s) for s in segments]
    for s, (start, duration) in zip(segments, bursts):
        assert abs(s.start_sample - start * RATE) <= TOLERANCE
        assert abs(s.end_sample - (start + duration) * RATE) <= TOLERANCE


def test_bursts_separated_by_silence():
    bursts = [(0.5, 1.2), (2.7, 0.6), (4.3, 2.0)]
    segments = run(call(bursts, 7.5))
    assert_boundaries(segments, bursts)
    assert [s.index for s in segments] == [0, 1, 2]
    assert not any(s.forced_cut for s in segments)


def test_end_silence_rule():
    # A 300 ms pause is inside the utterance; a 500 ms pause ends it (end silence 400 ms).
    joined = run(call([(0.5, 1.0), (1.8, 1.0)], 4.0))
    assert_boundaries(joined, [(0.5, 2.3)])
    split = run(call([(0.5, 1.0), (2.0, 1.0)], 4.0))
    assert_boundaries(split, [(0.5, 1.0), (2.0, 1.0)])
    longer_end = run(call([(0.5, 1.0), (2.0, 1.0)], 4.0), end_silence_ms=600)
    assert len(longer_end) == 1


def test_utterance_is_emitted_once_the_end_silence_has_passed():
    x = call([(0.5, 1.0)], 3.0)
    seg = UtteranceSegmenter()
    end = int(1.5 * RATE)
    assert seg.feed(x[: end + int(0.38 * RATE)]) == []  # 380 ms of pause: not yet
    assert seg.in_utterance
    done = seg.feed(x[end + int(0.38 * RATE) : end + int(0.44 * RATE)])
    assert len(done) == 1 and not seg.in_utterance


def test_max_length_cut_keeps_the_audio_contiguous():
    segments = run(call([(0.5, 20.0)], 21.5), max_utterance_s=15.0)
    assert len(segments) == 2
    first, second = segments
    assert first.forced_cut and not second.forced_cut
    assert 14.0 <= first.duration_s <= 15.0
    assert first.end_sample == second.start_sample
    assert abs(first.start_sample - 0.5 * RATE) <= TOLERANCE
    assert abs(second.end_sample - 20.5 * RATE) <= TOLERANCE
    # No padding at the cut: the two pieces' audio does not overlap.
    assert first.audio_start_sample + len(first.audio) == second.start_sample == second.audio_start_sample


def test_max_length_cut_lands_between_syllables():
    x = call([(0.5, 12.0)], 13.5)
    first, second = run(x, max_utterance_s=10.0)
    around_cut = x[first.end_sample - 160 : first.end_sample + 160]
    assert np.sqrt(np.mean(around_cut**2)) < 0.2 * np.sqrt(np.mean(x[RATE : 2 * RATE] ** 2))


def test_flush_closes_an_open_utterance():
    x = call([(0.5, 1.0)], 1.5)  # the call ends mid-speech
    seg = UtteranceSegmenter()
    assert seg.feed(x) == []
    (last,) = seg.flush()
    assert abs(last.end_sample - 1.5 * RATE) <= TOLERANCE
    assert seg.flush() == []
    with pytest.raises(RuntimeError, match="flushed"):
        seg.feed(x[:320])


def test_short_blips_are_dropped_and_do_not_use_an_index():
    segments = run(call([(0.5, 0.15), (1.5, 0.3), (2.5, 0.8)], 4.0), min_speech_ms=250)
    assert_boundaries(segments, [(1.5, 0.3), (2.5, 0.8)])
    assert [s.index for s in segments] == [0, 1]


def test_clicks_do_not_start_utterances():
    x = np.zeros(3 * RATE, dtype=np.float32)
    for at in (0.5, 1.2, 2.0):  # 40 ms clicks, loud
        i = int(at * RATE)
        x[i : i + 640] = 0.3 * np.sign(np.sin(np.arange(640) / 3))
    assert run(x) == []


@pytest.mark.parametrize("noise_dbfs", [-60.0, -48.0, -40.0])
def test_bursts_over_background_noise_still_separate(noise_dbfs):
    bursts = [(1.0, 1.2), (3.0, 0.8), (4.5, 2.0)]
    segments = run(call(bursts, 8.0, noise_dbfs=noise_dbfs))
    assert_boundaries(segments, bursts)


def test_noise_alone_is_not_speech():
    assert run(call([], 10.0, noise_dbfs=-35.0)) == []
    assert run(np.zeros(5 * RATE, dtype=np.float32)) == []


def test_chunk_size_does_not_change_segments():
    bursts = [(0.3, 1.0), (1.9, 0.5), (2.9, 0.2), (3.5, 4.0), (8.0, 0.7)]
    x = call(bursts, 10.0, noise_dbfs=-45.0, seed=3)
    reference = run(x, chunk=320, max_utterance_s=3.0)
    assert len(reference) >= 5
    for chunk in (100, 1600, 7777, len(x)):
        other = run(x, chunk=chunk, max_utterance_s=3.0)
        assert [(s.index, s.start_sample, s.end_sample, s.forced_cut) for s in other] == [
            (s.index, s.start_sample, s.end_sample, s.forced_cut) for s in reference
        ]
        for a, b in zip(reference, other):
            assert a.audio_start_sample == b.audio_start_sample
            assert np.array_equal(a.audio, b.audio)


def test_padding_pre_roll_and_tail():
    (seg,) = run(call([(1.0, 1.0)], 3.0), preroll_ms=200, tail_ms=100)
    assert seg.audio_start_sample == seg.start_sample - int(0.2 * RATE)
    assert len(seg.audio) == seg.end_sample - seg.start_sample + int(0.3 * RATE)
    assert seg.audio.dtype == np.float32
    # Near the channel start the pre-roll is cut short rather than invented.
    (early,) = run(call([(0.1, 1.0)], 2.0), preroll_ms=200)
    assert early.audio_start_sample == 0


def test_memory_stays_bounded_on_a_long_call():
    bursts = [(t, 1.5) for t in np.arange(0.5, 120, 2.5)]
    x = call(bursts, 120.0, noise_dbfs=-50.0)
    seg = UtteranceSegmenter()
    count, most = 0, 0
    for i in range(0, len(x), 1600):
        count += len(seg.feed(x[i : i + 1600]))
        most = max(most, seg.buffered_samples)
    assert count == len(bursts)
    assert most < 3 * RATE  # the longest utterance plus pre-roll and a chunk, not the call


def test_from_settings_uses_the_settings_values():
    from callradar.pipeline.settings import load_settings

    settings = load_settings({}, vad_end_silence_ms=600, vad_max_utterance_s=5.0, vad_min_speech_ms=100)
    seg = UtteranceSegmenter.from_settings(settings)
    assert seg.end_silence_frames == 30
    assert seg.max_frames == 250
    assert seg.min_speech_samples == 1600
