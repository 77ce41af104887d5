"""Adaptive-context Whisper decoding: encoder windows sized to the utterance, batched by size.

faster-whisper pads every input to Whisper's 30 s window (3000 mel frames), so
a 2 s utterance costs about as much as a 28 s one: the encoder runs over 1500
positions and every decoder step attends to all of them. CTranslate2's Whisper
encoder accepts shorter inputs, so here each utterance gets its own frames plus
a margin, never less than a floor, rounded up to a bucket.

The floor is there because Whisper only ever saw 30 s windows in training and
loops in short ones: with the speech plus 3 s, tiny.en repeated itself
("That's fine. That's fine. That's fine...") on about one real-call utterance
in eight, mostly those under 2 s; with a 10 s floor, on 2 of 332 utterances.
Whatever still loops (the token cap is hit, a short phrase comes three times
running, or five words come back) is decoded again in the full window, so a
loop costs time, not the text. Buckets let utterances of similar length share
one encoder and decoder call, padded to one shape, which is what makes
batching pay. Figures: docs/benchmarks.md, "Transcription (issue 7)".

Decoding otherwise follows faster-whisper's own path for one window at
temperature 0 without timestamps (same features, zero padding, prompt,
suppressed tokens, no-speech rule and mean log-probability): at 3000 frames it
gives faster-whisper's text word for word.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

FULL_FRAMES = 3000  # Whisper's 30 s window, in 10 ms mel frames
NO_SPEECH_THRESHOLD = 0.6  # faster-whisper's defaults for dropping a silent window
LOG_PROB_THRESHOLD = -1.0
LOOP_REPEATS = 3  # a short phrase said three times running is taken for a decoding loop
LOOP_NGRAM_WORDS = 5  # and so is any run of this many words said twice


@dataclass(frozen=True)
class ContextPolicy:
    """How many mel frames (10 ms each) the encoder sees for an utterance of ``n`` frames.

    ``n + margin_frames``, at least ``min_frames``, rounded up to a multiple of
    ``bucket_frames``, at most Whisper's 3000. The margin keeps the end of the
    speech well inside the window; the floor keeps short utterances from
    looping; few distinct sizes keep batches full.
    """

    margin_frames: int = 300
    min_frames: int = 1000
    bucket_frames: int = 500

    def __post_init__(self):
        if self.margin_frames < 0 or self.bucket_frames < 2 or self.bucket_frames % 2:
            raise ValueError("margin_frames must be >= 0 and bucket_frames even and >= 2 (the encoder halves it)")

    def frames_for(self, n_frames: int) -> int:
        wanted = max(n_frames + self.margin_frames, self.min_frames, 1)
        return min(FULL_FRAMES, math.ceil(wanted / self.bucket_frames) * self.bucket_frames)


def plan_batches(frame_counts: Sequence[int], policy: ContextPolicy, max_batch: int) -> list[tuple[int, list[int]]]:
    """Group utterances (by index) that share a context size, at most ``max_batch`` per group.

    Groups come out longest context first, members in input order; every
    index appears exactly once.
    """
    if max_batch < 1:
        raise ValueError("max_batch must be >= 1")
    by_context: dict[int, list[int]] = {}
    for i, n in enumerate(frame_counts):
        by_context.setdefault(policy.frames_for(n), []).append(i)
    plan = []
    for frames in sorted(by_context, reverse=True):
        members = by_context[frames]
        plan += [(frames, members[k : k + max_batch]) for k in range(0, len(members), max_batch)]
    return plan


@dataclass(frozen=True)
class Decoded:
    """One utterance as Whisper read it; text is empty when the window was judged silent."""

    text: str
    avg_logprob: float
    no_speech_prob: float
    n_tokens: int
    frames: int  # encoder context it was decoded with
    looped: bool = False  # the adaptive window looped; this is the full-window reading


def is_loop(decoded: Decoded, cap: int) -> bool:
    """A repetition loop: the decode ran into its token cap, a phrase repeats three times
    in a row ("Perfect. Perfect. Perfect."), or a run of five words comes back.

    A false alarm only costs a second decode (the full window gives the
    reference reading), so this errs on the side of catching.
    """
    words = re.findall(r"\w+", decoded.text.lower())
    if decoded.n_tokens >= cap or (decoded.text and not words):  # the cap, or dots and dashes only
        return True
    n = LOOP_NGRAM_WORDS
    ngrams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(set(ngrams)) < len(ngrams):
        return True
    for size in range(1, n):
        for start in range(len(words) - size * LOOP_REPEATS + 1):
            phrase = words[start : start + size]
            if all(words[start + k * size : start + (k + 1) * size] == phrase for k in range(1, LOOP_REPEATS)):
                return True
    return False


class AdaptiveDecoder:
    """Decode utterances of at most 30 s with per-utterance encoder context and batching.

    Works on any faster-whisper ``WhisperModel`` (CPU or CUDA, any size); uses
    its feature extractor, tokenizer and CTranslate2 model directly.
    """

    def __init__(
        self,
        whisper,  # faster_whisper.WhisperModel
        *,
        beam_size: int = 1,
        policy: ContextPolicy = ContextPolicy(),
        max_batch: int = 8,
        language: str | None = None,  # None on a multilingual model: detect per utterance
        loop_fallback: bool = True,
    ):
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.whisper = whisper
        self.beam_size = beam_size
        self.policy = policy
        self.max_batch = max_batch
        self.loop_fallback = loop_fallback
        self.decoded = self.fallbacks = 0  # counts, for benchmarks and metrics
        self.multilingual = whisper.model.is_multilingual
        self.language = language if self.multilingual else "en"
        self._tokenizers: dict[str, Tokenizer] = {}
        self.suppress_tokens = list(get_suppressed_tokens(self._tokenizer(self.language or "en"), [-1]))

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel frames of the audio alone, [n_mels, n]: faster-whisper's own extractor and trim."""
        mel = self.whisper.feature_extractor(audio)
        return mel[:, : min(mel.shape[1] - 1, FULL_FRAMES)]  # the extra frame is padding

    def decode(self, audios: Sequence[np.ndarray], max_new_tokens: Sequence[int]) -> list[Decoded]:
        """Decode each audio (float32, 16 kHz, <= 30 s); results in input order."""
        feats = [self.features(a) for a in audios]
        results = self._decode(feats, max_new_tokens, self.policy)
        self.decoded += len(results)
        if not self.loop_fallback:
            return results
        looped = [i for i, d in enumerate(results) if d.frames < FULL_FRAMES and is_loop(d, max_new_tokens[i])]
        if looped:
            self.fallbacks += len(looped)
            full = ContextPolicy(margin_frames=0, min_frames=FULL_FRAMES, bucket_frames=FULL_FRAMES)
            again = self._decode([feats[i] for i in looped], [max_new_tokens[i] for i in looped], full)
            for i, d in zip(looped, again):
                results[i] = replace(d, looped=True)
        return results

    def _decode(self, feats: list[np.ndarray], caps: Sequence[int], policy: ContextPolicy) -> list[Decoded]:
        results: list[Decoded | None] = [None] * len(feats)
        for frames, members in plan_batches([f.shape[1] for f in feats], policy, self.max_batch):
            batch = np.zeros((len(members), feats[members[0]].shape[0], frames), dtype=np.float32)
            for row, i in enumerate(members):
                batch[row, :, : feats[i].shape[1]] = feats[i]  # zeros beyond, as faster-whisper pads
            for i, d in zip(members, self._generate(batch, [caps[i] for i in members])):
                results[i] = d
        return results

    def _generate(self, features: np.ndarray, caps: list[int]) -> list[Decoded]:
        encoded = self.whisper.encode(features)  # one encoder pass for the batch; device-aware
        tokenizers = [self._tokenizer(code) for code in self._languages(encoded, len(caps))]
        prompts = [t.sot_sequence + [t.no_timestamps] for t in tokenizers]
        results = self.whisper.model.generate(
            encoded,
            prompts,
            beam_size=self.beam_size,
            max_length=max(len(p) for p in prompts) + max(caps),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self.suppress_tokens,
        )
        frames = features.shape[-1]
        return [self._read(r, t, cap, frames) for r, t, cap in zip(results, tokenizers, caps)]

    def _read(self, result, tokenizer, cap: int, frames: int) -> Decoded:
        tokens = result.sequences_ids[0]
        # faster-whisper's recovery of the mean log-probability (length penalty 1)
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        # The batch shares one max_length; cut to this utterance's own cap so the
        # text is what it would have been decoded alone (greedy or beam alike).
        tokens = tokens[:cap]
        silent = result.no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOG_PROB_THRESHOLD
        text = "" if silent else tokenizer.decode(tokens).strip()
        return Decoded(text, avg_logprob, result.no_speech_prob, len(tokens), frames)

    def _languages(self, encoded, n: int) -> list[str]:
        if not self.multilingual or self.language:
            return [self.language or "en"] * n
        return [scores[0][0][2:-2] for scores in self.whisper.model.detect_language(encoded)]  # "<|de|>" -> de

    def _tokenizer(self, language: str):
        from faster_whisper.tokenizer import Tokenizer

        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(
                self.whisper.hf_tokenizer, self.multilingual, task="transcribe", language=language
            )
        return self._tokenizers[language]
