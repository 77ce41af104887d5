"""Silero VAD segmentation (pipeline/audio/vad.py, SileroSegmenter) and choosing a segmenter by setting.

Fixtures: two cuts of a real 8 kHz call channel (tests/fixtures/audio/README.md): the caller saying
"two weeks ago I got a car from the dealership" (reference words 14.1-18.5 s of the call, so about
0.3-4.7 s into the clip), and 3 s of the same line while only the agent talks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callradar.pipeline.audio.pcm import int16_to_float, resample
from callradar.pipeline.audio.segmenter import SileroSegmenter, UtteranceSegmenter, make_segmenter
from callradar.pipeline.audio.vad import WINDOW, SileroStream
from callradar.pipeline.settings import SettingsError, load_settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
SPEECH = FIXTURES / "auto_repairs_40_caller_13.8-18.8s.wav"
LINE = FIXTURES / "auto_repairs_40_caller_45-48s_line.wav"
RATE = 16000


def clip(path: Path) -> np.ndarray:
    """The fixture at 16 kHz, as the transcribe stage hands audio to the segmenter."""
    data, rate = sf.read(str(path), dtype="int16")
    return resample(int16_to_float(data), rate, RATE)


def run(segmenter, x: np.ndarray, chunk: int) -> list:
    out = []
    for i in range(0, len(x), chunk):
        out += segmenter.feed(x[i : i + chunk])
    return out + segmenter.flush()


def test_speech_in_a_real_call_is_found():
    segments = run(SileroSegmenter(), clip(SPEECH), 640)
    assert segments, "no utterance found in real speech"
    first, last = segments[0], segments[-1]
    # the reference words lie about 0.3-4.7 s into the clip: the segments must hold them
    assert first.start_s <= 0.6 and last.end_s >= 4.4, [(s.start_s, s.end_s) for s in segments]
    assert sum(s.duration_s for s in segments) >= 3.5


def test_silence_and_a_quiet_phone_line_give_no_utterance():
    assert run(SileroSegmenter(), np.zeros(3 * RATE, np.float32), 640) == []
    assert run(SileroSegmenter(), clip(LINE), 640) == []


def test_segments_do_not_depend_on_chunk_size():
    x = np.concatenate([clip(LINE), clip(SPEECH), clip(LINE)])
    runs = {chunk: run(SileroSegmenter(), x, chunk) for chunk in (320, 640, 1600, len(x))}  # 20, 40, 100 ms, all
    reference = [(s.index, s.start_sample, s.end_sample, s.audio_start_sample) for s in runs[320]]
    assert reference
    for chunk, segments in runs.items():
        assert [(s.index, s.start_sample, s.end_sample, s.audio_start_sample) for s in segments] == reference, chunk
        for a, b in zip(segments, runs[320]):
            np.testing.assert_array_equal(a.audio, b.audio)


def test_streamed_probabilities_equal_faster_whispers_whole_file_run():
    from faster_whisper.vad import get_vad_model

    x = clip(SPEECH)
    x = x[: len(x) // WINDOW * WINDOW]
    whole = np.asarray(get_vad_model()(x)).reshape(-1)
    stream = SileroStream()
    streamed = np.concatenate([stream.probabilities(x[i : i + 3 * WINDOW].reshape(-1, WINDOW))
                               for i in range(0, len(x), 3 * WINDOW)])
    np.testing.assert_array_equal(streamed, whole)
    assert whole.max() > 0.9 and whole.min() < 0.1  # speech and pauses both present


def test_tentative_gives_the_segment_feed_gives_later():
    x = np.concatenate([clip(SPEECH), np.zeros(RATE, np.float32)])
    segmenter, finals, guesses = SileroSegmenter(), [], []
    for i in range(0, len(x), 640):
        finals += segmenter.feed(x[i : i + 640])
        guess = segmenter.tentative(200)
        if guess is not None:
            guesses.append(guess)
        assert segmenter.samples_seen == min(i + 640, len(x))
    assert finals and not segmenter.in_utterance
    last = finals[-1]
    same = [g for g in guesses if (g.index, g.start_sample, g.end_sample) == (last.index, last.start_sample,
                                                                               last.end_sample)]
    assert same and np.array_equal(same[-1].audio, last.audio)


def test_the_energy_gate_skips_the_model_on_quiet_windows(monkeypatch):
    calls = []
    segmenter = SileroSegmenter()
    real = segmenter._vad.probabilities
    monkeypatch.setattr(segmenter._vad, "probabilities", lambda w: calls.append(len(w)) or real(w))
    segmenter.feed(np.zeros(RATE, np.float32))
    assert calls == []
    segmenter.feed(clip(SPEECH)[: RATE])
    assert sum(calls) > 0


def test_silero_needs_16_khz():
    with pytest.raises(ValueError, match="16000 Hz"):
        SileroSegmenter(sample_rate=8000)


def test_the_setting_picks_the_segmenter():
    assert type(make_segmenter(load_settings(environ={"CALLRADAR_SEGMENTER": "energy"}))) is UtteranceSegmenter
    silero = make_segmenter(load_settings(environ={"CALLRADAR_SEGMENTER": "silero",
                                                   "CALLRADAR_VAD_END_SILENCE_MS": "600"}))
    assert type(silero) is SileroSegmenter
    assert silero.end_silence_frames == round(600 / 32)


def test_an_unknown_segmenter_stops_with_one_line_naming_the_choices():
    with pytest.raises(SettingsError) as err:
        load_settings(environ={"CALLRADAR_SEGMENTER": "webrtc"})
    message = str(err.value)
    assert "CALLRADAR_SEGMENTER='webrtc'" in message and "energy, silero" in message and "\n" not in message


def test_the_transcribe_stage_streams_8_khz_chunks_into_silero():
    from callradar.pipeline.records import AudioChunk
    from callradar.pipeline.stages.transcribe import ChannelTrack

    data, rate = sf.read(str(SPEECH), dtype="int16")
    track = ChannelTrack("c1", "customer", load_settings(environ={"CALLRADAR_SEGMENTER": "silero"}))
    assert type(track.segmenter) is SileroSegmenter
    n = rate * 40 // 1000
    pending = []
    for seq in range(len(data) // n):
        pending += track.feed(AudioChunk("c1", "customer", seq, rate, 1000.0 + seq * 0.04,
                                         data[seq * n : (seq + 1) * n].astype("<i2").tobytes()), 0.0)
    pending += track.finish()
    assert pending and pending[0].start <= 0.6 and pending[-1].end >= 4.4
    assert [p.index for p in pending] == list(range(len(pending)))
