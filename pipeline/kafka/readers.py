"""Readers for the parts of callradar that consume topics outside the Faust worker.

The console follows its topics from a while ago onwards, and calls.cases from its
beginning (:class:`RecentReader`); the
archive is a consumer group that commits by hand only what it has written
(:class:`GroupReader`), and dead-letters what it cannot read (:class:`DeadLetterSender`).
Both hand their callers :class:`RawRecord` and keep every kafka-python type here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from callradar.pipeline.kafka.clients import make_consumer, make_producer
from callradar.pipeline.records import DeadLetter, Topics
from callradar.pipeline.settings import Settings

log = logging.getLogger(__name__)

Partition = tuple[str, int]  # (topic, partition)


class RawRecord(NamedTuple):
    """One message as read: key and value still bytes, so a caller can decode it or dead-letter the original."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list
    timestamp: int  # ms since the epoch, the producer's (or the broker's) time

    @classmethod
    def of(cls, rec) -> RawRecord:
        return cls(rec.topic, rec.partition, rec.offset, rec.key, rec.value, list(rec.headers or ()), rec.timestamp)


class RecentReader(threading.Thread):
    """Reads ``topics`` from ``history_s`` seconds ago onwards and hands each poll's records to ``on_batch``.

    Topics in ``from_start`` are read from their beginning instead (state that is rebuilt
    from its events, such as calls.cases). No consumer group, so nothing is committed and
    every reader sees every partition. Waits for topics that do not exist yet;
    ``on_connected`` is called once every partition is assigned and positioned, and
    ``on_caught_up`` (if given) once everything that was on the topics then has been
    handed over. kafka-python reconnects by itself after that; an error it cannot get
    over is logged and ends the reader.
    """

    def __init__(self, settings: Settings, topics: Iterable[str], history_s: float,
                 on_batch: Callable[[list[RawRecord]], None], on_connected: Callable[[], None] = lambda: None,
                 name: str = "kafka-reader", from_start: Iterable[str] = (),
                 on_caught_up: Callable[[], None] | None = None):
        super().__init__(daemon=True, name=name)
        self.settings, self.topics, self.history_s = settings, list(topics), history_s
        self.from_start = set(from_start)
        self.on_batch, self.on_connected, self.on_caught_up = on_batch, on_connected, on_caught_up
        self._stop_event = threading.Event()

    def run(self) -> None:
        from kafka import TopicPartition

        consumer = make_consumer(self.settings, None, group_id=None, from_beginning=False)
        try:
            assigned = []
            for topic in self.topics:
                partitions = None
                while partitions is None and not self._stop_event.is_set():
                    partitions = consumer.partitions_for_topic(topic)
                    if partitions is None:
                        time.sleep(0.5)
                assigned += [TopicPartition(topic, p) for p in sorted(partitions or ())]
            consumer.assign(assigned)
            recent = [tp for tp in assigned if tp.topic not in self.from_start]
            since_ms = int((time.time() - self.history_s) * 1000)
            starts = consumer.offsets_for_times({tp: since_ms for tp in recent}) if recent else {}
            for tp in assigned:
                if tp.topic in self.from_start:
                    consumer.seek_to_beginning(tp)
                elif starts.get(tp) is not None:
                    consumer.seek(tp, starts[tp].offset)
                else:
                    consumer.seek_to_end(tp)
            # what was there when we started: once read, the caller's state is as complete as the topics'
            behind = dict(consumer.end_offsets(assigned)) if self.on_caught_up is not None else {}
            self.on_connected()
            while not self._stop_event.is_set():
                batch = [RawRecord.of(rec) for records in consumer.poll(timeout_ms=200).values() for rec in records]
                if batch:
                    self.on_batch(batch)
                if self.on_caught_up is not None:
                    behind = {tp: end for tp, end in behind.items() if consumer.position(tp) < end}
                    if not behind:
                        self.on_caught_up()
                        self.on_caught_up = None
        except Exception:
            log.exception("the Kafka reader %s stopped", self.name)
        finally:
            consumer.close()

    def stop(self) -> None:
        self._stop_event.set()
        if self.ident is not None:  # started
            self.join(10)


class GroupReader:
    """One member of a consumer group that commits by hand, for a consumer that holds records back.

    Runs in the calling thread until ``stop`` is set (or Ctrl-C), and calls back:

    * ``on_record(record)`` for every record read;
    * ``on_tick()`` every ``every_s``, after which it commits, for each partition it
      owns, ``committable((topic, partition), position)``: the caller's oldest offset
      not yet done with, else the position (the next offset to read);
    * ``on_revoked()`` when a rebalance takes partitions away (no commit there: it runs
      inside the client, where blocking calls fail; the new owner may read those
      records again, so the caller must tolerate duplicates);
    * ``on_stop(interrupted)`` on the way out, before the last commit; ``interrupted``
      says it was Ctrl-C.
    """

    def __init__(self, settings: Settings, group_id: str, topics: Iterable[str], *,
                 on_record: Callable[[RawRecord], None], committable: Callable[[Partition, int], int],
                 on_tick: Callable[[], None] = lambda: None, on_revoked: Callable[[], None] = lambda: None,
                 on_stop: Callable[[bool], None] = lambda interrupted: None, every_s: float = 1.0):
        self.topics = list(topics)
        self.on_record, self.committable = on_record, committable
        self.on_tick, self.on_revoked, self.on_stop, self.every_s = on_tick, on_revoked, on_stop, every_s
        self.consumer = make_consumer(settings, None, group_id=group_id, enable_auto_commit=False)

    def run(self, stop: threading.Event) -> None:
        from kafka import ConsumerRebalanceListener

        outer = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                outer.on_revoked()

            def on_partitions_assigned(self, assigned):
                pass

        self.consumer.subscribe(self.topics, listener=Listener())
        last_tick = time.monotonic()
        interrupted = False
        try:
            try:
                while not stop.is_set():
                    for records in self.consumer.poll(timeout_ms=200).values():
                        for rec in records:
                            self.on_record(RawRecord.of(rec))
                    if time.monotonic() - last_tick >= self.every_s:
                        last_tick = time.monotonic()
                        self.on_tick()
                        self._commit()
            except KeyboardInterrupt:
                interrupted = True
            self.on_stop(interrupted)
            self._commit()
        finally:
            self.consumer.close()

    def _commit(self) -> None:
        from kafka.structs import OffsetAndMetadata

        offsets = {tp: OffsetAndMetadata(self.committable((tp.topic, tp.partition), self.consumer.position(tp)), "", -1)
                   for tp in self.consumer.assignment()}
        if offsets:
            self.consumer.commit(offsets)


class DeadLetterSender:
    """Puts records a consumer outside the Faust stages refuses on calls.deadletter, as the stages do.

    The producer is made on the first refusal, so a consumer that never refuses anything never opens one.
    """

    def __init__(self, settings: Settings, stage: str):
        self.settings, self.stage = settings, stage
        self.topic = Topics(settings.topic_prefix).deadletter
        self.producer = None

    def send(self, record: RawRecord, reason: str) -> None:
        self.producer = self.producer or make_producer(self.settings)
        doc = DeadLetter.refused(self.stage, record.topic, reason, record.key or None, record.value, record.headers,
                                 time.time())
        self.producer.send(self.topic, key=record.key or b"", value=doc.encode())

    def close(self) -> None:
        if self.producer is not None:
            self.producer.flush(5)
            self.producer.close(5)
