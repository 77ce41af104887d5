"""Speech-to-text scheduling for the transcribe stage: queues, concurrent model calls, transcripts made ahead.

No Kafka here: pipeline/kafka/app.py puts finished utterances in and sends what comes out.

* One queue per whisper worker (``CALLRADAR_WHISPER_WORKERS``), a call always in
  the same one, so a channel's utterances come out in order (its saved progress
  and held audio rely on that); the queues' model calls run at once.
* Transcribe ahead (``CALLRADAR_VAD_TRANSCRIBE_AHEAD_MS``): once an open
  utterance has been followed by that much silence, the utterance it will
  become is transcribed then, if its queue is empty: one guess at a time, on a
  model worker of its own, so a guess never holds up an utterance that has
  ended. When the silence reaches the end-of-utterance length with the same
  bounds, that transcript is used and the model is not called again: the
  end-of-utterance wait and the model time overlap. If speech resumes first,
  the guess is wasted CPU (bench/transcribe_ahead.py measures how much).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from concurrent.futures import Executor

from callradar.pipeline.stages.transcribe import MODEL_RATE, PendingUtterance, TranscribeProcessor

BATCH = 8  # utterances handed to the speech model at once


class SpeechQueue:
    """The transcribe stage's speech-to-text side; the app feeds it utterances and sends its transcripts."""

    def __init__(self, stt, pool: Executor, workers: int, queue_max: int, ahead_ms: int, metrics):
        self.stt = stt
        self.pool = pool
        self.workers = workers
        self.queues = [asyncio.Queue(maxsize=max(1, queue_max // workers)) for _ in range(workers)]
        self.ahead_ms = ahead_ms
        self.metrics = metrics
        self.guessing = 0  # guesses in flight: one at a time, on a model worker of their own
        self.ahead: dict[str, tuple[tuple[float, float], asyncio.Future]] = {}  # utterance id -> (bounds, transcript)

    def queue_for(self, call_id: str) -> asyncio.Queue:
        return self.queues[zlib.crc32(call_id.encode()) % self.workers]

    async def put(self, utt: PendingUtterance) -> None:
        """Waits while the call's queue is full: ingest stops reading and the backlog stays in Kafka."""
        await self.queue_for(utt.call_id).put(utt)

    def qsize(self) -> int:
        return sum(q.qsize() for q in self.queues)

    def guess(self, processor: TranscribeProcessor, call_id: str, channel: str) -> None:
        """After a chunk: transcribe the channel's open utterance ahead if it may have ended, its queue
        is empty and no other guess is running."""
        if not self.ahead_ms or self.guessing or not self.queue_for(call_id).empty():
            return
        utt = processor.tentative(call_id, channel, self.ahead_ms)
        if utt is None:
            return
        replaced = self.ahead.pop(utt.utterance_id, None)
        if replaced is not None:
            self._wasted(replaced[1])  # speech went on after the earlier guess
        self.ahead[utt.utterance_id] = ((utt.start, utt.end), asyncio.ensure_future(self._guess(utt)))

    def forget(self, keys) -> None:
        """Channels dropped by a rebalance: their guesses will not be asked for."""
        prefixes = tuple(f"{call_id}/{channel}/" for call_id, channel in keys)
        for utterance_id in [u for u in self.ahead if u.startswith(prefixes)]:
            self._wasted(self.ahead.pop(utterance_id)[1])

    async def next_batch(self, queue: asyncio.Queue) -> list[PendingUtterance]:
        batch = [await queue.get()]
        while len(batch) < BATCH and not queue.empty():
            batch.append(queue.get_nowait())
        return batch

    async def transcribe(self, batch: list[PendingUtterance]) -> list:
        """Transcripts of the batch, in order: those made ahead where the bounds match, the rest now.

        Busy time and audio count the transcripts sent, whenever they were made (the
        real-time factor and the autoscaler's busy share stay true); a wasted guess's
        model time is counted apart, as ``callradar_stt_ahead_seconds_total{outcome="wasted"}``.
        """
        made: dict[int, asyncio.Future] = {}
        for i, utt in enumerate(batch):
            guessed = self.ahead.pop(utt.utterance_id, None)
            if guessed is not None and guessed[0] == (utt.start, utt.end):
                made[i] = guessed[1]
            elif guessed is not None:
                self._wasted(guessed[1])
        rest = [i for i in range(len(batch)) if i not in made]
        now = asyncio.ensure_future(self._model([batch[i] for i in rest])) if rest else None
        results: list = [None] * len(batch)
        failed = []
        for i, fut in made.items():
            try:
                result, elapsed_s = await fut
            except Exception:  # noqa: BLE001 - the guess failed: transcribe it again below
                failed.append(i)
                continue
            results[i] = result
            self.metrics.on_transcribed_ahead("used", elapsed_s)
            self.metrics.on_transcribed(len(batch[i].audio) / MODEL_RATE, elapsed_s)
        if now is not None:
            for i, result in zip(rest, await now):
                results[i] = result
        if failed:
            for i, result in zip(failed, await self._model([batch[i] for i in failed])):
                results[i] = result
        return results

    async def _model(self, utterances: list[PendingUtterance]) -> list:
        """Utterances that have ended, in one model call on a worker thread."""
        started = time.perf_counter()
        results = await self._call([u.audio for u in utterances])
        self.metrics.on_transcribed(sum(len(u.audio) for u in utterances) / MODEL_RATE, time.perf_counter() - started)
        return results

    async def _guess(self, utt: PendingUtterance):
        """(transcript, model seconds) of an utterance that may have ended; one at a time."""
        self.guessing += 1
        started = time.perf_counter()
        try:
            return (await self._call([utt.audio]))[0], time.perf_counter() - started
        finally:
            self.guessing -= 1

    def _wasted(self, guess: asyncio.Future) -> None:
        """Count a guess that will not be used, and its model time once it is done."""
        def done(f: asyncio.Future) -> None:
            if not f.cancelled() and f.exception() is None:  # a failed guess's error is not news
                self.metrics.on_transcribed_ahead("wasted", f.result()[1])

        guess.add_done_callback(done)

    async def _call(self, audios: list):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.stt.transcribe_batch, audios)
