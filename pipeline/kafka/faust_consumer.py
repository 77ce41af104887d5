"""Faust's Kafka consumer, made to hand over each partition in offset order and to commit
only what was acked. Part of the Kafka layer (with pipeline/kafka/app.py and pipeline/kafka/clients.py).

faust-streaming 0.15 can lose a message across a restart or rebalance; the kill -9 test
caught it as a transcript that was never scored, and as a call's risk that came back wrong
after the score worker's kill. Six gaps in its consumer line up:

* Records fetched before a seek (the seek to committed offsets after every rebalance) can
  still be handed over after it. Faust keeps one "read offset" per partition and drops any
  record below it, so a stale record past the seek target moves that offset on, and the
  re-fetched record at the target is then dropped (faust-streaming#221).
* Faust commits a run of acked offsets that starts one past the committed offset, so the
  message at the committed offset, never acked, is committed past (faust-streaming#606).
* A table write (the call state a stage keeps) is buffered, and Faust's flush before a commit
  gives up after 0.1 s with writes still in the buffer. A kill -9 then loses the state of
  messages whose offsets are committed: they are never read again, and the call's features
  restart without them.
* After a rebalance Faust resumes the stream partitions and seeks them to the committed
  offsets, and only then resumes its flow control, which empties every agent's queue. A
  record fetched between the two is dropped from the queue, never acked, and never fetched
  again (seen under the kill -9 test: a transcript that was never scored).
* Faust's ``getmany`` stops handing over a fetched batch when its flow stops or the consumer
  generation changes, and drops the rest; aiokafka has already moved past those records.
  Where nothing more is produced on that partition, no later record shows the gap (seen on
  a 2-core AMD machine: a restarted score worker fetched a partition's whole backlog right
  after recovery and then waited for it until it was stopped).
* Faust resumes a newly assigned partition before it seeks it to the committed offset, so
  the first records can come from wherever aiokafka's position was (seen under the kill -9
  test: a restarted transcriber got records from the log's end first, took the speech in
  between for lost chunks and lost the start of a customer's turn).

``InOrderConsumer`` closes all six: ``PartitionSequence`` hands over a partition's records in
strict offset order from the committed offset on, nothing before that seek (which it makes
itself where Faust's never comes), dropping repeats and seeking back over gaps (and Faust's
read-offset check then lets them through); a commit waits until the message at the committed
offset is acked; a commit waits until every table write made
so far is on the broker (``DurableTable``, ``ChangelogWrites``); and when the flow control
empties the queues, each partition is handed over again from the first record handed over
since the seek (``App`` tells the consumer; a stage skips by id what it had already taken);
and before each fetch, a partition whose aiokafka position is past the next offset to hand over
is sought back to it.
Compacted changelogs (no acks) pass untouched.

Apart from order, one more repair: ``ClosingConsumerThread`` lets a worker whose broker is
gone still stop on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from enum import Enum

import faust
from faust.exceptions import ConsumerNotStarted
from faust.transport.drivers import aiokafka as aiokafka_driver

log = logging.getLogger(__name__)


class Verdict(Enum):
    DELIVER = "deliver"  # the next offset: hand it over
    REPEAT = "repeat"  # below the next offset: already handed over
    RESEEK = "reseek"  # past the next offset: seek back to it and drop this one
    STALE = "stale"  # past the next offset, fetched before that seek back: dropped
    HOLE = "hole"  # still past it after RESEEKS_BEFORE_HOLE seeks back: the offsets between are gone
    UNSOUGHT = "unsought"  # the partition is not sought to its committed offset yet: dropped, fetched again after


RESEEKS_BEFORE_HOLE = 3
# Faust gives up on its seek to the committed offsets after broker_request_timeout (90 s) and goes
# on; a partition that waited this long for it is sought by us, so that it is never held for good.
UNSOUGHT_WAIT_S = 120.0


class PartitionSequence:
    """Which offset each partition hands over next, and what to do with a fetched record.

    Records are taken in strict offset order from wherever they come: a batch fetched
    around a seek holds the right records as often as not (aiokafka may have moved its
    position past them), so only the offset decides. A record past the next offset
    means the position ran ahead: seek back to the next offset. Only our own seeks back
    are counted, per partition, so that what a fetch begun before one returns is not
    taken for a hole; a gap that survives several seeks back is a real hole (retention).
    """

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.next_offset: dict = {}  # tp -> offset to hand over next (None: take what comes)
        self.unsought: dict = {}  # tp -> lowest offset dropped before its seek to committed
        self.unsought_since: dict = {}  # tp -> when the first of those was dropped
        self.handed: dict = {}  # tp -> first offset handed over since the last seek to committed
        self.reseeks: dict = {}  # tp -> seeks back so far (fetches are stamped with these)
        self._pending: dict = {}  # tp -> (seeks back at the last one, attempts) for the current gap
        self.dropped = {v: 0 for v in Verdict if v not in (Verdict.DELIVER, Verdict.HOLE)}

    def sought(self, offsets: Mapping) -> None:
        """Faust sought these partitions (to committed offsets): each hands over its offset next.

        None: nothing committed, the position stays where the reset policy put it, so the partition
        takes what comes, from the first record dropped before this seek if there was one.
        """
        for tp, offset in offsets.items():
            dropped = self.unsought.pop(tp, None)
            self.unsought_since.pop(tp, None)
            self.next_offset[tp] = offset if offset is not None and offset >= 0 else dropped
            self._pending.pop(tp, None)
            self.handed.pop(tp, None)

    def forget(self, tps: Iterable) -> None:
        for tp in tps:
            self.next_offset.pop(tp, None)
            self.unsought.pop(tp, None)
            self.unsought_since.pop(tp, None)
            self._pending.pop(tp, None)
            self.handed.pop(tp, None)

    def rewind(self) -> dict:
        """What was handed over since the seek was dropped: hand it over again. Returns
        tp -> the offset each partition goes back to (the caller seeks there)."""
        back, self.handed = self.handed, {}
        self.next_offset.update(back)
        return back

    def behind(self, positions: Mapping) -> dict:
        """Partitions whose fetch position is past the next offset to hand over: tp -> that offset.

        aiokafka moves a partition's position only as it hands records out, so a
        position past the next offset means records were handed out and dropped before
        they reached us (Faust's getmany drops the rest of a batch when its flow stops or
        the generation changes). With nothing more produced on that partition no later
        record would ever show the gap: the stage would wait for them forever.
        """
        return {tp: expected for tp, expected in self.next_offset.items()
                if expected is not None and positions.get(tp) is not None and positions[tp] > expected}

    def unsought_for(self, seconds: float) -> list:
        """Partitions whose records have waited longer than ``seconds`` for their seek to committed."""
        now = self.clock()
        return sorted(tp for tp, since in self.unsought_since.items() if now - since > seconds)

    def fetch_started(self) -> dict:
        return dict(self.reseeks)

    def admit(self, tp, offset: int, fetch: Mapping) -> Verdict:
        verdict = self._verdict(tp, offset, fetch)
        if verdict is Verdict.UNSOUGHT:
            self.unsought[tp] = min(offset, self.unsought.get(tp, offset))
            self.unsought_since.setdefault(tp, self.clock())
        if verdict in (Verdict.DELIVER, Verdict.HOLE):
            self.handed.setdefault(tp, offset)
            self.next_offset[tp] = offset + 1
            self._pending.pop(tp, None)
        else:
            self.dropped[verdict] += 1
        return verdict

    def _verdict(self, tp, offset: int, fetch: Mapping) -> Verdict:
        if tp not in self.next_offset:
            # Faust resumes a newly assigned partition before it seeks it to the committed offset, so
            # aiokafka can hand out records from anywhere first (the kill -9 test: from the log's end,
            # and the transcriber took the speech in between for lost chunks). Only the seek says where.
            return Verdict.UNSOUGHT
        expected = self.next_offset[tp]
        if expected is None or offset == expected:
            return Verdict.DELIVER
        if offset < expected:
            return Verdict.REPEAT
        pending = self._pending.get(tp)
        if pending is None:
            return Verdict.RESEEK
        last_reseek, attempts = pending
        if fetch.get(tp, 0) < last_reseek:
            return Verdict.STALE
        return Verdict.HOLE if attempts >= RESEEKS_BEFORE_HOLE else Verdict.RESEEK

    def reseeking(self, tp, over_gap: bool = True) -> int:
        """Count a seek back to the next offset for ``tp``; returns that offset. Only a seek back
        over a gap (``over_gap``) counts towards a hole; a rewind's does not."""
        self.reseeks[tp] = self.reseeks.get(tp, 0) + 1
        attempts = self._pending.get(tp, (0, 0))[1] + over_gap
        self._pending[tp] = (self.reseeks[tp], attempts)
        return self.next_offset[tp]


def commit_through(acked: list[int], committed: int | None) -> int | None:
    """The offset to commit for a partition: one past the run of acked offsets that starts
    at the committed offset (the next one to read), or None while that one is unacked."""
    if not acked:
        return None
    acked.sort()
    if committed is not None and acked[0] > committed:
        return None
    end = acked[0]
    for offset in acked:
        if offset > end:
            break
        end = offset + 1
    return end


class InOrderConsumer(aiokafka_driver.Consumer):
    """The aiokafka consumer with each partition handed over in order (see module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sequence = PartitionSequence()
        self.rewinds: set = set()  # partitions to seek back before the next fetch

    def _new_consumer_thread(self) -> ClosingConsumerThread:
        return ClosingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def on_queues_cleared(self) -> None:
        """Faust's flow control emptied the agents' queues: what they held is handed over again."""
        back = self.sequence.rewind()
        if back:
            log.info("agent queues emptied by the rebalance: handing over again from %s",
                     ", ".join(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in sorted(back.items())))
        self.rewinds.update(back)

    async def seek_to_committed(self):
        offsets = await super().seek_to_committed()
        early = dict(self.sequence.unsought)
        self._sought_committed(offsets)
        for tp, first in sorted(early.items()):  # usually from the committed offset itself: fetched again, quietly
            start = self.sequence.next_offset.get(tp)
            log.log(logging.DEBUG if first == start else logging.INFO,
                    "%s: records from offset %d came before the seek to the committed offset (%s): dropped, "
                    "handed over from %s", tp, first, offsets.get(tp), start)
        return offsets

    async def on_partitions_revoked(self, revoked) -> None:
        self.sequence.forget(revoked)
        self.rewinds.difference_update(revoked)  # no longer ours to seek
        await super().on_partitions_revoked(revoked)

    def fetch_positions(self) -> dict:
        """tp -> aiokafka's fetch position (one past the last record it handed out), where known."""
        try:
            assignment = self._thread._ensure_consumer()._fetcher._subscriptions.subscription.assignment
        except (AttributeError, ConsumerNotStarted):
            return {}
        positions = {}
        for tp in self.sequence.next_offset:  # Faust's TP and aiokafka's TopicPartition: equal tuples
            state = assignment.state_value(tp) if assignment is not None else None
            if state is not None and state.has_valid_position:
                positions[tp] = state.position
        return positions

    async def seek_unsought(self) -> None:
        """Seek partitions that waited too long for Faust's seek to committed there ourselves."""
        from aiokafka.structs import TopicPartition

        stuck = self.sequence.unsought_for(UNSOUGHT_WAIT_S)
        if not stuck:
            return
        log.warning("%s: no seek to the committed offset %.0f s after the assignment: seeking there now",
                    ", ".join(f"{tp.topic}[{tp.partition}]" for tp in stuck), UNSOUGHT_WAIT_S)
        offsets = await self._thread.call_thread(self._thread._ensure_consumer().seek_to_committed,
                                                 *(TopicPartition(tp.topic, tp.partition) for tp in stuck))
        self._sought_committed(offsets)

    def _sought_committed(self, offsets: Mapping) -> None:
        """aiokafka's answer to a seek to committed: it seeks only where an offset above 0 is committed,
        elsewhere the position stays (None: take what comes)."""
        self.sequence.sought({tp: offset if offset and offset > 0 else None for tp, offset in offsets.items()})

    async def getmany(self, timeout: float):
        await self.seek_unsought()
        for tp, offset in self.sequence.behind(self.fetch_positions()).items():
            log.warning("%s: records from offset %d were fetched but never handed over: fetching them again",
                        tp, offset)
            self.rewinds.add(tp)
        while self.rewinds:
            tp = self.rewinds.pop()
            await super()._seek(tp, self.sequence.reseeking(tp, over_gap=False))
        fetch = self.sequence.fetch_started()
        acks_enabled_for = self.app.topics.acks_enabled_for
        async for tp, message in super().getmany(timeout):
            if not acks_enabled_for(message.topic):
                yield tp, message
                continue
            expected = self.sequence.next_offset.get(tp)
            verdict = self.sequence.admit(tp, message.offset, fetch)
            if verdict is Verdict.DELIVER:
                # The order is ours to keep now: Faust's own read-offset check must let it pass.
                self._read_offset[tp] = message.offset
                yield tp, message
            elif verdict is Verdict.RESEEK:
                log.warning("%s: fetched offset %d, expected %d: seeking back to it", tp, message.offset, expected)
                await super()._seek(tp, self.sequence.reseeking(tp))
            elif verdict is Verdict.HOLE:
                log.warning("%s: offsets %d to %d are not on the broker (retention?): going on from %d",
                            tp, expected, message.offset - 1, message.offset)
                await self._add_gap(tp, expected, message.offset)
                self._read_offset[tp] = message.offset
                yield tp, message

    def _new_offset(self, tp):
        """As Faust's, but a commit waits for the message at the committed offset (faust-streaming#606)."""
        acked = self._acked[tp]
        if not acked:
            return None
        gaps = self._gap[tp]
        if gaps:  # offsets known to be absent count as acked (Faust's own bookkeeping)
            candidates = sorted(gaps.overlap(0, max(acked)), key=lambda i: i.begin)
            if candidates:
                filled = [o for i in candidates for o in range(i.begin, i.end)]
                acked.extend(filled)
                gaps.chop(0, max(filled[-1], max(acked) + 1))
        offset = commit_through(acked, self._committed_offset[tp])
        if offset is None:
            return None
        done = [o for o in acked if o < offset]
        acked[: len(done)] = []
        self._acked_index[tp].difference_update(done)
        return offset

    async def _commit_offsets(self, offsets, start_new_transaction: bool = True) -> bool:
        """As Faust's, but only once every table write made so far is on the broker (see module docstring)."""
        await self.app.producer.flush()  # Faust's: drains the buffer, or gives up after 0.1 s
        unsent, failed = await self.app.changelog_writes.unwritten(STATE_WRITE_WAIT_S)
        if failed is not None:
            await self.crash(failed)  # as Faust does when a send fails: a restart recovers from what is written
            return False
        if unsent:  # not committing is safe: a crash now makes Kafka send those messages again
            log.warning("offsets not committed yet: %d table write(s) not on the broker after %.0f s; "
                        "the next commit tries again", unsent, STATE_WRITE_WAIT_S)
            return False
        return await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction)


STATE_WRITE_WAIT_S = 10.0  # how long a commit waits for table writes before leaving it to the next one


class ChangelogWrites:
    """Table writes not yet acknowledged by the broker, which a commit waits for."""

    def __init__(self) -> None:
        self.pending: set[asyncio.Future] = set()
        self.failure: BaseException | None = None  # the first write that failed, even between commits

    def add(self, fut: asyncio.Future) -> None:
        self.pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: asyncio.Future) -> None:
        self.pending.discard(fut)
        if self.failure is None and not fut.cancelled() and fut.exception() is not None:
            self.failure = fut.exception()

    async def unwritten(self, timeout_s: float) -> tuple[int, BaseException | None]:
        """Wait up to ``timeout_s`` for the writes added so far: (how many are still unsent, the first failure)."""
        waiting = set(self.pending)
        if waiting:
            done, waiting = await asyncio.wait(waiting, timeout=timeout_s)
            for fut in done:
                self._done(fut)
        return len(waiting), self.failure


class DurableTable(faust.Table):
    """faust.Table whose changelog writes a commit waits for (``ChangelogWrites``)."""

    def send_changelog(self, *args, **kwargs):
        fut = super().send_changelog(*args, **kwargs)
        self.app.changelog_writes.add(fut)
        return fut


class ClosingConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose stop always ends.

    With the broker gone, a fetch request waits in aiokafka's retry back-off; on stop its
    ``Fetcher.close`` cancels that request and then awaits it, so the consumer's stop raises
    CancelledError (aiokafka 0.14). Faust's thread then never reports that it has shut down,
    and the worker waits for it forever: SIGTERM is logged and ignored, and only SIGKILL ends
    it. Here that error ends the close instead: the rest of the fetches are cancelled and the
    connections closed. A real cancel of the stop itself still propagates.
    """

    async def on_thread_stop(self) -> None:
        try:
            await super().on_thread_stop()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            log.warning("the Kafka consumer did not close cleanly (is the broker gone?); closing its connections")
            await _close_quietly(self._consumer)


async def _close_quietly(consumer) -> None:
    """What aiokafka's ``AIOKafkaConsumer.stop`` leaves undone when its fetcher's close raises."""
    fetcher = getattr(consumer, "_fetcher", None)
    pending = [t for t in getattr(fetcher, "_pending_tasks", ()) if not t.done()]
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    client = getattr(consumer, "_client", None)
    if client is not None:
        try:
            await client.close()
        except Exception as exc:  # the broker is gone: nothing more to do than say so
            log.warning("closing the Kafka connections failed: %r", exc)


class InOrderTransport(aiokafka_driver.Transport):
    Consumer = InOrderConsumer


class App(faust.App):
    """faust.App whose consumer is ``InOrderConsumer`` and whose tables are ``DurableTable``; when
    its flow control empties the agents' queues, the consumer hands their records over again."""

    def __init__(self, *args, **kwargs) -> None:
        self.changelog_writes = ChangelogWrites()
        super().__init__(*args, Table=DurableTable, **kwargs)
        resume = self.flow_control.resume

        def resume_and_rewind() -> None:
            resume()  # empties every agent's queue (mode's FlowControlEvent), after the seek
            if isinstance(self._consumer, InOrderConsumer):
                self._consumer.on_queues_cleared()

        self.flow_control.resume = resume_and_rewind

    def _new_transport(self):
        return InOrderTransport(self.conf.broker_consumer, self)
