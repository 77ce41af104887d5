"""Transcribe stage logic: audio chunks in, finished utterances (audio + timing) out.

No Kafka here: pipeline/app.py feeds decoded chunks in and sends what comes out.
One ChannelTrack per call channel holds the segmenter and the clock that turns
sample positions into call time and wall-clock capture time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.audio import StreamResampler, pcm16_bytes_to_float
from pipeline.records import AudioChunk, MalformedMessage, Utterance
from pipeline.settings import Settings
from pipeline.vad import UtteranceSegmenter

log = logging.getLogger(__name__)

MODEL_RATE = 16000  # Whisper's input rate; segmentation runs at it too
# A gap in seq is filled with silence. Within a streaming channel a jump of more than
# MAX_SEQ_GAP_S is taken for a corrupt seq and refused (in real time, audio missing that
# long would have closed the channel by the idle timeout); the first chunk a worker sees
# of a channel may be later in the call (it joined, or resumed, mid-call), up to
# MAX_LEADING_GAP_S. The silence goes to the segmenter SILENCE_PIECE samples at a time.
MAX_SEQ_GAP_S = 120.0
MAX_LEADING_GAP_S = 3600.0
SILENCE_PIECE = 10 * MODEL_RATE



@dataclass
class PendingUtterance:
    """A finished stretch of speech waiting for the speech-to-text model."""

    call_id: str
    speaker: str
    index: int
    start: float  # call time, seconds
    end: float
    audio: np.ndarray  # float32, 16 kHz
    audio_end_ts: float  # wall clock when the last voiced sample was captured

    @property
    def utterance_id(self) -> str:
        return f"{self.call_id}/{self.speaker}/{self.index}"

    def to_record(self, text: str, confidence: float, model: str, emitted_ts: float) -> Utterance:
        return Utterance(
            utterance_id=self.utterance_id,
            call_id=self.call_id,
            speaker=self.speaker,
            index=self.index,
            start=round(self.start, 3),
            end=round(self.end, 3),
            text=text,
            confidence=round(confidence, 4),
            audio_end_ts=self.audio_end_ts,
            emitted_ts=emitted_ts,
            model=model,
        )


class ChannelTrack:
    """One channel of one call: sequence checks, resampling, segmentation, clocks."""

    def __init__(self, call_id: str, speaker: str, settings: Settings):
        self.call_id = call_id
        self.speaker = speaker
        self.segmenter = UtteranceSegmenter.from_settings(settings, sample_rate=MODEL_RATE)
        self.resampler: StreamResampler | None = None  # made for the first chunk's rate
        self.resampler_rate = 0
        self.next_seq = 0
        self.samples_fed = 0  # at MODEL_RATE
        self.last_capture_ts = 0.0  # capture time of the newest chunk's first sample
        self.last_chunk_start = 0  # its position, in MODEL_RATE samples
        self.last_seen_wall = 0.0

    def feed(self, chunk: AudioChunk, now: float) -> list[PendingUtterance]:
        if chunk.seq < self.next_seq:
            raise MalformedMessage(
                f"sequence number {chunk.seq} already seen on {self.call_id}/{self.speaker} "
                f"(expected {self.next_seq}): duplicate or out of order"
            )
        self._check_gap(chunk)
        audio = pcm16_bytes_to_float(chunk.pcm)
        if chunk.sample_rate != MODEL_RATE:
            # One resampler per channel: filtering chunk by chunk would dip at every edge.
            if self.resampler_rate != chunk.sample_rate:
                self.resampler = StreamResampler(chunk.sample_rate, MODEL_RATE)
                self.resampler_rate = chunk.sample_rate
            audio = self.resampler.process(audio)
        gap = 0
        if chunk.seq > self.next_seq:
            # Lost chunks: keep the call clock honest by standing in silence of the same length.
            missing = chunk.seq - self.next_seq
            log.warning("%s/%s: %d chunk(s) missing before seq %d", self.call_id, self.speaker, missing, chunk.seq)
            gap = missing * len(audio)
        self.next_seq = chunk.seq + 1
        self.last_chunk_start = self.samples_fed + gap
        self.last_capture_ts = chunk.capture_ts
        self.samples_fed += gap + len(audio)
        self.last_seen_wall = now
        segments = []
        for done in range(0, gap, SILENCE_PIECE):  # in pieces: memory stays bounded however long the gap
            segments += self.segmenter.feed(np.zeros(min(SILENCE_PIECE, gap - done), np.float32))
        segments += self.segmenter.feed(audio)
        return [self._pending(s) for s in segments]

    def _check_gap(self, chunk: AudioChunk) -> None:
        """Refuse a jump in seq too long to be lost chunks: a corrupt seq would otherwise
        stand in hours of silence, and every later chunk would count as already seen."""
        gap_s = (chunk.seq - self.next_seq) * chunk.duration_s
        if self.next_seq > 0 and gap_s > MAX_SEQ_GAP_S:
            raise MalformedMessage(
                f"sequence number {chunk.seq} on {self.call_id}/{self.speaker} is {chunk.seq - self.next_seq} "
                f"chunks ({gap_s:.1f} s of audio) past the expected {self.next_seq}; a jump over "
                f"{MAX_SEQ_GAP_S:.0f} s is refused as corrupt"
            )
        if gap_s > MAX_LEADING_GAP_S:
            raise MalformedMessage(
                f"first sequence number {chunk.seq} on {self.call_id}/{self.speaker} is {gap_s:.0f} s of audio "
                f"past the expected {self.next_seq}; a channel that starts over {MAX_LEADING_GAP_S:.0f} s in "
                "is refused as corrupt"
            )

    def finish(self) -> list[PendingUtterance]:
        return [self._pending(s) for s in self.segmenter.flush()]

    def _pending(self, segment) -> PendingUtterance:
        end_offset_s = (segment.end_sample - self.last_chunk_start) / MODEL_RATE
        return PendingUtterance(
            call_id=self.call_id,
            speaker=self.speaker,
            index=segment.index,
            start=segment.start_sample / MODEL_RATE,
            end=segment.end_sample / MODEL_RATE,
            audio=segment.audio,
            audio_end_ts=self.last_capture_ts + end_offset_s,
        )


class TranscribeProcessor:
    """All live channels of the calls this worker owns."""

    def __init__(self, settings: Settings, idle_timeout_s: float | None = None):
        self.settings = settings
        self.idle_timeout_s = settings.channel_idle_timeout_s if idle_timeout_s is None else idle_timeout_s
        self.timed_out = 0  # channels closed by the idle timeout
        self.tracks: dict[tuple[str, str], ChannelTrack] = {}
        self.ended: set[tuple[str, str]] = set()

    def on_chunk(self, chunk: AudioChunk, now: float) -> list[PendingUtterance]:
        key = (chunk.call_id, chunk.channel)
        if key in self.ended:
            raise MalformedMessage(f"chunk for {chunk.call_id}/{chunk.channel} after its channel ended")
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = ChannelTrack(chunk.call_id, chunk.channel, self.settings)
        return track.feed(chunk, now)

    def end_channel(self, call_id: str, channel: str) -> list[PendingUtterance]:
        """The channel's last chunk has arrived: flush whatever speech is still open."""
        track = self.tracks.pop((call_id, channel), None)
        self.ended.add((call_id, channel))
        if len(self.ended) > 100_000:  # bounded memory; old calls will not come back
            self.ended.clear()
        return track.finish() if track else []

    def evict_idle(self, now: float) -> list[PendingUtterance]:
        """Close channels that stopped sending without an end marker (a call that never ends)."""
        stale = [k for k, t in self.tracks.items() if now - t.last_seen_wall > self.idle_timeout_s]
        out: list[PendingUtterance] = []
        self.timed_out += len(stale)
        for call_id, channel in stale:
            log.warning("%s/%s: no audio for %.0f s, closing the channel", call_id, channel, self.idle_timeout_s)
            out += self.end_channel(call_id, channel)
        return out

    @property
    def live_calls(self) -> int:
        return len({call_id for call_id, _ in self.tracks})
