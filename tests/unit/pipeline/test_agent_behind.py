"""How far behind each call's agent side is (issue 17): the transcribe stage's per-call bookkeeping
(pipeline/stages/stt_queue.py), the ``agent_behind_s`` field on calls.transcripts and the /metrics gauges,
without Kafka or Whisper."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_stt_queue import FakeSpeech

from callradar.pipeline.metrics import PipelineMetrics, PrometheusMetrics
from callradar.pipeline.records import AGENT_BEHIND_NOTICE_S, MalformedMessage, Utterance
from callradar.pipeline.stages.stt_queue import SpeechQueue, UtteranceQueue
from callradar.pipeline.stages.transcribe import MODEL_RATE, PendingUtterance


def utt(call_id: str, speaker: str, index: int, seconds: float = 1.0) -> PendingUtterance:
    return PendingUtterance(call_id, speaker, index, float(index), float(index) + seconds,
                            np.zeros(int(seconds * MODEL_RATE), np.float32), 1000.0 + index)


class Clock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_each_calls_lag_is_its_oldest_waiting_agent_utterances_wait():
    clock = Clock()

    async def run():
        queue = UtteranceQueue(maxsize=8, clock=clock)
        await queue.put(utt("c1", "agent", 0))  # queued at 100
        clock.now = 101.0
        await queue.put(utt("c2", "agent", 0))
        await queue.put(utt("c1", "customer", 0))
        clock.now = 103.0
        await queue.put(utt("c1", "agent", 1))
        clock.now = 110.0
        seen = {"start": ([queue.agent_behind(c) for c in ("c1", "c2", "c3")], queue.calls_behind(),
                          queue.calls_behind(over_s=9.5))}
        await queue.take(8)  # the customer goes first: the agent side stays as far behind
        seen["after customer"] = [queue.agent_behind(c) for c in ("c1", "c2")]
        await queue.take(1)  # c1/agent/0: c1's oldest waiting is now agent/1, queued at 103
        seen["after c1/agent/0"] = [queue.agent_behind(c) for c in ("c1", "c2")]
        while not queue.empty():
            await queue.take(8)  # agents go one to a model call
        seen["drained"] = ([queue.agent_behind(c) for c in ("c1", "c2")], queue.calls_behind(), queue.agent_queued_at)
        return seen

    seen = asyncio.run(run())
    assert seen["start"] == ([10.0, 9.0, 0.0], (2, 10.0), (1, 10.0))
    assert seen["after customer"] == [10.0, 9.0]
    assert seen["after c1/agent/0"] == [7.0, 9.0]
    assert seen["drained"] == ([0.0, 0.0], (0, 0.0), {})  # nothing left over for calls that caught up


def test_a_lag_at_the_notice_threshold_is_not_counted_as_behind():
    clock = Clock()

    async def run():
        queue = UtteranceQueue(maxsize=8, clock=clock)
        await queue.put(utt("c1", "agent", 0))
        clock.now += AGENT_BEHIND_NOTICE_S
        at = queue.calls_behind()
        clock.now += 0.5
        return at, queue.calls_behind()

    at, past = asyncio.run(run())
    assert at == (0, AGENT_BEHIND_NOTICE_S) and past == (1, AGENT_BEHIND_NOTICE_S + 0.5)


def test_fifo_has_no_agent_lane_so_no_agent_side_is_behind():
    clock = Clock()

    async def run():
        queue = UtteranceQueue(maxsize=8, priority="fifo", clock=clock)
        await queue.put(utt("c1", "agent", 0))
        clock.now += 30
        return queue.agent_behind("c1"), queue.calls_behind()

    assert asyncio.run(run()) == (0.0, (0, 0.0))


def test_every_transcript_of_the_call_carries_its_agent_side_lag_when_ready():
    """Customer utterances flow while the agent side waits, so they bring the news; the agent's own
    transcript, once nothing more of its side waits, says it caught up."""
    clock = Clock()

    async def run():
        speech = SpeechQueue(FakeSpeech(), ThreadPoolExecutor(1), 1, 64, 0, PipelineMetrics())
        queue = speech.queues[0]
        queue.clock = clock
        await speech.put(utt("c1", "agent", 0))
        await speech.put(utt("c1", "customer", 0))
        await speech.put(utt("c2", "customer", 0))
        clock.now += 40.0
        customers = await speech.next_batch(queue)
        await speech.transcribe(customers)
        agents = await speech.next_batch(queue)
        await speech.transcribe(agents)
        return customers, agents

    customers, agents = asyncio.run(run())
    assert [(u.utterance_id, u.agent_behind_s) for u in customers] == [("c1/customer/0", 40.0), ("c2/customer/0", 0.0)]
    assert [(u.utterance_id, u.agent_behind_s) for u in agents] == [("c1/agent/0", 0.0)]
    record = customers[0].to_record("I want a supervisor", 0.9, "fake", 2000.0)
    assert record.agent_behind_s == 40.0
    assert Utterance.decode(record.encode()) == record


def test_an_utterance_that_never_went_through_a_queue_says_nothing_about_the_agent_side():
    assert utt("c1", "customer", 0).to_record("hi", 0.9, "fake", 1.0).agent_behind_s is None


def test_records_from_before_the_field_still_decode_and_a_negative_lag_is_refused():
    u = Utterance("c1/customer/0", "c1", "customer", 0, 1.0, 2.5, "hello", 0.8, 1700000002.5, agent_behind_s=40.0)
    assert Utterance.decode(u.encode()).agent_behind_s == 40.0
    old = u.to_dict()
    del old["agent_behind_s"]
    assert Utterance.from_dict(old).agent_behind_s is None
    with pytest.raises(MalformedMessage, match="agent_behind_s must be >= 0"):
        Utterance.from_dict({**old, "agent_behind_s": -1.0})
    with pytest.raises(MalformedMessage, match="agent_behind_s must be a finite number or null"):
        Utterance.from_dict({**old, "agent_behind_s": "40"})


def test_calls_behind_and_the_largest_lag_are_on_metrics_per_whisper_worker():
    metrics = PrometheusMetrics(("transcribe",))
    speech = SpeechQueue(FakeSpeech(), ThreadPoolExecutor(1), 2, 64, 0, metrics)
    calls = [f"call-{i}" for i in range(40)]
    on_1 = [c for c in calls if speech.queue_for(c) is speech.queues[1]][:3]
    clock = Clock()
    speech.queues[1].clock = clock

    async def fill():
        for call_id in on_1:
            await speech.put(utt(call_id, "agent", 0))
            clock.now += 1.5
        await speech.put(utt(on_1[0], "agent", 1))  # a call's second waiting utterance changes nothing

    asyncio.run(fill())
    clock.now += 1.0  # waits now 5.5, 4.0 and 2.5 s
    page = metrics.exposition()[0].decode()
    assert 'callradar_stt_agent_behind_calls{worker="1"} 3.0' in page
    assert 'callradar_stt_agent_behind_max_seconds{worker="1"} 5.5' in page
    assert 'callradar_stt_agent_behind_calls{worker="0"} 0.0' in page
    assert 'callradar_stt_agent_behind_max_seconds{worker="0"} 0.0' in page
    clock.now -= 0.75  # waits 4.75, 3.25 and 1.75: the last is under the 2 s notice
    assert 'callradar_stt_agent_behind_calls{worker="1"} 2.0' in metrics.exposition()[0].decode()
