"""The consumer that keeps each partition in offset order, without a broker (Faust's fetch faked)."""

import asyncio
from types import SimpleNamespace

import pytest
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from callradar.pipeline.kafka.faust_consumer import (
    RESEEKS_BEFORE_HOLE,
    App,
    InOrderConsumer,
    PartitionSequence,
    Verdict,
    commit_through,
)

AUDIO = TP("audio", 1)


def test_records_are_handed_over_in_order_and_repeats_dropped():
    seq = PartitionSequence()
    seq.sought({AUDIO: 3})
    fetch = seq.fetch_started()
    assert [seq.admit(AUDIO, o, fetch) for o in (3, 4, 4, 2, 5)] == [
        Verdict.DELIVER, Verdict.DELIVER, Verdict.REPEAT, Verdict.REPEAT, Verdict.DELIVER]
    assert seq.next_offset[AUDIO] == 6


def test_nothing_is_handed_over_before_the_seek_to_committed():
    """The kill -9 test's lost speech: Faust resumed the restarted transcriber's partition before
    seeking it, aiokafka handed out records from the log's end (3057 on), and the stage took the
    chunks in between (from 1765) for lost ones. Only the seek says where a partition starts."""
    seq = PartitionSequence()
    fetch = seq.fetch_started()
    assert [seq.admit(AUDIO, o, fetch) for o in (3057, 3058)] == [Verdict.UNSOUGHT] * 2
    seq.sought({AUDIO: 1765})
    assert seq.admit(AUDIO, 1765, seq.fetch_started()) is Verdict.DELIVER
    assert seq.dropped[Verdict.UNSOUGHT] == 2


def test_a_partition_with_nothing_committed_takes_what_comes_from_the_first_record_dropped():
    seq = PartitionSequence()
    fetch = seq.fetch_started()
    assert seq.admit(AUDIO, 17, fetch) is Verdict.UNSOUGHT  # fetched before the seek: dropped ...
    seq.sought({AUDIO: None})
    assert seq.next_offset[AUDIO] == 17  # ... and handed over again, in order, after it
    assert seq.behind({AUDIO: 18}) == {AUDIO: 17}
    assert seq.admit(AUDIO, 17, seq.fetch_started()) is Verdict.DELIVER
    fresh = TP("audio", 2)
    seq.sought({fresh: None})  # nothing committed, nothing dropped: takes what comes
    assert seq.admit(fresh, 40, seq.fetch_started()) is Verdict.DELIVER


def test_a_batch_fetched_around_the_seek_to_committed_is_taken_in_order_whatever_its_age():
    """The kill -9 test's loss: aiokafka moved past offsets 3..10 in a fetch that crossed
    Faust's seek to committed offset 3; dropping that batch as stale lost them for good."""
    seq = PartitionSequence()
    old_fetch = seq.fetch_started()
    seq.sought({AUDIO: 3})
    assert [seq.admit(AUDIO, o, old_fetch) for o in range(3, 11)] == [Verdict.DELIVER] * 8
    # ... and where aiokafka did go back, the same records come again: repeats.
    again = seq.fetch_started()
    assert [seq.admit(AUDIO, o, again) for o in (3, 4, 10, 11)] == [
        Verdict.REPEAT, Verdict.REPEAT, Verdict.REPEAT, Verdict.DELIVER]


def test_a_gap_seeks_back_and_drops_what_was_fetched_before_that():
    """faust-streaming#221: records past the committed offset, handed over after the seek to it."""
    seq = PartitionSequence()
    seq.sought({AUDIO: 3})
    fetch = seq.fetch_started()
    assert seq.admit(AUDIO, 5, fetch) is Verdict.RESEEK
    assert seq.reseeking(AUDIO) == 3
    assert seq.admit(AUDIO, 6, fetch) is Verdict.STALE  # rest of the batch from before the seek back
    again = seq.fetch_started()
    assert [seq.admit(AUDIO, o, again) for o in (3, 4, 5, 6)] == [Verdict.DELIVER] * 4


def test_a_gap_that_survives_several_seeks_back_is_a_hole():
    seq = PartitionSequence()
    seq.sought({AUDIO: 10})
    for _ in range(RESEEKS_BEFORE_HOLE):
        assert seq.admit(AUDIO, 12, seq.fetch_started()) is Verdict.RESEEK
        seq.reseeking(AUDIO)
    assert seq.admit(AUDIO, 12, seq.fetch_started()) is Verdict.HOLE  # 10 and 11 are gone
    assert seq.next_offset[AUDIO] == 13
    assert seq.admit(AUDIO, 15, seq.fetch_started()) is Verdict.RESEEK  # a new gap starts over


def test_a_seek_to_committed_resets_the_sequence():
    seq = PartitionSequence()
    seq.sought({AUDIO: 3})
    fetch = seq.fetch_started()
    seq.admit(AUDIO, 3, fetch)
    seq.sought({AUDIO: 2})
    assert seq.admit(AUDIO, 3, fetch) is Verdict.RESEEK
    seq.sought({AUDIO: 2})  # a rebalance's seek clears the pending seek back
    assert seq.admit(AUDIO, 2, fetch) is Verdict.DELIVER


def test_what_was_handed_over_since_the_seek_is_handed_over_again_after_a_rewind():
    seq = PartitionSequence()
    other = TP("audio", 2)
    fetch = seq.fetch_started()
    seq.sought({other: None})
    seq.admit(other, 40, fetch)  # nothing committed: handed over as it came
    seq.sought({AUDIO: 3})
    for offset in (3, 4, 5):
        seq.admit(AUDIO, offset, fetch)
    assert seq.rewind() == {AUDIO: 3, other: 40}
    assert seq.next_offset[AUDIO] == 3 and seq.next_offset[other] == 40
    assert seq.rewind() == {}  # nothing handed over since
    # Records fetched before the rewind's seek are stale; and that seek is not one of the seeks back
    # over a gap that make a hole, so a prefetched record past it cannot get offset 3 skipped.
    fetch = seq.fetch_started()
    seq.reseeking(AUDIO, over_gap=False)
    assert seq.admit(AUDIO, 6, fetch) is Verdict.STALE
    for _ in range(RESEEKS_BEFORE_HOLE - 1):
        assert seq.admit(AUDIO, 6, seq.fetch_started()) is Verdict.RESEEK
        seq.reseeking(AUDIO)
    assert seq.admit(AUDIO, 6, seq.fetch_started()) is Verdict.RESEEK


def test_revoked_partitions_are_forgotten():
    seq = PartitionSequence()
    seq.sought({AUDIO: 3})
    seq.admit(AUDIO, 50, seq.fetch_started())  # a gap: a seek back is pending
    seq.forget([AUDIO])
    assert seq.admit(AUDIO, 40, seq.fetch_started()) is Verdict.UNSOUGHT  # until it is sought again
    seq.sought({AUDIO: 40})
    assert seq.admit(AUDIO, 40, seq.fetch_started()) is Verdict.DELIVER


@pytest.mark.parametrize("acked, committed, expected", [
    ([4], 3, None),  # faust-streaming#606 would commit 5 here, past the unacked 3
    ([3, 4], 3, 5),
    ([5, 3, 4, 7], 3, 6),
    ([4, 5], None, 6),  # nothing committed yet: the first run
    ([], 3, None),
    ([1], 0, None),
    ([0, 1], 0, 2),
])
def test_commits_stop_at_the_first_unacked_offset(acked, committed, expected):
    assert commit_through(list(acked), committed) == expected


@pytest.fixture
def consumer(monkeypatch):
    app = App("test-in-order", broker="kafka://127.0.0.1:1")
    consumer = app.consumer
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: topic != "changelog")
    return consumer


def test_the_app_uses_the_in_order_consumer_and_commits_only_acked_runs(consumer):
    assert isinstance(consumer, InOrderConsumer)
    consumer._committed_offset[AUDIO] = 3
    for offset in (4, 5):
        consumer._acked[AUDIO].append(offset)
        consumer._acked_index[AUDIO].add(offset)
    assert consumer._new_offset(AUDIO) is None
    consumer._acked[AUDIO].append(3)
    consumer._acked_index[AUDIO].add(3)
    assert consumer._new_offset(AUDIO) == 6
    assert consumer._acked[AUDIO] == [] and not consumer._acked_index[AUDIO]


def test_the_fetch_loop_gets_records_in_order_across_a_seek(consumer, monkeypatch):
    """A seek to committed offset 3 lands while a batch (3..5) is being handed over, after 3:
    the whole batch is dropped, and from the next fetch on each offset comes in order."""
    def record(offset, topic="audio"):
        return SimpleNamespace(topic=topic, offset=offset)

    batches = [[record(3), record(4), record(5)],
               [record(3), record(4), record(5), record(6), record(0, "changelog")]]
    seeks = []

    async def fake_getmany(self, timeout):
        batch = batches.pop(0)
        for i, message in enumerate(batch):
            if i == 1 and len(batches) == 1:  # mid-batch: the rebalance's seek to committed lands
                self.sequence.sought({AUDIO: 3})
            yield TP(message.topic, 1), message

    async def fake_seek(self, tp, offset):
        seeks.append((tp, offset))

    monkeypatch.setattr(aiokafka_driver.Consumer, "getmany", fake_getmany)
    monkeypatch.setattr(aiokafka_driver.Consumer, "_seek", fake_seek)

    async def handed_over():
        out = []
        for _ in range(2):
            out += [(tp.topic, m.offset) async for tp, m in consumer.getmany(timeout=0)]
        return out

    got = asyncio.run(handed_over())
    assert got == [("audio", 3), ("audio", 4), ("audio", 5), ("audio", 6), ("changelog", 0)]
    assert consumer._read_offset[AUDIO] == 6  # Faust's own check will not drop them
    assert seeks == [(AUDIO, 3)]  # offset 4 came next, not 3: seek back, in case aiokafka did not
    assert consumer.sequence.dropped[Verdict.UNSOUGHT] == 1  # 3, before the seek: it comes again
    assert consumer.sequence.dropped[Verdict.STALE] == 1


def fake_fetch(monkeypatch, fetches: list[list[int]]) -> list:
    """Faust's fetch faked: each getmany hands over the next list of audio offsets. Returns the seeks made."""
    seeks = []

    async def fake_getmany(self, timeout):
        for offset in fetches.pop(0):
            yield AUDIO, SimpleNamespace(topic="audio", offset=offset)

    async def fake_seek(self, tp, offset):
        seeks.append((tp, offset))

    monkeypatch.setattr(aiokafka_driver.Consumer, "getmany", fake_getmany)
    monkeypatch.setattr(aiokafka_driver.Consumer, "_seek", fake_seek)
    return seeks


def test_the_fetch_loop_seeks_back_over_a_gap(consumer, monkeypatch):
    seeks = fake_fetch(monkeypatch, [[8, 9]])
    consumer.sequence.sought({AUDIO: 6})

    async def handed_over():
        return [m.offset async for _, m in consumer.getmany(timeout=0)]

    assert asyncio.run(handed_over()) == []
    assert seeks == [(AUDIO, 6)]


def test_a_commit_waits_until_every_table_write_is_on_the_broker(consumer, monkeypatch):
    """Faust's flush before a commit gives up after 0.1 s; a state write still unsent then must hold
    the commit back, or a kill -9 loses the state of messages that are never read again."""
    committed = []

    async def faust_flush():  # returns with the write still unsent, as Faust's does under load
        return None

    async def faust_commit(self, offsets, start_new_transaction=True):
        committed.append(dict(offsets))
        return True

    monkeypatch.setattr(consumer.app.producer, "flush", faust_flush)
    monkeypatch.setattr(aiokafka_driver.Consumer, "_commit_offsets", faust_commit)

    async def scenario():
        write = asyncio.get_running_loop().create_future()
        consumer.app.changelog_writes.add(write)
        commit = asyncio.ensure_future(consumer._commit_offsets({AUDIO: 7}))
        await asyncio.sleep(0.05)
        held_back = list(committed)
        write.set_result("on the broker")
        did = await commit
        return held_back, did

    held_back, did = asyncio.run(scenario())
    assert held_back == [] and did is True
    assert committed == [{AUDIO: 7}] and not consumer.app.changelog_writes.pending


def test_a_failed_table_write_stops_the_commit(consumer, monkeypatch):
    committed, crashed = [], []

    async def nothing(*args, **kwargs):
        return None

    async def crash(exc):
        crashed.append(exc)

    monkeypatch.setattr(consumer.app.producer, "flush", nothing)
    monkeypatch.setattr(aiokafka_driver.Consumer, "_commit_offsets", lambda *a, **k: committed.append(a))
    monkeypatch.setattr(consumer, "crash", crash)

    async def scenario():
        write = asyncio.get_running_loop().create_future()
        consumer.app.changelog_writes.add(write)
        write.set_exception(RuntimeError("broker said no"))
        await asyncio.sleep(0)  # failed and gone from the pending writes before the commit comes
        assert not consumer.app.changelog_writes.pending
        return await consumer._commit_offsets({AUDIO: 7})

    assert asyncio.run(scenario()) is False
    assert committed == [] and [str(e) for e in crashed] == ["broker said no"]


def test_a_table_write_that_does_not_arrive_leaves_the_commit_to_the_next_one(consumer, monkeypatch):
    """Bounded: a commit at shutdown must not hang on a write that will never be sent."""
    from callradar.pipeline.kafka import faust_consumer

    committed = []

    async def nothing(*args, **kwargs):
        return None

    monkeypatch.setattr(consumer.app.producer, "flush", nothing)
    monkeypatch.setattr(aiokafka_driver.Consumer, "_commit_offsets", lambda *a, **k: committed.append(a))
    monkeypatch.setattr(faust_consumer, "STATE_WRITE_WAIT_S", 0.05)

    async def scenario():
        consumer.app.changelog_writes.add(asyncio.get_running_loop().create_future())  # never sent
        return await consumer._commit_offsets({AUDIO: 7})

    assert asyncio.run(scenario()) is False and committed == []


def test_the_apps_tables_register_their_changelog_writes(monkeypatch):
    import faust

    loop = asyncio.new_event_loop()
    sent = loop.create_future()
    monkeypatch.setattr(faust.Table, "send_changelog", lambda self, *a, **k: sent)  # Faust's: buffers the write
    app = App("test-durable-table", broker="kafka://127.0.0.1:1")
    table = app.Table("state", partitions=1)
    assert table.send_changelog(0, "call-1", {"features": {}}) is sent
    assert app.changelog_writes.pending == {sent}
    sent.set_result("on the broker")
    loop.run_until_complete(asyncio.sleep(0))  # done callbacks run on the loop
    assert app.changelog_writes.pending == set()
    loop.close()


def test_when_faust_empties_the_agents_queues_their_records_are_handed_over_again(consumer, monkeypatch):
    """The kill -9 test's loss: Faust seeks to the committed offsets, records arrive, and then its
    flow control (resumed last) empties the agents' queues. Those records must come again."""
    app = consumer.app
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)  # as every agent's channel has
    seeks = fake_fetch(monkeypatch, [[3, 4], [3, 4, 5]])
    consumer.sequence.sought({AUDIO: 3})

    async def scenario():
        first = [m.offset async for _, m in consumer.getmany(timeout=0)]
        for offset in first:
            queue.put_nowait(offset)
        app.flow_control.resume()  # Faust's last step of a recovery
        assert queue.empty()
        again = [m.offset async for _, m in consumer.getmany(timeout=0)]
        return first, again

    first, again = asyncio.run(scenario())
    assert first == [3, 4]
    assert seeks == [(AUDIO, 3)]  # before the next fetch
    assert again == [3, 4, 5]


def test_a_partition_revoked_before_its_rewind_is_not_sought(consumer, monkeypatch):
    seeks = fake_fetch(monkeypatch, [[]])
    consumer.sequence.sought({AUDIO: 3})
    consumer.sequence.admit(AUDIO, 3, consumer.sequence.fetch_started())
    consumer.on_queues_cleared()
    assert consumer.rewinds == {AUDIO}

    async def nothing(*args, **kwargs):
        pass

    monkeypatch.setattr(aiokafka_driver.Consumer, "on_partitions_revoked", nothing)

    async def scenario():
        await consumer.on_partitions_revoked({AUDIO})  # another rebalance takes it first
        return [m async for _, m in consumer.getmany(timeout=0)]

    assert asyncio.run(scenario()) == []
    assert seeks == [] and not consumer.rewinds


def test_a_partition_whose_fetch_position_is_past_the_next_offset_is_behind():
    seq = PartitionSequence()
    seq.sought({AUDIO: 7, TP("audio", 2): 4})
    other = TP("audio", 3)  # not sought yet: nothing to compare
    assert seq.behind({AUDIO: 13, TP("audio", 2): 4, other: 9}) == {AUDIO: 7}
    assert seq.behind({AUDIO: None}) == {}  # aiokafka has no position yet (resetting)
    seq.admit(AUDIO, 7, seq.fetch_started())
    assert seq.behind({AUDIO: 8}) == {}


def test_records_fetched_but_dropped_before_they_were_handed_over_are_fetched_again(consumer, monkeypatch):
    """The kill -9 test's stall: the restarted score worker fetched a partition's whole backlog
    (offsets 7 to 12), Faust dropped the batch on its way (its getmany stops a batch when the flow
    stops), nothing more was produced there, and the stage waited for them until stopped."""
    seeks = fake_fetch(monkeypatch, [[7, 8, 9, 10, 11, 12]])
    consumer.sequence.sought({AUDIO: 7})
    monkeypatch.setattr(consumer, "fetch_positions", lambda: {AUDIO: 13})  # aiokafka handed 7..12 out

    async def handed_over():
        return [m.offset async for _, m in consumer.getmany(timeout=0)]

    assert asyncio.run(handed_over()) == [7, 8, 9, 10, 11, 12]
    assert seeks == [(AUDIO, 7)]  # before the fetch
    assert consumer.sequence.behind({AUDIO: 13}) == {}


def test_the_fetch_positions_are_none_known_before_the_consumer_starts(consumer):
    consumer.sequence.sought({AUDIO: 7})
    assert consumer.fetch_positions() == {}


def test_the_fetch_positions_are_read_from_aiokafkas_own_subscription_state(consumer, monkeypatch):
    from aiokafka.consumer.subscription_state import SubscriptionState
    from aiokafka.structs import TopicPartition

    async def positions():
        state = SubscriptionState()  # needs a running loop
        state.assign_from_user({TopicPartition("audio", 1), TopicPartition("audio", 2)})
        state.subscription.assignment.state_value(TopicPartition("audio", 1)).seek(13)  # audio[2]: not reset yet
        fetcher = SimpleNamespace(_fetcher=SimpleNamespace(_subscriptions=state))
        monkeypatch.setattr(consumer._thread, "_consumer", fetcher)
        consumer.sequence.sought({AUDIO: 7, TP("audio", 2): 4})
        return consumer.fetch_positions()

    assert asyncio.run(positions()) == {AUDIO: 13}


def test_the_seek_to_committed_registers_every_partition_and_says_what_came_before_it(consumer, monkeypatch,
                                                                                      caplog):
    fresh = TP("audio", 2)

    async def committed(self):
        return {AUDIO: 1765, fresh: None}  # aiokafka's answer: nothing committed on audio[2] yet

    monkeypatch.setattr(aiokafka_driver.Consumer, "seek_to_committed", committed)
    consumer.sequence.admit(AUDIO, 3057, consumer.sequence.fetch_started())
    with caplog.at_level("INFO"):
        asyncio.run(consumer.seek_to_committed())
    assert consumer.sequence.next_offset == {AUDIO: 1765, fresh: None}
    assert "records from offset 3057 came before the seek to the committed offset (1765): dropped" in caplog.text
    caplog.clear()
    consumer.sequence.forget([AUDIO])  # assigned again
    assert consumer.sequence.admit(AUDIO, 1765, consumer.sequence.fetch_started()) is Verdict.UNSOUGHT
    with caplog.at_level("INFO"):
        asyncio.run(consumer.seek_to_committed())
    assert "came before the seek" not in caplog.text  # from the committed offset: a restart's usual case


def test_a_partition_that_waits_too_long_for_fausts_seek_is_sought_by_the_consumer(consumer, monkeypatch, caplog):
    """Faust gives up on its seek after broker_request_timeout and goes on: the partition must not
    be held for good."""
    from aiokafka.structs import TopicPartition

    from callradar.pipeline.kafka.faust_consumer import UNSOUGHT_WAIT_S

    now = [1000.0]
    consumer.sequence.clock = lambda: now[0]
    calls = []

    async def call_thread(fn, *args):
        calls.append(args)
        return {args[0]: 1765}

    aiokafka_consumer = SimpleNamespace(seek_to_committed=None)
    monkeypatch.setattr(consumer, "_thread", SimpleNamespace(call_thread=call_thread,
                                                             _ensure_consumer=lambda: aiokafka_consumer))
    consumer.sequence.admit(AUDIO, 3057, consumer.sequence.fetch_started())
    asyncio.run(consumer.seek_unsought())
    assert calls == []  # Faust's own seek may still come
    now[0] += UNSOUGHT_WAIT_S + 1
    with caplog.at_level("WARNING"):
        asyncio.run(consumer.seek_unsought())
    assert calls == [(TopicPartition("audio", 1),)]  # that partition only: the others keep their place
    assert consumer.sequence.next_offset[AUDIO] == 1765 and not consumer.sequence.unsought_for(0)
    assert "audio[1]: no seek to the committed offset 120 s after the assignment: seeking there now" in caplog.text
