"""Transcribe stage logic: audio chunks in, finished utterances (audio + timing) out.

No Kafka here: pipeline/kafka/app.py feeds decoded chunks in and sends what comes out.
One ChannelTrack per call channel holds the segmenter and the clock that turns
sample positions into call time and wall-clock capture time.

Crash recovery (no utterance lost, none sent twice): the app commits an audio
chunk's offset only once the channel is *settled* up to it (no speech open and
no utterance waiting for the model; pipeline/kafka/acks.py holds the offsets), so
a restarted worker is sent again every chunk whose speech was not yet transcribed. Each sent
utterance records its channel's *progress* (last chunk covered, sample clock,
next utterance index) in a mapping the app backs with a changelog table; a
redelivered chunk that progress already covers is skipped, and a channel picks
up after it with the same clock and utterance numbering, so ids stay the same.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field

import numpy as np

from callradar.pipeline.audio.pcm import MODEL_RATE, StreamResampler, pcm16_bytes_to_float
from callradar.pipeline.audio.segmenter import make_segmenter
from callradar.pipeline.records import AudioChunk, MalformedMessage, Utterance
from callradar.pipeline.settings import Settings

log = logging.getLogger(__name__)

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
    progress: dict = field(default_factory=dict)  # the channel's progress once this is sent
    queued_at: float = 0.0  # monotonic clock when it joined a speech-to-text queue (pipeline/stages/stt_queue.py)
    queued_s: float | None = None  # how long it waited there for the model
    agent_behind_s: float | None = None  # its call's agent side, when its transcript was ready (stt_queue.py)

    @property
    def utterance_id(self) -> str:
        return f"{self.call_id}/{self.speaker}/{self.index}"

    def to_record(self, text: str, confidence: float, model: str, emitted_ts: float,
                  no_speech_prob: float | None = None) -> Utterance:
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
            no_speech_prob=None if no_speech_prob is None else round(float(no_speech_prob), 4),
            queued_s=None if self.queued_s is None else round(self.queued_s, 3),
            agent_behind_s=None if self.agent_behind_s is None else round(self.agent_behind_s, 3),
        )


def transcript_records(batch: list[PendingUtterance], results, redact, model_id: str,
                       emitted_ts: float) -> list[Utterance]:
    """Transcribed utterances as calls.transcripts records, PII redacted (it never leaves this stage).

    The live app and ``callradar analyze`` both build their transcripts here, so they agree.
    """
    return [utt.to_record(redact(r.text.strip()), r.confidence, model_id, emitted_ts, r.no_speech_prob)
            for utt, r in zip(batch, results)]


class ChannelTrack:
    """One channel of one call: sequence checks, resampling, segmentation, clocks."""

    def __init__(self, call_id: str, speaker: str, settings: Settings, resume: dict | None = None):
        """``resume``: the progress saved before a restart; the track goes on from there."""
        self.call_id = call_id
        self.speaker = speaker
        self.segmenter = make_segmenter(settings, sample_rate=MODEL_RATE)
        self.resampler: StreamResampler | None = None  # made for the first chunk's rate
        self.resampler_rate = 0
        resume = resume or {}
        self.next_seq = resume.get("seq", -1) + 1
        self.resumed_at = self.next_seq if resume else None  # first seq expected after a restart
        self.origin = resume.get("sample", 0)  # call-clock sample where the segmenter's sample 0 is
        self.first_index = resume.get("index", 0)  # the segmenter's utterance 0 has this index
        self.next_index = self.first_index
        self.samples_fed = self.origin  # at MODEL_RATE, call clock
        self.last_capture_ts = 0.0  # capture time of the newest chunk's first sample
        self.last_chunk_start = 0  # its position, in MODEL_RATE samples
        self.last_seen_wall = 0.0
        self.source = None  # where its chunks come from (the app passes the Kafka partition)
        self.guessed: tuple[int, int, int] | None = None  # the last tentative utterance handed out

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
            if self.next_seq == self.resumed_at:
                # Progress is saved with each utterance sent; the silence after the last one was
                # committed before the restart (speech never is: HeldChunks) and is not read again.
                log.info("%s/%s: resumed at seq %d, %d chunk(s) of silence after the saved progress",
                         self.call_id, self.speaker, chunk.seq, missing)
            else:
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

    def tentative(self, silence_ms: int) -> PendingUtterance | None:
        """The open utterance as it will be sent if the silence so far goes on (see the segmenter)."""
        segment = self.segmenter.tentative(silence_ms, unless=self.guessed)
        if segment is None:
            return None
        self.guessed = (segment.index, segment.start_sample, segment.end_sample)  # each guess once
        return self._pending(segment, advance=False)

    def finish(self) -> list[PendingUtterance]:
        return [self._pending(s, ended=True) for s in self.segmenter.flush()]

    @property
    def settled(self) -> bool:
        """No speech open: a restart here loses nothing of this channel."""
        return not self.segmenter.in_utterance

    def progress(self, ended: bool = False) -> dict:
        """Where a restarted worker picks this channel up: after the newest chunk fed."""
        return {"seq": self.next_seq - 1, "sample": self.samples_fed, "index": self.next_index, "ended": ended}

    def _pending(self, segment, ended: bool = False, advance: bool = True) -> PendingUtterance:
        index = self.first_index + segment.index
        if advance:
            self.next_index = index + 1
        end_sample = self.origin + segment.end_sample
        return PendingUtterance(
            call_id=self.call_id,
            speaker=self.speaker,
            index=index,
            start=(self.origin + segment.start_sample) / MODEL_RATE,
            end=end_sample / MODEL_RATE,
            audio=segment.audio,
            audio_end_ts=self.last_capture_ts + (end_sample - self.last_chunk_start) / MODEL_RATE,
            progress=self.progress(ended),
        )


class TranscribeProcessor:
    """All live channels of the calls this worker owns."""

    def __init__(self, settings: Settings, idle_timeout_s: float | None = None,
                 progress: MutableMapping[str, dict] | None = None):
        """``progress``: call id -> {channel: progress}; the app passes a changelog-backed table."""
        self.settings = settings
        self.idle_timeout_s = settings.channel_idle_timeout_s if idle_timeout_s is None else idle_timeout_s
        self.timed_out = 0  # channels closed by the idle timeout
        self.tracks: dict[tuple[str, str], ChannelTrack] = {}
        self.ended: set[tuple[str, str]] = set()
        self.progress = progress if progress is not None else {}
        self.in_flight: Counter[tuple[str, str]] = Counter()  # utterances handed out, not yet sent
        self.replayed = 0  # redelivered messages that progress already covered
        self.newest_capture_ts: dict[object, float] = {}  # per source, of any chunk read from it
        self.read_through: dict[object, int] = {}  # per source, the furthest position read
        self.last_read_wall = 0.0  # when any chunk was last read

    def on_chunk(self, chunk: AudioChunk, now: float, source: object = None,
                 position: int | None = None) -> list[PendingUtterance]:
        """``source``: the stream the chunk came from (a Kafka partition); idle is judged per source.

        ``position``: the chunk's place in that stream (its offset). A chunk at or before the
        furthest place read is a re-read (the consumer went back to the committed offset after
        a seek): skipped if its channel already has it. The same chunk at a new place is a
        duplicate sent by the producer, and refused as before.
        """
        key = (chunk.call_id, chunk.channel)
        if position is not None:
            if position <= self.read_through.get(source, -1) and self._already_has(key, chunk.seq):
                self.replayed += 1
                return []
            self.read_through[source] = max(position, self.read_through.get(source, -1))
        if key in self.ended:
            raise MalformedMessage(f"chunk for {chunk.call_id}/{chunk.channel} after its channel ended")
        self.newest_capture_ts[source] = max(self.newest_capture_ts.get(source, 0.0), chunk.capture_ts)
        self.last_read_wall = now
        track = self.tracks.get(key)
        if track is None:
            saved = self._saved(key)
            if saved and (saved["ended"] or chunk.seq <= saved["seq"]):
                self.replayed += 1  # transcribed before a restart
                return []
            track = self.tracks[key] = ChannelTrack(chunk.call_id, chunk.channel, self.settings, resume=saved)
            track.source = source  # a call's messages all come from one partition (keyed by call id)
        return self._handed_out(key, track.feed(chunk, now))

    def _already_has(self, key: tuple[str, str], seq: int) -> bool:
        track = self.tracks.get(key)
        return key in self.ended or (track is not None and seq < track.next_seq)

    def tentative(self, call_id: str, channel: str, silence_ms: int) -> PendingUtterance | None:
        """The channel's open utterance, if it has been followed by ``silence_ms`` of silence.

        The app transcribes it ahead while the model is idle; when the utterance
        really ends (``vad_end_silence_ms``) with the same bounds, that transcript is used.
        """
        track = self.tracks.get((call_id, channel))
        return None if track is None else track.tentative(silence_ms)

    def end_channel(self, call_id: str, channel: str) -> list[PendingUtterance]:
        """The channel's last chunk has arrived: flush whatever speech is still open."""
        key = (call_id, channel)
        track = self.tracks.pop(key, None)
        self.ended.add(key)
        if len(self.ended) > 100_000:  # bounded memory; old calls will not come back
            self.ended.clear()
        if track is None:
            if (self._saved(key) or {}).get("ended"):
                self.replayed += 1
            return []
        finished = self._handed_out(key, track.finish())
        if not finished:
            self._save(key, track.progress(ended=True))
        return finished

    def sent(self, utt: PendingUtterance) -> None:
        """The utterance's transcript is on its way: record the channel's progress."""
        key = (utt.call_id, utt.speaker)
        self.in_flight[key] -= 1
        if self.in_flight[key] <= 0:
            del self.in_flight[key]
        self._save(key, utt.progress)

    def settled(self, call_id: str, channel: str) -> bool:
        """Nothing of this channel would be lost by a restart now (the app then acks its held audio)."""
        key = (call_id, channel)
        track = self.tracks.get(key)
        return not self.in_flight[key] and (track is None or track.settled)

    def _handed_out(self, key, finished: list[PendingUtterance]) -> list[PendingUtterance]:
        if finished:  # no zero counts left behind: an empty in_flight means nothing is out
            self.in_flight[key] += len(finished)
        return finished

    def _saved(self, key) -> dict | None:
        return (self.progress.get(key[0]) or {}).get(key[1])

    def _save(self, key, progress: dict) -> None:
        # A new dict each time: a changelog table writes on assignment, not on mutation.
        self.progress[key[0]] = {**(self.progress.get(key[0]) or {}), key[1]: progress}

    def evict_idle(self, now: float) -> list[PendingUtterance]:
        """Close channels that stopped sending without an end marker (a call that never ends).

        Idle means the audio of the other calls on the channel's own partition has
        moved on by the timeout (capture time), or nothing at all was read for the
        timeout. Not wall time since the channel's last chunk: a worker catching up
        on a backlog would close channels whose audio is still waiting in Kafka. And
        not other partitions' audio: a backlog is read unevenly across partitions
        (one can run minutes ahead of another), so only a channel's own partition,
        read in capture order, says its audio has stopped coming.
        """
        stale = [k for k, t in self.tracks.items()
                 if self.newest_capture_ts.get(t.source, 0.0) - t.last_capture_ts > self.idle_timeout_s
                 or now - self.last_read_wall > self.idle_timeout_s]
        out: list[PendingUtterance] = []
        self.timed_out += len(stale)
        for call_id, channel in stale:
            log.warning("%s/%s: no audio for %.0f s, closing the channel", call_id, channel, self.idle_timeout_s)
            out += self.end_channel(call_id, channel)
        return out

    def forget_source(self, source) -> list[tuple[str, str]]:
        """Drop the channels read from ``source`` (its partition was revoked); returns their keys.

        Kafka sends their audio again from the committed offset, to whichever worker
        gets the partition, and the saved progress picks each channel up there.
        """
        keys = [k for k, t in self.tracks.items() if t.source == source]
        for key in keys:
            del self.tracks[key]
        self.newest_capture_ts.pop(source, None)
        return keys

    @property
    def live_calls(self) -> int:
        return len({call_id for call_id, _ in self.tracks})

