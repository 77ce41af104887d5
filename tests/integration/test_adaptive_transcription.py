"""Adaptive encoder context against Whisper's standard 30 s window, on real speech.

The adaptive mode (the default) must read what the full window reads: on
jfk.flac the two agree within 5 % WER; batching must not change a text; and
on real call audio the loop guard must hand back the full-window reading for
every utterance whose short window looped. Uses ../shared/data/audio and skips
where it is absent. Speed is measured by bench/transcription.py, not here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callradar.models.wer import word_error_rate
from callradar.models.whisper_decode import ContextPolicy, is_loop
from callradar.pipeline.audio.pcm import int16_to_float, read_call_audio, resample
from callradar.pipeline.audio.segmenter import UtteranceSegmenter
from callradar.pipeline.settings import load_settings

AUDIO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "audio"
JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.resolve()} is absent: the shared data folder next to the repository is not here")
    return path


def channels_16k(*paths: Path):
    rate, left, right = read_call_audio(list(paths))
    return [resample(int16_to_float(x), rate, 16000) for x in (left, right)]


@pytest.fixture(scope="module")
def stt():
    from callradar.models.speech import SpeechToText

    return SpeechToText(load_settings(environ={}))


@pytest.fixture(scope="module")
def full(stt):
    from callradar.models.speech import SpeechToText

    return SpeechToText(load_settings(environ={}, whisper_context="full"), resolved=stt.resolved)


def test_adaptive_is_the_default(stt, full):
    assert stt.context == "adaptive" and full.context == "full"


def test_adaptive_and_full_agree_on_jfk(stt, full):
    left, _ = channels_16k(need(AUDIO / "reference" / "jfk.flac"))
    adaptive, reference = stt.transcribe(left), full.transcribe(left)
    assert word_error_rate(reference.text, adaptive.text) <= 0.05, (adaptive.text, reference.text)
    assert word_error_rate(JFK, adaptive.text) <= 0.10
    assert abs(adaptive.confidence - reference.confidence) < 0.1
    assert adaptive.no_speech_prob < 0.5


def test_batching_does_not_change_the_text(stt):
    jfk, _ = channels_16k(need(AUDIO / "reference" / "jfk.flac"))
    left, right = channels_16k(need(AUDIO / "reference" / "stereo_diarization.wav"))
    audios = [left, jfk[: 3 * 16000], right, jfk]  # two share the 1000-frame bucket with left
    alone = [stt.transcribe(a).text for a in audios]
    together = [t.text for t in stt.transcribe_batch(audios)]
    assert together == alone


def test_silence_and_empty_audio(stt):
    assert stt.transcribe(np.zeros(16000, np.float32)).text == ""
    assert stt.transcribe_batch([np.zeros(0, np.float32), np.zeros(8000, np.float32)])[0].text == ""


def test_loops_in_short_windows_are_caught_and_redone_in_the_full_window(stt, full):
    """A real caller channel, cut as live; a window with no floor loops on some utterances."""
    agent, caller = channels_16k(*(need(AUDIO / "calls" / f"auto_repairs_40_{s}.wav") for s in ("agent", "caller")))
    segmenter = UtteranceSegmenter.from_settings(load_settings(environ={}))
    segments = [s for s in segmenter.feed(caller[: 120 * 16000]) + segmenter.flush() if s.duration_s < 3]
    audios = [s.audio for s in segments]
    caps = [int(12 * len(a) / 16000) + 16 for a in audios]

    decoder = stt.decoder
    saved = decoder.policy
    try:
        decoder.policy = ContextPolicy(margin_frames=300, min_frames=0, bucket_frames=100)
        decoder.loop_fallback = False
        raw = decoder.decode(audios, caps)
        decoder.loop_fallback = True
        guarded = decoder.decode(audios, caps)
    finally:
        decoder.policy, decoder.loop_fallback = saved, True

    looped = [i for i, (d, cap) in enumerate(zip(raw, caps)) if is_loop(d, cap)]
    assert looped, "expected at least one loop without a floor (the reason the floor exists)"
    references = full.transcribe_batch([audios[i] for i in looped])
    for i, reference in zip(looped, references):
        assert guarded[i].looped and guarded[i].text == reference.text
    assert not any(is_loop(d, cap) and not d.looped for d, cap in zip(guarded, caps))


def test_two_whisper_workers_transcribe_at_once_and_read_the_same(stt):
    """CALLRADAR_WHISPER_WORKERS=2: two batches in two threads at once, the texts of one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from callradar.models.speech import SpeechToText

    jfk, _ = channels_16k(need(AUDIO / "reference" / "jfk.flac"))
    left, right = channels_16k(need(AUDIO / "reference" / "stereo_diarization.wav"))
    batches = [[left, jfk[: 3 * 16000]], [right, jfk]]
    two = SpeechToText(load_settings(environ={}, whisper_workers=2), resolved=stt.resolved)
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(two.transcribe_batch, batches))
    assert [[t.text for t in batch] for batch in together] == [[t.text for t in stt.transcribe_batch(b)]
                                                               for b in batches]
