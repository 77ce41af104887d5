"""Customer first in the transcribe stage (pipeline/stages/stt_queue.py), without Kafka or Whisper:
customer utterances overtake agent ones, the agent backlog bound, nothing dropped, order per
channel, held audio offsets, the settings."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_stt_queue import FakeSpeech
from test_transcribe_stage import chunks, silence, voiced

from callradar.pipeline.kafka.acks import HeldChunks, InOrderAcks
from callradar.pipeline.metrics import PipelineMetrics, PrometheusMetrics
from callradar.pipeline.settings import SettingsError, load_settings
from callradar.pipeline.stages.agent_spool import AudioSpool
from callradar.pipeline.stages.stt_queue import SpeechQueue, UtteranceQueue
from callradar.pipeline.stages.transcribe import MODEL_RATE, PendingUtterance, TranscribeProcessor

SETTINGS = load_settings(environ={})


def utt(speaker: str, index: int, seconds: float = 1.0, call_id: str = "c1") -> PendingUtterance:
    return PendingUtterance(call_id, speaker, index, float(index), float(index) + seconds,
                            np.zeros(int(seconds * MODEL_RATE), np.float32), 1000.0 + index)


def ids(batch) -> list[str]:
    return [u.utterance_id for u in batch]


async def blocked(awaitable, wait_s: float = 0.05) -> bool:
    """True if ``awaitable`` is still waiting after ``wait_s`` (it is then cancelled)."""
    try:
        await asyncio.wait_for(asyncio.shield(task := asyncio.ensure_future(awaitable)), wait_s)
        return False
    except asyncio.TimeoutError:
        task.cancel()
        return True


def test_customer_utterances_overtake_waiting_agent_ones_and_batches_do_not_mix():
    async def run():
        queue = UtteranceQueue(maxsize=64)
        for u in (utt("agent", 0), utt("agent", 1), utt("customer", 0), utt("agent", 2), utt("customer", 1)):
            await queue.put(u)
        return [ids(await queue.take(8)) for _ in range(4)]

    first, *agents = asyncio.run(run())
    assert first == ["c1/customer/0", "c1/customer/1"]  # agent work never adds to a customer's model time
    # then the agents, in order, one at a time: a customer who finishes meanwhile waits for one at most
    assert agents == [["c1/agent/0"], ["c1/agent/1"], ["c1/agent/2"]]


def test_fifo_keeps_the_order_they_finished_in():
    async def run():
        queue = UtteranceQueue(maxsize=64, priority="fifo")
        for u in (utt("agent", 0), utt("customer", 0), utt("agent", 1)):
            await queue.put(u)
        return ids(await queue.take(8))

    assert asyncio.run(run()) == ["c1/agent/0", "c1/customer/0", "c1/agent/1"]


def test_the_agent_backlog_bound_pauses_ingest_for_agent_audio_only():
    async def run():
        queue = UtteranceQueue(maxsize=2, agent_backlog_s=2.0)
        await queue.put(utt("agent", 0, 1.5))
        await queue.put(utt("agent", 1, 1.0))  # 1.5 s waited: under the bound, queued
        assert queue.agent_backlog()[:2] == (2.5, 2)
        third = asyncio.ensure_future(queue.put(utt("agent", 2, 1.0)))  # 2.5 s >= 2 s: waits
        await asyncio.sleep(0.05)
        assert not third.done()
        # Waiting agents do not count against the customer lane's CALLRADAR_STT_QUEUE_MAX ...
        await queue.put(utt("customer", 0))
        await queue.put(utt("customer", 1))
        assert await blocked(queue.put(utt("customer", 2)))  # ... which still bounds the customers
        assert ids(await queue.take(8)) == ["c1/customer/0", "c1/customer/1"]
        assert not third.done()  # room for customers is not room for agents
        assert ids(await queue.take(8)) == ["c1/agent/0"]
        assert ids(await queue.take(8)) == ["c1/agent/1"]
        await asyncio.wait_for(third, 1.0)  # the agent side drained: the waiting one gets in
        assert queue.agent_backlog()[:2] == (1.0, 1)
        return ids(await queue.take(8))

    assert asyncio.run(run()) == ["c1/agent/2"]


def test_past_the_memory_bound_agent_audio_waits_on_disk_and_ingest_goes_on(tmp_path):
    spool = AudioSpool(tmp_path / "spool", max_s=2.5, sample_rate=MODEL_RATE)
    audio = {i: np.random.default_rng(i).standard_normal(MODEL_RATE).astype(np.float32) for i in range(5)}

    def agent(i: int) -> PendingUtterance:
        u = utt("agent", i)
        u.audio = audio[i].copy()
        return u

    async def run():
        queue = UtteranceQueue(maxsize=2, agent_backlog_s=2.0, spool=spool)
        for i in range(4):  # 2 s in memory, then 2 s on disk: no wait
            await asyncio.wait_for(queue.put(agent(i)), 0.5)
        assert (queue.agent_memory_s, queue.agent_audio_s, spool.parked_s) == (2.0, 4.0, 2.0)
        assert len(list(spool.folder.iterdir())) == 2
        assert await blocked(queue.put(agent(4)))  # 2 + 1 s > the spool's 2.5 s: ingest pauses, the last resort
        await queue.put(utt("customer", 0))  # a customer is not held up by any of it
        assert ids(await queue.take(8)) == ["c1/customer/0"]
        out = [u for _ in range(4) for u in await queue.take(8)]
        return out, queue

    out, queue = asyncio.run(run())
    assert ids(out) == ["c1/agent/0", "c1/agent/1", "c1/agent/2", "c1/agent/3"]  # in order, memory or disk
    assert all(np.array_equal(u.audio, audio[i]) for i, u in enumerate(out))  # the same audio back
    assert (queue.agent_audio_s, queue.agent_memory_s, spool.parked_s) == (0.0, 0.0, 0.0)
    assert list(spool.folder.iterdir()) == []


def test_fifo_never_parks_audio(tmp_path):
    spool = AudioSpool(tmp_path / "spool", max_s=60.0, sample_rate=MODEL_RATE)

    async def run():
        queue = UtteranceQueue(maxsize=2, priority="fifo", spool=spool)
        await queue.put(utt("agent", 0))
        await queue.put(utt("agent", 1))
        return await blocked(queue.put(utt("agent", 2)))

    assert asyncio.run(run())  # one lane, CALLRADAR_STT_QUEUE_MAX in all, as before
    assert spool.written == 0


def test_a_zero_bound_still_lets_one_agent_utterance_wait():
    async def run():
        queue = UtteranceQueue(maxsize=4, agent_backlog_s=0.0)
        await queue.put(utt("agent", 0))
        return await blocked(queue.put(utt("agent", 1)))

    assert asyncio.run(run())


def test_waiting_time_is_measured_and_reported_on_the_record():
    now = [100.0]

    async def run():
        queue = UtteranceQueue(maxsize=4, clock=lambda: now[0])
        await queue.put(utt("agent", 0))
        await queue.put(utt("customer", 0))
        now[0] = 103.0
        assert queue.agent_backlog() == (1.0, 1, 3.0)  # audio s, utterances, oldest wait
        first = await queue.take(8)
        now[0] = 107.5
        second = await queue.take(8)
        return first, second, queue.agent_backlog()

    first, second, after = asyncio.run(run())
    assert first[0].queued_s == 3.0 and second[0].queued_s == 7.5
    record = second[0].to_record("hello", 0.9, "fake", 1.0)
    assert record.queued_s == 7.5 and record.speaker == "agent"
    assert after == (0.0, 0, 0.0)


def test_an_unknown_priority_is_refused():
    with pytest.raises(ValueError, match="customer-first, fifo"):
        UtteranceQueue(maxsize=4, priority="agent-first")


def test_a_customer_guess_waits_while_a_customer_utterance_waits_but_not_for_agents():
    async def run():
        stt = FakeSpeech()
        proc = TranscribeProcessor(SETTINGS)
        speech = SpeechQueue(stt, ThreadPoolExecutor(1), 1, 64, 200, PipelineMetrics())
        queue = speech.queue_for("c1")
        for chunk in chunks("c1", "customer", np.concatenate([silence(0.5), voiced(1.0), silence(0.3)])):
            proc.on_chunk(chunk, now=chunk.capture_ts)  # an open customer utterance, 300 ms of silence after it
        await queue.put(utt("customer", 0, call_id="c1"))  # a finished one waits
        speech.guess(proc, "c1", "customer")
        waited = dict(speech.ahead)
        await queue.take(8)
        await queue.put(utt("agent", 0, call_id="c1"))  # only agent work waits now
        speech.guess(proc, "c1", "customer")
        guessed = list(speech.ahead)
        await asyncio.gather(*(f for _, f in speech.ahead.values()))
        return waited, guessed, stt.calls

    waited, guessed, calls = asyncio.run(run())
    assert waited == {}
    assert guessed == ["c1/customer/0"] and len(calls) == 1


def test_an_agent_guess_waits_while_anything_waits():
    async def run():
        proc = TranscribeProcessor(SETTINGS)
        speech = SpeechQueue(FakeSpeech(), ThreadPoolExecutor(1), 1, 64, 200, PipelineMetrics())
        for chunk in chunks("c1", "agent", np.concatenate([silence(0.5), voiced(1.0), silence(0.3)])):
            proc.on_chunk(chunk, now=chunk.capture_ts)
        await speech.put(utt("agent", 0, call_id="c1"))
        speech.guess(proc, "c1", "agent")
        return speech.ahead

    assert asyncio.run(run()) == {}


def _two_channel_calls(n_calls: int, turns: int):
    """Chunks of ``n_calls`` calls, both channels speaking ``turns`` times, interleaved as a partition reads them."""
    per_channel = []
    for c in range(n_calls):
        for ch, lead in (("customer", 0.3), ("agent", 0.6)):
            sig = np.concatenate([silence(lead)] + [np.concatenate([voiced(0.6), silence(0.6)]) for _ in range(turns)])
            per_channel.append(list(chunks(f"call-{c}", ch, sig)))
    out = []
    for i in range(max(len(x) for x in per_channel)):
        out += [x[i] for x in per_channel if i < len(x)]
    return out


@pytest.mark.parametrize("priority,spool_s", [("customer-first", 0.0), ("customer-first", 2.0), ("fifo", 0.0)])
def test_nothing_dropped_each_channel_in_order_and_everything_sent_at_the_end(priority, spool_s, tmp_path):
    """The app's loop in small: ingest puts, one whisper worker takes batches and sends."""
    sent: list[str] = []
    spool = AudioSpool(tmp_path / "spool", spool_s, MODEL_RATE) if spool_s else None

    async def run():
        proc = TranscribeProcessor(SETTINGS)
        speech = SpeechQueue(FakeSpeech(), ThreadPoolExecutor(1), 1, 4, 0, PipelineMetrics(),
                             priority=priority, agent_backlog_s=3.0, spool=spool)  # small bounds: all are reached
        queue = speech.queues[0]

        async def whisper():
            while True:
                batch = await speech.next_batch(queue)
                for u, r in zip(batch, await speech.transcribe(batch)):
                    assert r.text.startswith(f"{len(u.audio)} samples")
                    sent.append(u.utterance_id)
                    proc.sent(u)
                await asyncio.sleep(0.002)  # a slow model: the backlog builds up

        worker = asyncio.ensure_future(whisper())
        stream = _two_channel_calls(n_calls=3, turns=4)
        for chunk in stream:
            for u in proc.on_chunk(chunk, now=chunk.capture_ts):
                await speech.put(u)
        for c in range(3):
            for ch in ("customer", "agent"):
                for u in proc.end_channel(f"call-{c}", ch):
                    await speech.put(u)
        for _ in range(500):
            if speech.qsize() == 0 and not proc.in_flight:
                break
            await asyncio.sleep(0.01)
        worker.cancel()
        return proc

    proc = asyncio.run(run())
    assert not proc.in_flight and all(proc.settled(f"call-{c}", ch) for c in range(3) for ch in ("customer", "agent"))
    assert len(sent) == len(set(sent)) == 3 * 2 * 4  # every utterance once
    for c in range(3):
        for ch in ("customer", "agent"):
            indexes = [int(u.rsplit("/", 1)[1]) for u in sent if u.startswith(f"call-{c}/{ch}/")]
            assert indexes == [0, 1, 2, 3]  # in order, none missing
    # The agent's first turn ends (1.6 s) before the customer's second (2.1 s): customer first
    # overtakes it, first in first out does not.
    overtaken = sent.index("call-0/customer/1") < sent.index("call-0/agent/0")
    assert overtaken == (priority == "customer-first")
    if spool is not None:
        assert spool.written > 0 and list(spool.folder.iterdir()) == []  # the disk was used, and emptied


def test_audio_offsets_stay_held_while_an_agent_utterance_waits():
    """A crash while agent utterances wait loses nothing: no offset past their audio is committed."""
    acked: list[int] = []

    async def run():
        proc = TranscribeProcessor(SETTINGS)
        speech = SpeechQueue(FakeSpeech(), ThreadPoolExecutor(1), 1, 64, 0, PipelineMetrics())
        held, in_order = HeldChunks(), InOrderAcks()

        def release_settled(key):
            if proc.settled(*key):
                held.release_all(key)

        agent = list(chunks("c1", "agent", np.concatenate([silence(0.2), voiced(1.0), silence(0.6)])))
        customer = list(chunks("c1", "customer", np.concatenate([silence(0.2), voiced(1.0), silence(0.6)])))
        offsets = {}
        for offset, chunk in enumerate(agent + customer):  # one partition: the agent's audio was read first
            offsets[(chunk.channel, chunk.seq)] = offset
            release = in_order.read(0, lambda o=offset: acked.append(o))
            finished = proc.on_chunk(chunk, now=chunk.capture_ts, source=0, position=offset)
            key = (chunk.call_id, chunk.channel)
            held.hold(key, chunk.seq, release)
            for u in finished:
                await speech.put(u)
            release_settled(key)

        async def send_one_batch():
            batch = await speech.next_batch(speech.queues[0])
            await speech.transcribe(batch)
            for u in batch:
                proc.sent(u)
                held.release_through((u.call_id, u.speaker), u.progress["seq"])
                release_settled((u.call_id, u.speaker))
            return ids(batch)

        first = await send_one_batch()
        after_customer = list(acked)
        second = await send_one_batch()
        return first, second, after_customer, offsets, len(agent + customer)

    first, second, after_customer, offsets, total = asyncio.run(run())
    assert first == ["c1/customer/0"] and second == ["c1/agent/0"]
    # The customer's utterance is sent, but its offsets sit after the waiting agent audio: only the
    # agent's leading silence (and the few frames the segmenter takes to hear speech start) may be
    # committed; chunk 17 is half way through the agent's second of speech (chunks 5-29).
    assert after_customer and max(after_customer) < offsets[("agent", 17)]
    assert acked == list(range(total))  # once the agent utterance is sent, everything, in order


def test_the_agent_backlog_is_on_metrics_per_whisper_worker():
    metrics = PrometheusMetrics(("transcribe",))
    speech = SpeechQueue(FakeSpeech(), ThreadPoolExecutor(1), 2, 64, 0, metrics)
    asyncio.run(speech.queues[1].put(utt("agent", 0, 2.0)))
    page = metrics.exposition()[0].decode()
    assert 'callradar_stt_agent_backlog_seconds{worker="1"} 2.0' in page
    assert 'callradar_stt_agent_backlog_utterances{worker="1"} 1.0' in page
    assert 'callradar_stt_agent_backlog_utterances{worker="0"} 0.0' in page
    assert 'callradar_stt_agent_oldest_wait_seconds{worker="1"}' in page


def test_priority_settings_defaults_and_bad_values():
    assert (SETTINGS.stt_priority, SETTINGS.stt_agent_backlog_s, SETTINGS.stt_agent_spool_s) == (
        "customer-first", 600.0, 7200.0)
    with pytest.raises(SettingsError, match=r"CALLRADAR_STT_AGENT_SPOOL_S=.*>= 0"):
        load_settings(environ={"CALLRADAR_STT_AGENT_SPOOL_S": "-5"})
    assert load_settings(environ={"CALLRADAR_STT_PRIORITY": "fifo", "CALLRADAR_STT_AGENT_BACKLOG_S": "0"}).stt_priority == "fifo"
    with pytest.raises(SettingsError, match=r"CALLRADAR_STT_PRIORITY='agent'.*customer-first, fifo"):
        load_settings(environ={"CALLRADAR_STT_PRIORITY": "agent"})
    for bad in ("-1", "nan", "inf"):
        with pytest.raises(SettingsError, match=r"CALLRADAR_STT_AGENT_BACKLOG_S=.*>= 0"):
            load_settings(environ={"CALLRADAR_STT_AGENT_BACKLOG_S": bad})
    with pytest.raises(SettingsError, match="CALLRADAR_STT_AGENT_BACKLOG_S='soon' is not a valid float"):
        load_settings(environ={"CALLRADAR_STT_AGENT_BACKLOG_S": "soon"})
