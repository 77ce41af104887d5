"""pipeline/kafka/readers.py against a stand-in kafka-python consumer: what is sought, handed over and committed.

The real broker runs these in tests/integration/test_archive_consumer.py and tests/browser/.
"""

from __future__ import annotations

import base64
import threading
import time
from types import SimpleNamespace

from kafka import TopicPartition
from kafka.structs import OffsetAndTimestamp

from callradar.pipeline.kafka import readers
from callradar.pipeline.settings import load_settings

SETTINGS = load_settings(environ={})


def message(topic, partition, offset, value=b"{}"):
    return SimpleNamespace(topic=topic, partition=partition, offset=offset, key=b"c1", value=value,
                           headers=[("h", b"1")], timestamp=1000)


class FakeConsumer:
    """Answers like KafkaConsumer: ``batches`` are what successive polls return."""

    def __init__(self, partitions=None, batches=(), starts=None):
        self.partitions = partitions or {}
        self.batches = list(batches)
        self.starts = starts or {}
        self.sought, self.commits, self.assigned, self.closed = {}, [], [], False
        self.listener = None
        self.positions = {}

    def partitions_for_topic(self, topic):
        return self.partitions.get(topic)

    def assign(self, tps):
        self.assigned = list(tps)

    def offsets_for_times(self, times):
        self.asked_since = set(times.values())
        return {tp: (OffsetAndTimestamp(self.starts[tp], 0, -1) if tp in self.starts else None) for tp in times}

    def seek(self, tp, offset):
        self.sought[tp] = offset

    def seek_to_end(self, tp):
        self.sought[tp] = "end"

    def subscribe(self, topics, listener=None):
        self.subscribed, self.listener = topics, listener
        self.assigned = [TopicPartition(t, 0) for t in topics]

    def poll(self, timeout_ms):
        time.sleep(timeout_ms / 1000 / 20)
        if not self.batches:
            return {}
        batch = self.batches.pop(0)
        if callable(batch):
            batch = batch()
        out = {}
        for rec in batch:
            out.setdefault(TopicPartition(rec.topic, rec.partition), []).append(rec)
            self.positions[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
        return out

    def assignment(self):
        return set(self.assigned)

    def position(self, tp):
        return self.positions.get(tp, 0)

    def commit(self, offsets):
        self.commits.append({(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()})

    def close(self):
        self.closed = True


def test_the_recent_reader_seeks_each_partition_to_the_history_start_and_hands_batches_over(monkeypatch):
    consumer = FakeConsumer(
        partitions={"a": {0, 1}, "b": {0}},
        starts={TopicPartition("a", 0): 5, TopicPartition("b", 0): 2},  # a/1 has nothing that recent
        batches=[[message("a", 0, 5), message("b", 0, 2)], [], [message("a", 1, 9)]],
    )
    monkeypatch.setattr(readers, "make_consumer", lambda *a, **kw: consumer)
    got, connected = [], threading.Event()
    reader = readers.RecentReader(SETTINGS, ["a", "b"], 60.0, got.append, connected.set)
    began = time.time()
    reader.start()
    assert connected.wait(5)
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    reader.stop()
    assert not reader.is_alive() and consumer.closed
    assert consumer.sought == {TopicPartition("a", 0): 5, TopicPartition("a", 1): "end", TopicPartition("b", 0): 2}
    (since_ms,) = consumer.asked_since
    assert abs(since_ms / 1000 - (began - 60.0)) < 2
    assert [[(r.topic, r.offset) for r in batch] for batch in got] == [[("a", 5), ("b", 2)], [("a", 9)]]
    assert got[0][0] == readers.RawRecord("a", 0, 5, b"c1", b"{}", [("h", b"1")], 1000)


def test_the_group_reader_commits_only_what_the_caller_allows_and_finishes_before_closing(monkeypatch):
    stop = threading.Event()
    consumer = FakeConsumer(batches=[[message("t", 0, 0), message("t", 0, 1)], [], [message("t", 0, 2)]])
    monkeypatch.setattr(readers, "make_consumer", lambda *a, **kw: consumer)
    seen, calls = [], []
    held = {("t", 0): 1}  # the caller still needs offset 1 and on

    def on_stop(interrupted):
        calls.append(("stop", interrupted))
        held.clear()  # everything written on the way out

    def on_tick():
        calls.append("tick")
        if len(seen) == 3:
            stop.set()

    reader = readers.GroupReader(
        SETTINGS, "g", ["t"], on_record=seen.append, on_tick=on_tick, on_stop=on_stop,
        committable=lambda partition, position: min(held.get(partition, position), position), every_s=0.0)
    reader.run(stop)
    assert [r.offset for r in seen] == [0, 1, 2]
    assert consumer.subscribed == ["t"] and consumer.closed
    assert consumer.commits[0] == {("t", 0): 1}  # not past what is held
    assert consumer.commits[-1] == {("t", 0): 3}  # after on_stop: everything
    assert calls[-1] == ("stop", False) and "tick" in calls


def test_the_group_reader_tells_the_caller_of_a_revocation_and_of_ctrl_c(monkeypatch):
    events = []

    def revoke_then_interrupt():
        consumer.listener.on_partitions_revoked({TopicPartition("t", 0)})
        raise KeyboardInterrupt

    consumer = FakeConsumer(batches=[revoke_then_interrupt])
    monkeypatch.setattr(readers, "make_consumer", lambda *a, **kw: consumer)
    reader = readers.GroupReader(SETTINGS, "g", ["t"], on_record=events.append, committable=lambda p, pos: pos,
                                 on_revoked=lambda: events.append("revoked"),
                                 on_stop=lambda interrupted: events.append(("stop", interrupted)))
    reader.run(threading.Event())
    assert events == ["revoked", ("stop", True)] and consumer.closed


def test_dead_letters_keep_the_original_and_say_who_refused_it(monkeypatch):
    from callradar.pipeline.records import DeadLetter

    sent = []
    producer = SimpleNamespace(send=lambda topic, key, value: sent.append((topic, key, value)),
                               flush=lambda timeout: None, close=lambda timeout: sent.append("closed"))
    made = []
    monkeypatch.setattr(readers, "make_producer", lambda settings: made.append(1) or producer)
    dead = readers.DeadLetterSender(SETTINGS, "archive")
    dead.close()  # nothing refused: no producer was ever made
    assert made == []
    record = readers.RawRecord("calls.outcomes", 0, 7, b"c1", b'{"outcome": "furious"}', [], 0)
    dead.send(record, "outcome: furious is not an outcome")
    dead.close()
    (topic, key, value), closed = sent
    letter = DeadLetter.decode(value)
    assert (topic, key, closed, len(made)) == ("calls.deadletter", b"c1", "closed", 1)
    assert (letter.stage, letter.source_topic, letter.reason) == ("archive", "calls.outcomes",
                                                                   "outcome: furious is not an outcome")
    assert base64.b64decode(letter.value_b64) == record.value



def test_the_recent_reader_reads_state_topics_from_the_start_and_says_when_it_has_caught_up(monkeypatch):
    class StartingConsumer(FakeConsumer):
        def seek_to_beginning(self, tp):
            self.sought[tp] = "beginning"

        def end_offsets(self, tps):
            return {tp: {TopicPartition("cases", 0): 2}.get(tp, 0) for tp in tps}

    consumer = StartingConsumer(partitions={"a": {0}, "cases": {0}}, starts={TopicPartition("a", 0): 7},
                                batches=[[message("cases", 0, 0)], [], [message("cases", 0, 1)], [], []])
    monkeypatch.setattr(readers, "make_consumer", lambda *a, **kw: consumer)
    got, caught_up = [], threading.Event()
    reader = readers.RecentReader(SETTINGS, ["a", "cases"], 60.0, got.append, from_start=["cases"],
                                  on_caught_up=lambda: (caught_up.set(), got.append("caught up")))
    reader.start()
    assert caught_up.wait(5)
    reader.stop()
    assert consumer.sought == {TopicPartition("a", 0): 7, TopicPartition("cases", 0): "beginning"}
    assert [b if isinstance(b, str) else [r.offset for r in b] for b in got] == [[0], [1], "caught up"]
