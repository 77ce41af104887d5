"""Agent utterances transcribed in a process of their own, at the lowest CPU priority.

Customer first (pipeline/stages/stt_queue.py) decides which utterance goes to
Whisper next, but a model call cannot be interrupted: a customer utterance that
ends while an agent utterance is being transcribed waits for it. On a CPU under
overload that wait is most of the customer's latency. Here the agent lane runs
in a child process at nice 19, with its own copy of the (small) model, so the
operating system's scheduler does the interrupting: the agent side gets only the
CPU that customers, scoring and the broker leave, and the customer lane never
waits behind it. ``CALLRADAR_STT_AGENT_PROCESS`` (auto: on a CPU with customer
first; off: in process, one lane after the other, as before).

The child exits when its parent does (it watches its parent's pid), so a killed
worker leaves no process behind. If it dies, :class:`LowPriorityTranscriber`
says so once and the agent lane goes back to the worker's own model threads:
slower for customers under overload, nothing lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

log = logging.getLogger(__name__)

NICE = 19  # the lowest priority: runs on what nothing else wants
PARENT_CHECK_S = 1.0

_stt = None  # the child's model


def _start(settings, parent_pid: int) -> None:
    """In the child: lowest priority, the model loaded once, and an exit when the parent goes."""
    global _stt
    os.nice(NICE)

    def watch_parent() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch_parent, name="watch-parent", daemon=True).start()
    from callradar.models.speech import SpeechToText

    _stt = SpeechToText(settings)


def _transcribe(audios):
    return _stt.transcribe_batch(audios)


def _ready() -> str:
    return _stt.model_id


def wanted(settings, device: str) -> bool:
    """Whether the agent lane gets a process of its own: ``auto`` on a CPU with customer first."""
    if settings.stt_agent_process == "off" or settings.stt_priority != "customer-first":
        return False
    return device == "cpu"


class LowPriorityTranscriber:
    """``transcribe_batch`` in the child process; falls back to ``fallback`` (the worker's own model calls)."""

    def __init__(self, settings, fallback):
        child_settings = dataclasses.replace(settings, vad_transcribe_ahead_ms=0, whisper_workers=1)  # one model call at a time
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start, initargs=(child_settings, os.getpid()))
        self.fallback = fallback  # async (audios) -> transcriptions, in this process
        self.broken = False
        self.pool.submit(_ready)  # start the child and load its model now, not on the first agent utterance

    async def transcribe_batch(self, audios) -> list:
        if not self.broken:
            try:
                return await asyncio.get_running_loop().run_in_executor(self.pool, _transcribe, list(audios))
            except BrokenProcessPool:
                self.broken = True
                log.error("the agent-side speech-to-text process died; agent utterances are transcribed in this "
                          "process from now on (customers may wait behind them under overload)")
        return await self.fallback(audios)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
