"""The real Whisper model on a simulated call: segmentation and words, no Kafka.

Measured baseline (tiny.en int8, 8 kHz espeak-ng voices, seed 11): customer-channel
word error rate 0.25-0.30 per call. Telephone-band synthetic speech is hard for
tiny.en; the bound below (0.35) catches a real regression without pretending the
model is better than it is. The escalation request must survive recognition:
the trigger word is what the score stage keys on.
"""

import shutil

import pytest

from callradar.models.speech import SpeechToText
from callradar.models.wer import word_error_rate
from callradar.pipeline.audio.pcm import int16_to_float, read_call_audio, resample
from callradar.pipeline.audio.segmenter import UtteranceSegmenter
from callradar.pipeline.settings import load_settings
from callradar.pipeline.simulator.calls import load_label, simulate_calls

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)"),
]

TRIGGER_WORDS = {"claim_lawyer": "lawyer", "outage_supervisor": "supervisor"}


@pytest.fixture(scope="module")
def stt():
    return SpeechToText(load_settings(environ={}))


@pytest.mark.parametrize("index", [1, 3])  # the two escalating calls of seed 11
def test_customer_channel_of_a_simulated_call(tmp_path_factory, stt, index):
    settings = load_settings(environ={})
    label_path = simulate_calls(tmp_path_factory.mktemp("sim"), 4, seed=11)[index]
    label = load_label(label_path)
    rate, _, customer = read_call_audio([label_path.parent / label["wav"]])
    audio = resample(int16_to_float(customer), rate, 16000)

    segmenter = UtteranceSegmenter.from_settings(settings)
    segments = []
    for i in range(0, len(audio), 640):  # 40 ms chunks, as live
        segments += segmenter.feed(audio[i : i + 640])
    segments += segmenter.flush()

    turns = [t for t in label["transcript"] if t["speaker"] == "customer"]
    assert len(segments) == len(turns), "one utterance per scripted customer turn"
    for seg, turn in zip(segments, turns):
        assert seg.start_s == pytest.approx(turn["start"], abs=0.1)
        assert seg.end_s == pytest.approx(turn["end"], abs=0.1)

    heard = [stt.transcribe(seg.audio).text for seg in segments]
    wer = word_error_rate(" ".join(t["text"] for t in turns), " ".join(heard))
    assert wer <= 0.35, f"customer WER {wer:.2f}: {heard}"
    escalation = next(i for i, t in enumerate(turns) if t["start"] == pytest.approx(label["escalation_time"], abs=0.01))
    assert TRIGGER_WORDS[label["script"]] in heard[escalation].lower()
