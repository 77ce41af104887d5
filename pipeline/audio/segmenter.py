"""Streaming utterance segmentation for one call channel.

Each channel of a call (agent, customer) is recorded on its own, so voice
activity on a channel is a turn by that speaker. The segmenter cuts the channel
into utterances as audio arrives, so each utterance is transcribed once, as soon
as its speaker pauses.

How a frame is judged (every ``frame_ms``):
- energy in dBFS and zero-crossing rate are computed for all frames of a chunk
  at once (numpy); only the small state machine runs per frame;
- the noise floor is the minimum of the (lightly smoothed) frame energy over the
  last few seconds, so it follows line noise on real phone audio and falls to
  digital silence on synthetic audio; the floor never needs a speech-free start;
- a frame is loud when its energy is ``margin_db`` over the floor, taken as at
  least ``min_floor_db`` (so on a near-silent channel speech must reach about
  -45 dBFS, and faint crosstalk and hiss stay out); an utterance starts after
  ``onset_frames`` loud frames in a row, which ignores clicks and line thumps
  (1 to 3 frames long on real calls);
- inside an utterance, quieter frames with a voiced zero-crossing rate (decaying
  vowels) also count as speech, while hiss (high zero-crossing rate) does not;
- it ends after ``end_silence_ms`` without speech, is dropped if it is shorter
  than ``min_speech_ms``, and is cut at ``max_utterance_s`` at the quietest frame
  of its last second, so a long monologue still reaches the transcriber.

Decisions depend only on whole frames, never on how audio was chunked: feeding
20 ms or 1 s at a time gives identical segments. Memory is bounded by the
longest utterance plus pre-roll, whatever the length of the call.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from callradar.models.types import MODEL_SAMPLE_RATE

SILENCE_DB = -100.0  # energy given to digital silence, so logs stay finite


@dataclass(frozen=True)
class Segment:
    """One utterance of one channel; sample indices count from the channel's first sample."""

    index: int  # 0, 1, 2, ... within the channel: stable across replays
    start_sample: int  # first voiced sample (padding excluded)
    end_sample: int  # one past the last voiced sample
    audio: np.ndarray  # float32, with pre-roll and tail padding where available
    audio_start_sample: int  # where audio[0] lies on the channel's clock
    sample_rate: int
    forced_cut: bool = False  # ended at max length, not at a pause

    @property
    def start_s(self) -> float:
        return self.start_sample / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.end_sample / self.sample_rate

    @property
    def duration_s(self) -> float:
        return (self.end_sample - self.start_sample) / self.sample_rate


class UtteranceSegmenter:
    """Energy/ZCR voice-activity segmentation with an adaptive noise floor, fed in chunks."""

    def __init__(
        self,
        *,
        sample_rate: int = MODEL_SAMPLE_RATE,
        frame_ms: int = 20,
        end_silence_ms: int = 400,
        min_speech_ms: int = 250,
        max_utterance_s: float = 15.0,
        preroll_ms: int = 200,
        tail_ms: int = 100,
        onset_frames: int = 4,
        margin_db: float = 12.0,
        weak_margin_db: float = 6.0,
        voiced_zcr_max: float = 0.25,
        min_floor_db: float = -57.0,
        startup_floor_db: float = -50.0,
        floor_window_s: float = 3.0,
    ):
        self.sample_rate = sample_rate
        self.frame = sample_rate * frame_ms // 1000
        if self.frame <= 0:
            raise ValueError("frame_ms too small for the sample rate")

        def frames_in(ms: float) -> int:
            return max(1, round(ms / frame_ms))

        self.end_silence_frames = frames_in(end_silence_ms)
        self.min_speech_samples = sample_rate * min_speech_ms // 1000
        self.max_frames = frames_in(max_utterance_s * 1000)
        self.cut_search_frames = max(1, min(frames_in(1000), self.max_frames // 3))
        self.preroll = sample_rate * preroll_ms // 1000
        self.tail = sample_rate * tail_ms // 1000
        self.onset_frames = onset_frames
        self.margin_db = margin_db
        self.weak_margin_db = weak_margin_db
        self.voiced_zcr_max = voiced_zcr_max
        self.min_floor_db = min_floor_db
        self.startup_floor_db = startup_floor_db

        # Noise floor: minimum over the last few blocks of smoothed energy.
        self._block_frames = frames_in(500)
        self._block_minima: deque[float] = deque(maxlen=max(1, round(floor_window_s / 0.5)))
        self._block_min = float("inf")
        self._block_count = 0
        self._smoothed_db: float | None = None
        self.noise_floor_db = SILENCE_DB  # decisions use max(this, min_floor_db)

        # Audio kept for slicing segments: chunks with their absolute start sample.
        self._chunks: deque[tuple[int, np.ndarray]] = deque()
        self._samples_in = 0
        self._carry = np.zeros(0, dtype=np.float32)  # the start of an incomplete frame
        self._frames_done = 0

        # Utterance state, in frame indices.
        self._onset_run = 0
        self._start: int | None = None  # first frame of the current utterance
        self._start_is_cut = False  # it continues a forced cut: no pre-roll
        self._last_speech = 0
        self._recent_db: deque[float] = deque(maxlen=self.cut_search_frames)
        self._next_index = 0
        self._flushed = False

    @classmethod
    def from_settings(cls, settings, sample_rate: int = MODEL_SAMPLE_RATE) -> "UtteranceSegmenter":
        return cls(
            sample_rate=sample_rate,
            frame_ms=settings.vad_frame_ms,
            end_silence_ms=settings.vad_end_silence_ms,
            min_speech_ms=settings.vad_min_speech_ms,
            max_utterance_s=settings.vad_max_utterance_s,
        )

    @property
    def in_utterance(self) -> bool:
        """True while an utterance has started and not yet ended."""
        return self._start is not None

    @property
    def samples_seen(self) -> int:
        return self._samples_in

    @property
    def buffered_samples(self) -> int:
        """Audio held for future segments: bounded by the longest utterance, not the call."""
        return sum(len(chunk) for _, chunk in self._chunks)

    # ------------------------------------------------------------ feeding

    def feed(self, samples: np.ndarray) -> list[Segment]:
        """Add the next chunk (float32 mono at ``sample_rate``); returns utterances that ended."""
        if self._flushed:
            raise RuntimeError("this segmenter was flushed (call ended); make a new one per channel")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(samples) == 0:
            return []
        # Keep our own copy, in pieces of at most a second, so old audio can be let go.
        for offset in range(0, len(samples), self.sample_rate):
            self._chunks.append((self._samples_in + offset, samples[offset : offset + self.sample_rate].copy()))
        self._samples_in += len(samples)

        data = np.concatenate([self._carry, samples]) if len(self._carry) else samples
        n_frames = len(data) // self.frame
        self._carry = data[n_frames * self.frame :].copy()
        segments: list[Segment] = []
        if n_frames:
            frames = data[: n_frames * self.frame].reshape(n_frames, self.frame).astype(np.float64)
            power = np.einsum("ij,ij->i", frames, frames) / self.frame
            energy_db = np.maximum(10.0 * np.log10(power + 1e-12), SILENCE_DB)
            signs = np.signbit(frames)
            zcr = np.count_nonzero(signs[:, 1:] != signs[:, :-1], axis=1) / (self.frame - 1)
            for e, z in zip(energy_db.tolist(), zcr.tolist()):
                segment = self._step(e, z)
                if segment is not None:
                    segments.append(segment)
        self._drop_old_audio()
        return segments

    def flush(self) -> list[Segment]:
        """The call ended: close an open utterance (tail padding as far as audio goes)."""
        if self._flushed:
            return []
        self._flushed = True
        segment = None
        if self._start is not None:
            segment = self._close(self._last_speech + 1, audio_until=self._samples_in)
        self._chunks.clear()
        return [segment] if segment is not None else []

    def tentative(self, silence_ms: int, unless: tuple[int, int, int] | None = None) -> Segment | None:
        """The utterance that ends here if the silence so far goes on: to transcribe it ahead.

        Once the open utterance has been followed by ``silence_ms`` of silence (at
        least the tail padding), returns the segment :meth:`feed` will return when
        the silence reaches ``end_silence_ms``: the same index, bounds and audio,
        so its transcript is the same. If speech resumes first, that segment never
        comes and the guess is wasted. ``unless``: (index, start, end) of a guess
        already made, for which None is returned (without copying the audio again).
        """
        if self._start is None or self._flushed:
            return None
        silent_frames = self._frames_done - 1 - self._last_speech
        if silent_frames * self.frame < max(self.sample_rate * silence_ms // 1000, self.tail):
            return None
        if self._last_speech + self.end_silence_frames - self._start >= self.max_frames:
            return None  # it will be cut at its maximum length first, elsewhere
        start, end = self._start * self.frame, (self._last_speech + 1) * self.frame
        if end - start < self.min_speech_samples or (self._next_index, start, end) == unless:
            return None
        audio_from = self._audio_from(start)
        return Segment(
            index=self._next_index,
            start_sample=start,
            end_sample=end,
            audio=self._slice(audio_from, end + self.tail),
            audio_start_sample=audio_from,
            sample_rate=self.sample_rate,
        )

    # ------------------------------------------------------------ per frame

    def _step(self, energy_db: float, zcr: float) -> Segment | None:
        i = self._frames_done
        self._frames_done += 1
        floor = max(self._update_floor(energy_db), self.min_floor_db)
        loud = energy_db > floor + self.margin_db
        if self._floor_capped:
            loud = loud and zcr < self.voiced_zcr_max  # loud noise at the start is not speech
        self._recent_db.append(energy_db)

        if self._start is None:
            self._onset_run = self._onset_run + 1 if loud else 0
            if self._onset_run >= self.onset_frames:
                self._start = i - self.onset_frames + 1
                self._start_is_cut = False
                self._last_speech = i
            return None

        weak_voiced = energy_db > floor + self.weak_margin_db and zcr < self.voiced_zcr_max
        if loud or weak_voiced:
            self._last_speech = i
        if i - self._last_speech >= self.end_silence_frames:
            return self._close(self._last_speech + 1, audio_until=(i + 1) * self.frame)
        if i + 1 - self._start >= self.max_frames:
            return self._force_cut(i)
        return None

    def _update_floor(self, energy_db: float) -> float:
        """Minimum statistics: smoothed energy, minimum per half-second block, over a few blocks."""
        s = energy_db if self._smoothed_db is None else self._smoothed_db + 0.5 * (energy_db - self._smoothed_db)
        self._smoothed_db = s
        self._block_min = min(self._block_min, s)
        self._block_count += 1
        if self._block_count == self._block_frames:
            self._block_minima.append(self._block_min)
            self._block_min, self._block_count = float("inf"), 0
        self.noise_floor_db = min(self._block_min, min(self._block_minima, default=float("inf")))
        self._floor_capped = len(self._block_minima) < self._block_minima.maxlen
        if self._floor_capped:
            # Too little heard to know the line's noise: a channel that opens with speech
            # would otherwise take the speech itself for the floor and miss the greeting.
            self.noise_floor_db = min(self.noise_floor_db, self.startup_floor_db)
        return self.noise_floor_db

    def _force_cut(self, i: int) -> Segment | None:
        """Max length reached at frame i: cut at the quietest recent frame, keep the rest going."""
        recent = list(self._recent_db)
        cut = i - len(recent) + 1 + int(np.argmin(recent))
        cut = max(cut, self._start + 1)
        last_speech = self._last_speech
        segment = self._close(min(cut, last_speech + 1), audio_until=cut * self.frame, forced=True)
        if last_speech >= cut:  # speech continues after the cut: a new utterance from there
            self._start, self._start_is_cut, self._last_speech = cut, True, last_speech
        return segment

    def _close(self, end_frame: int, audio_until: int, forced: bool = False) -> Segment | None:
        """End the current utterance at end_frame; returns it unless it is too short."""
        start = self._start * self.frame
        end = end_frame * self.frame
        audio_from = self._audio_from(start)
        audio_to = end if forced else min(end + self.tail, audio_until)
        self._start, self._onset_run = None, 0
        if end - start < self.min_speech_samples:
            return None
        segment = Segment(
            index=self._next_index,
            start_sample=start,
            end_sample=end,
            audio=self._slice(audio_from, audio_to),
            audio_start_sample=audio_from,
            sample_rate=self.sample_rate,
            forced_cut=forced,
        )
        self._next_index += 1
        return segment

    # ------------------------------------------------------------ audio store

    def _audio_from(self, start: int) -> int:
        """Where an utterance's audio begins: its pre-roll, unless it continues a forced cut."""
        return start if self._start_is_cut else max(0, start - self.preroll)

    def _slice(self, start: int, stop: int) -> np.ndarray:
        parts = [
            chunk[max(0, start - at) : stop - at]
            for at, chunk in self._chunks
            if at < stop and at + len(chunk) > start
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _drop_old_audio(self) -> None:
        """Forget audio no future segment can need (before the utterance start or the pre-roll)."""
        if self._start is not None:
            keep_from = self._start * self.frame - self.preroll
        else:
            keep_from = (self._frames_done - self.onset_frames) * self.frame - self.preroll
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= keep_from:
            self._chunks.popleft()
