"""Speech-to-text scheduling without Kafka or Whisper: transcripts made ahead, queues per worker."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from test_transcribe_stage import chunks, silence, voiced

from callradar.pipeline.metrics import PipelineMetrics
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.stt_queue import SpeechQueue
from callradar.pipeline.stages.transcribe import TranscribeProcessor

SETTINGS = load_settings(environ={})


class FakeSpeech:
    """Stands in for callradar.models.speech.SpeechToText: a 'transcript' names the audio it was given."""

    def __init__(self):
        self.calls: list[list[int]] = []
        self.lock = threading.Lock()

    def transcribe_batch(self, audios):
        with self.lock:
            self.calls.append([len(a) for a in audios])

        class Result:
            def __init__(self, audio):
                self.text, self.confidence = f"{len(audio)} samples, sum {float(np.sum(audio)):.3f}", 1.0

        return [Result(a) for a in audios]


class Outcomes(PipelineMetrics):
    def __init__(self):
        super().__init__()
        self.ahead: list[str] = []

    def on_transcribed_ahead(self, outcome: str, elapsed_s: float) -> None:
        assert elapsed_s > 0
        self.ahead.append(outcome)


async def _run(signal, ahead_ms=200, workers=1):
    """Feed one channel as the app does; returns (transcripts, model calls, outcomes)."""
    stt, metrics = FakeSpeech(), Outcomes()
    proc = TranscribeProcessor(SETTINGS)
    speech = SpeechQueue(stt, ThreadPoolExecutor(workers), workers, 64, ahead_ms, metrics)
    texts = []
    for chunk in chunks("c1", "customer", signal):
        finished = proc.on_chunk(chunk, now=chunk.capture_ts)
        for utt in finished:
            await speech.put(utt)
        if not finished:
            speech.guess(proc, "c1", "customer")
        await asyncio.sleep(0.005)  # the model thread runs between chunks, as in real time
        queue = speech.queue_for("c1")
        while not queue.empty():
            batch = await speech.next_batch(queue)
            texts += [(u.utterance_id, r.text) for u, r in zip(batch, await speech.transcribe(batch))]
    return texts, stt.calls, metrics.ahead


def test_an_utterance_transcribed_ahead_is_sent_without_calling_the_model_again():
    signal = np.concatenate([silence(0.5), voiced(1.5), silence(1.0), voiced(1.0), silence(1.0)])
    texts, calls, outcomes = asyncio.run(_run(signal))
    alone, alone_calls, _ = asyncio.run(_run(signal, ahead_ms=0))
    assert texts == alone  # the same utterances, the same audio
    assert len(texts) == 2 and outcomes == ["used", "used"]
    assert len(calls) == len(alone_calls) == 2  # one model call each: the guess, never again at the end


def test_a_guess_on_a_pause_inside_a_turn_is_wasted_and_the_whole_turn_transcribed():
    # 250 ms pause: over the 200 ms guess, under the 400 ms end of utterance.
    signal = np.concatenate([silence(0.5), voiced(1.0), silence(0.25), voiced(1.0), silence(1.0)])
    texts, calls, outcomes = asyncio.run(_run(signal))
    alone, _, _ = asyncio.run(_run(signal, ahead_ms=0))
    assert texts == alone and len(texts) == 1
    assert outcomes == ["wasted", "used"]  # replaced by the guess at the real end
    assert len(calls) == 2


def test_one_guess_at_a_time():
    stt, metrics = FakeSpeech(), Outcomes()
    proc = TranscribeProcessor(SETTINGS)

    async def run():
        speech = SpeechQueue(stt, ThreadPoolExecutor(1), 1, 64, 200, metrics)
        speech.guessing = 1  # another channel's guess is being transcribed
        for chunk in chunks("c1", "customer", np.concatenate([silence(0.5), voiced(1.0), silence(0.3)])):
            proc.on_chunk(chunk, now=chunk.capture_ts)
            speech.guess(proc, "c1", "customer")
        return speech.ahead

    assert asyncio.run(run()) == {} and stt.calls == []


def test_a_call_always_goes_to_the_same_queue_and_calls_spread_over_the_workers():
    speech = SpeechQueue(FakeSpeech(), ThreadPoolExecutor(2), 2, 64, 0, PipelineMetrics())
    assert all(speech.queue_for(f"call-{i}") is speech.queue_for(f"call-{i}") for i in range(50))
    used = {id(speech.queue_for(f"call-{i}")) for i in range(50)}
    assert used == {id(q) for q in speech.queues}


def test_transcribing_ahead_gets_a_model_worker_of_its_own():
    from callradar.models.speech import model_workers

    defaults = load_settings(environ={})
    assert model_workers(defaults.whisper_workers, defaults.vad_transcribe_ahead_ms) == 2  # whisper + guesses
    assert model_workers(3, 0) == 3


def test_a_worker_limits_its_math_threads_to_the_setting():
    """numpy/BLAS and torch in a worker use CALLRADAR_MATH_THREADS, not one thread per core."""
    import subprocess
    import sys

    code = ("import numpy, json; from threadpoolctl import threadpool_info; from callradar.pipeline.processes import limit_math_threads; "
            "limit_math_threads(1); import torch; from callradar.models.encoder import _default_threads; "
            "print(json.dumps([[p['internal_api'], p['num_threads']] for p in threadpool_info()] + [['torch', _default_threads()]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"})
    pools = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert pools and all(n == 1 for _, n in pools), pools
