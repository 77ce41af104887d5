"""Real speech through the real model: word error rate and real-time factor.

Uses ../shared/data/audio (next to the repository) and skips with the reason
where that folder is absent. Needs no broker. Figures are printed (not
asserted: timing belongs to benchmarks, not tests).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from callradar.models.wer import word_error_rate
from callradar.pipeline.audio.pcm import StreamResampler, int16_to_float, read_call_audio, resample
from callradar.pipeline.audio.segmenter import UtteranceSegmenter
from callradar.pipeline.settings import load_settings

AUDIO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "audio"
REFERENCE = AUDIO / "reference"
CALLS = AUDIO / "calls"

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
STEREO_LEFT = "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."
STEREO_RIGHT = "The horizon seems extremely distant."


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.resolve()} is absent: the shared data folder next to the repository is not here")
    return path


@pytest.fixture(scope="module")
def stt():
    from callradar.models.speech import SpeechToText

    return SpeechToText(load_settings())


def channels_16k(path: Path):
    """(agent, customer) of a stereo file as float32 at 16 kHz."""
    rate, left, right = read_call_audio(path)
    return tuple(int16_to_float(resample(x, rate, 16000)) for x in (left, right))


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n  [transcription] {line}")


def test_jfk_word_error_rate(stt, capsys):
    left, _ = channels_16k(need(REFERENCE / "jfk.flac"))  # 44.1 kHz, 24-bit FLAC
    result = stt.transcribe(left)
    wer = word_error_rate(JFK, result.text)
    report(capsys, f"jfk.flac ({result.duration_s:.1f} s, {stt.model_id}): WER {wer:.1%}, "
           f"RTF {result.real_time_factor:.3f}, confidence {result.confidence:.2f}: {result.text!r}")
    assert wer <= 0.10, result.text
    assert 0.5 < result.confidence <= 1.0
    assert result.no_speech_prob < 0.5


def test_stereo_channels_are_transcribed_separately(stt, capsys):
    left, right = channels_16k(need(REFERENCE / "stereo_diarization.wav"))
    results = stt.transcribe_batch([left, right])
    wers = [word_error_rate(ref, r.text) for ref, r in zip((STEREO_LEFT, STEREO_RIGHT), results)]
    report(capsys, f"stereo_diarization.wav left WER {wers[0]:.1%}, right WER {wers[1]:.1%}: "
           f"{results[0].text!r} / {results[1].text!r}")
    assert wers[0] <= 0.10, results[0].text
    assert wers[1] <= 0.20, results[1].text


def test_silence_gives_no_text(stt):
    result = stt.transcribe(np.zeros(16000, dtype=np.float32))
    assert result.text == "" or result.no_speech_prob > 0.5
    assert stt.transcribe(np.zeros(0, dtype=np.float32)).text == ""


def test_real_call_channel_through_segmenter_and_model(stt, capsys):
    """The first minute of a real 8 kHz caller channel, fed like the live stage: 100 ms wire chunks."""
    rate, samples = _mono(need(CALLS / "auto_repairs_40_caller.wav"))
    samples = samples[: 60 * rate]
    resampler = StreamResampler(rate, 16000)
    segmenter = UtteranceSegmenter.from_settings(load_settings())
    transcripts = []
    started = time.perf_counter()
    chunk = rate // 10
    for i in range(0, len(samples), chunk):
        audio = int16_to_float(resampler.process(samples[i : i + chunk]))
        transcripts += [(s, stt.transcribe(s.audio)) for s in segmenter.feed(audio)]
    transcripts += [(s, stt.transcribe(s.audio)) for s in segmenter.feed(int16_to_float(resampler.flush()))]
    transcripts += [(s, stt.transcribe(s.audio)) for s in segmenter.flush()]
    elapsed = time.perf_counter() - started

    spoken = [t for _, t in transcripts if t.text]
    text = " ".join(t.text for t in spoken).lower()
    report(capsys, f"auto_repairs_40_caller.wav first 60 s: {len(transcripts)} utterances, {len(spoken)} with text, "
           f"segmenter + model RTF {elapsed / 60:.3f} "
           f"(utterances: {', '.join(f'{s.start_s:.1f}-{s.end_s:.1f}' for s, _ in transcripts)})")
    assert 8 <= len(transcripts) <= 20
    assert len(spoken) >= 0.8 * len(transcripts)
    assert "dealership" in text
    assert [s.index for s, _ in transcripts] == list(range(len(transcripts)))


def _mono(path: Path):
    import soundfile as sf

    samples, rate = sf.read(str(path), dtype="int16")
    return rate, samples
