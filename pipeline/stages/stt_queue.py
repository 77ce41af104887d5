"""Speech-to-text scheduling for the transcribe stage: queues, concurrent model calls, transcripts made ahead.

No Kafka here: pipeline/kafka/app.py puts finished utterances in and sends what comes out.

* One queue per whisper worker (``CALLRADAR_WHISPER_WORKERS``), a call always in
  the same one, so a channel's utterances come out in order (its saved progress
  and held audio rely on that); the queues' model calls run at once.
* Customer first (``CALLRADAR_STT_PRIORITY=customer-first``, the default): an
  alert is driven by what the customer says, so a batch holds customer
  utterances only while any waits; agent utterances go when none does, one at a
  time (``AGENT_BATCH``: a customer utterance that ends meanwhile waits for that one
  only). Up to ``CALLRADAR_STT_AGENT_BACKLOG_S`` seconds of agent audio per
  queue wait in memory without stopping ingest (they do not count against
  ``CALLRADAR_STT_QUEUE_MAX``); past that, up to ``CALLRADAR_STT_AGENT_SPOOL_S``
  more wait with their audio on disk (pipeline/stages/agent_spool.py), so the
  customers stay on time through a long overload while memory stays bounded.
  Past both bounds an agent utterance waits to be queued, like a full queue:
  ingest pauses, the backlog stays in Kafka, and the agent side drains. Nothing is
  dropped, each channel stays in order (its lane is first in, first out), and a
  waiting utterance keeps its audio's offsets held (pipeline/kafka/acks.py) until
  it is sent. ``fifo`` is the order before.
* Transcribe ahead (``CALLRADAR_VAD_TRANSCRIBE_AHEAD_MS``): once an open
  utterance has been followed by that much silence, the utterance it will
  become is transcribed then, if no finished utterance of its priority waits
  (customer first: a customer guess ignores waiting agent utterances; an agent
  guess needs the queue empty): one guess at a time, on a model worker of its
  own, so a guess never holds up an utterance that has ended. When the silence
  reaches the end-of-utterance length with the same bounds, that transcript is
  used and the model is not called again: the end-of-utterance wait and the
  model time overlap. If speech resumes first, the guess is wasted CPU
  (bench/transcribe_ahead.py measures how much).
* How far behind each call's agent side is: the time its oldest agent utterance in
  the agent lane has waited. Every transcript of the call carries it as
  ``agent_behind_s`` (customer utterances keep flowing while the agent side waits, so
  they bring the news to the console); /metrics counts the calls behind by more than
  ``AGENT_BEHIND_NOTICE_S`` and the largest lag, per whisper worker.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import deque
from concurrent.futures import Executor

import numpy as np

from callradar.pipeline.records import AGENT_BEHIND_NOTICE_S
from callradar.pipeline.settings import STT_PRIORITIES
from callradar.pipeline.stages.agent_spool import AudioSpool
from callradar.pipeline.stages.transcribe import MODEL_RATE, PendingUtterance, TranscribeProcessor

BATCH = 8  # utterances handed to the speech model at once (a GPU)
# On a CPU a batch costs about the sum of its utterances (analyze measured 8 % saved), and every
# utterance in it waits for the whole batch: smaller batches send the first ones sooner.
CPU_BATCH = 2
# Agent utterances per model call while customer first: a customer utterance that ends during an agent
# batch waits for all of it (tiny.en on one CPU thread: about 0.2 s an utterance). On a CPU batching
# saves little (analyze measured 8 %), so one at a time.
AGENT_BATCH = 1
PRIORITIES = STT_PRIORITIES  # CALLRADAR_STT_PRIORITY: customer-first | fifo


_PARKED = np.zeros(0, np.float32)  # a waiting utterance's audio while the spool holds it


class UtteranceQueue:
    """One whisper worker's finished utterances waiting for the model, in two lanes.

    ``customer-first``: customers (at most ``maxsize`` waiting) before agents (up to
    ``agent_backlog_s`` of audio waiting). ``fifo``: one lane, ``maxsize`` in all.
    """

    def __init__(self, maxsize: int, priority: str = "customer-first", agent_backlog_s: float = 600.0,
                 clock=time.monotonic, spool: AudioSpool | None = None):
        if priority not in PRIORITIES:
            raise ValueError(f"priority {priority!r}: choose from {', '.join(PRIORITIES)}")
        self.maxsize = maxsize
        self.priority = priority
        self.agent_backlog_s = agent_backlog_s
        self.clock = clock
        self.first: deque[PendingUtterance] = deque()  # customer (all, for fifo)
        self.agent: deque[PendingUtterance] = deque()  # customer-first only
        self.agent_audio_s = 0.0  # audio of the agent lane, seconds (in memory and parked on disk)
        self.agent_memory_s = 0.0  # of which in memory
        self.spool = spool  # where agent audio past agent_backlog_s waits (None: nowhere, ingest pauses)
        # call id -> when each of its agent utterances in the agent lane was queued, oldest first
        self.agent_queued_at: dict[str, deque[float]] = {}
        self.changed = asyncio.Condition()

    def empty(self) -> bool:
        return not self.first and not self.agent

    def qsize(self) -> int:
        return len(self.first) + len(self.agent)

    def customer_waits(self) -> bool:
        """A finished customer utterance waits (fifo: any utterance, as every one is first in line)."""
        return bool(self.first)

    def agent_backlog(self) -> tuple[float, int, float]:
        """(seconds of agent audio, agent utterances, seconds the oldest has waited) in this queue."""
        oldest = self.clock() - self.agent[0].queued_at if self.agent else 0.0
        return self.agent_audio_s, len(self.agent), max(0.0, oldest)

    def agent_behind(self, call_id: str) -> float:
        """Seconds the call's oldest waiting agent utterance has waited (0.0: none of its agent side waits)."""
        queued_at = self.agent_queued_at.get(call_id)
        return max(0.0, self.clock() - queued_at[0]) if queued_at else 0.0

    def calls_behind(self, over_s: float = AGENT_BEHIND_NOTICE_S) -> tuple[int, float]:
        """(calls whose agent side is more than ``over_s`` behind, the largest lag in seconds) in this queue."""
        now = self.clock()
        lags = [max(0.0, now - queued_at[0]) for queued_at in self.agent_queued_at.values()]
        return sum(lag > over_s for lag in lags), max(lags, default=0.0)

    def _lane(self, utt: PendingUtterance) -> deque:
        return self.agent if self.priority == "customer-first" and utt.speaker == "agent" else self.first

    def _room_for(self, utt: PendingUtterance) -> bool:
        if self._lane(utt) is self.agent:
            return (not self.agent or self.agent_memory_s < self.agent_backlog_s
                    or (self.spool is not None and self.spool.has_room(len(utt.audio) / MODEL_RATE)))
        return len(self.first) < self.maxsize

    async def put(self, utt: PendingUtterance) -> None:
        """Waits while its lane is full: ingest stops reading and the backlog stays in Kafka."""
        async with self.changed:
            await self.changed.wait_for(lambda: self._room_for(utt))
            utt.queued_at = self.clock()
            lane = self._lane(utt)
            if lane is self.agent:
                seconds = len(utt.audio) / MODEL_RATE
                self.agent_audio_s += seconds
                if self.agent and self.agent_memory_s >= self.agent_backlog_s:  # so by _room_for the spool has room
                    self.spool.park(utt.utterance_id, utt.audio)
                    utt.audio = _PARKED
                else:
                    self.agent_memory_s += seconds
            lane.append(utt)
            if lane is self.agent:
                self.agent_queued_at.setdefault(utt.call_id, deque()).append(utt.queued_at)
            self.changed.notify_all()

    async def take(self, size: int) -> list[PendingUtterance]:
        """The next batch, waiting for one: customers (or, fifo, the oldest) while any wait, else agents."""
        async with self.changed:
            await self.changed.wait_for(lambda: not self.empty())
            lane = self.first if self.first else self.agent
            if lane is self.agent and self.priority == "customer-first":
                size = min(size, AGENT_BATCH)
            batch = [lane.popleft() for _ in range(min(size, len(lane)))]
            if lane is self.agent:
                in_memory = sum(len(u.audio) for u in batch if u.audio is not _PARKED) / MODEL_RATE
                for utt in batch:
                    if utt.audio is _PARKED:
                        utt.audio = self.spool.take(utt.utterance_id)
                total = sum(len(u.audio) for u in batch) / MODEL_RATE
                self.agent_audio_s = max(0.0, self.agent_audio_s - total)
                self.agent_memory_s = max(0.0, self.agent_memory_s - in_memory)
                if not self.agent:
                    self.agent_audio_s = self.agent_memory_s = 0.0  # no float drift left over
                for utt in batch:  # the lane is first in, first out: each is its call's oldest
                    queued_at = self.agent_queued_at[utt.call_id]
                    queued_at.popleft()
                    if not queued_at:
                        del self.agent_queued_at[utt.call_id]
            now = self.clock()
            for utt in batch:
                utt.queued_s = max(0.0, now - utt.queued_at)
            self.changed.notify_all()
            return batch


class SpeechQueue:
    """The transcribe stage's speech-to-text side; the app feeds it utterances and sends its transcripts."""

    def __init__(self, stt, pool: Executor, workers: int, queue_max: int, ahead_ms: int, metrics,
                 priority: str = "customer-first", agent_backlog_s: float = 600.0,
                 spool: AudioSpool | None = None, batch: int = BATCH):
        self.stt = stt
        self.batch = batch
        self.pool = pool
        self.workers = workers
        self.spool = spool  # shared by the queues: one bound on disk for the worker
        self.queues = [UtteranceQueue(max(1, queue_max // workers), priority, agent_backlog_s, spool=spool)
                       for _ in range(workers)]
        self.ahead_ms = ahead_ms
        self.metrics = metrics
        self.guessing = 0  # guesses in flight: one at a time, on a model worker of their own
        self.ahead: dict[str, tuple[tuple[float, float], asyncio.Future]] = {}  # utterance id -> (bounds, transcript)
        for i, queue in enumerate(self.queues):
            metrics.watch_agent_backlog(str(i), queue.agent_backlog)
            metrics.watch_agent_behind(str(i), queue.calls_behind)

    def queue_for(self, call_id: str) -> UtteranceQueue:
        return self.queues[zlib.crc32(call_id.encode()) % self.workers]

    async def put(self, utt: PendingUtterance) -> None:
        """Waits while the call's queue is full: ingest stops reading and the backlog stays in Kafka."""
        await self.queue_for(utt.call_id).put(utt)

    def qsize(self) -> int:
        return sum(q.qsize() for q in self.queues)

    def agent_behind(self, call_id: str) -> float:
        """Seconds the call's agent side is behind: its oldest waiting agent utterance's wait (0.0: none)."""
        return self.queue_for(call_id).agent_behind(call_id)

    def guess(self, processor: TranscribeProcessor, call_id: str, channel: str) -> None:
        """After a chunk: transcribe the channel's open utterance ahead if it may have ended, no finished
        utterance it would have to wait behind is queued, and no other guess is running."""
        queue = self.queue_for(call_id)
        busy = queue.customer_waits() if channel == "customer" else not queue.empty()
        if not self.ahead_ms or self.guessing or busy:
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

    async def next_batch(self, queue: UtteranceQueue) -> list[PendingUtterance]:
        return await queue.take(self.batch)

    async def transcribe(self, batch: list[PendingUtterance]) -> list:
        """Transcripts of the batch, in order: those made ahead where the bounds match, the rest now.

        Busy time and audio count the transcripts sent, whenever they were made (the
        real-time factor and the autoscaler's busy share stay true); a wasted guess's
        model time is counted apart, as ``callradar_stt_ahead_seconds_total{outcome="wasted"}``.
        Each utterance gets its call's ``agent_behind_s`` as of now, when its transcript is ready to send.
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
        for utt in batch:
            utt.agent_behind_s = self.agent_behind(utt.call_id)
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
