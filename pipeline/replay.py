"""``callradar replay``: stream recorded calls into calls.audio as if they were live.

Several calls play side by side on one clock, each channel cut into 20-100 ms
chunks of raw PCM with the metadata in Kafka headers. Finding, pairing and
naming recordings, and reading them, is pipeline/recordings.py (shared with
``callradar analyze``, which cuts calls into the same chunks with
:func:`messages_at`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from callradar.pipeline.recordings import CallAudio, load_call  # noqa: F401 - imported from here by benches and tests
from callradar.pipeline.records import AudioChunk, CallEvent, ChannelEnd, Topics

SendFn = Callable[[str, str, bytes, list], None]  # topic, key, value, headers


@dataclass
class ReplayStats:
    calls: int = 0
    chunks: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    max_lag_s: float = 0.0  # how far the sender fell behind its schedule


def replay_calls(
    calls: list[CallAudio],
    send: SendFn,
    topics: Topics,
    speed: float = 1.0,
    chunk_ms: int = 40,
    stagger_s: float = 0.0,
    on_progress: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayStats:
    """Play every call on one schedule; blocks until the last chunk is sent."""
    if not 20 <= chunk_ms <= 100:
        raise ValueError("chunk_ms must be between 20 and 100")
    if speed <= 0:
        raise ValueError("speed must be positive")
    stats = ReplayStats(calls=len(calls))
    t0 = clock()
    tick_s = chunk_ms / 1000
    offsets = [i * stagger_s for i in range(len(calls))]
    ticks = [tick_count(c, chunk_ms) for c in calls]
    last_tick = max((int(o / tick_s) + n for o, n in zip(offsets, ticks)), default=0)
    started: set[int] = set()
    for tick in range(last_tick + 1):
        due = t0 + tick * tick_s / speed
        delay = due - clock()
        if delay > 0:
            sleep(delay)
        else:
            stats.max_lag_s = max(stats.max_lag_s, -delay)
        now = clock()
        for i, call in enumerate(calls):
            local = tick - int(offsets[i] / tick_s)
            if local < 0 or local > ticks[i]:
                continue
            if i not in started:
                started.add(i)
                _send_event(send, topics, call, "started", now)
            for message in messages_at(call, local, chunk_ms, now):
                send(topics.audio, call.call_id, getattr(message, "pcm", b""), message.headers())
                stats.chunks += isinstance(message, AudioChunk)
            if local == ticks[i]:
                _send_event(send, topics, call, "ended", now)
        if on_progress and tick % int(1 / tick_s) == 0:
            on_progress(tick * tick_s)
    stats.audio_seconds = sum(c.duration_s for c in calls)
    stats.wall_seconds = clock() - t0
    return stats


def tick_count(call: CallAudio, chunk_ms: int) -> int:
    """Chunks per channel; the channels end at this tick."""
    return int(np.ceil(call.duration_s / (chunk_ms / 1000)))


def messages_at(call: CallAudio, tick: int, chunk_ms: int, capture_ts: float) -> list[AudioChunk | ChannelEnd]:
    """What the replayer sends of ``call`` at its ``tick``: a chunk per channel, agent first, or at the
    last tick both channels' ends. ``callradar analyze`` feeds the transcribe stage the same messages."""
    if tick >= tick_count(call, chunk_ms):
        return [ChannelEnd(call.call_id, channel, tick) for channel in ("agent", "customer")]
    n = int(call.sample_rate * (chunk_ms / 1000))
    out: list[AudioChunk | ChannelEnd] = []
    for channel, samples in (("agent", call.agent), ("customer", call.customer)):
        piece = samples[tick * n : (tick + 1) * n]
        if len(piece) == 0:
            piece = np.zeros(n, np.int16)  # the shorter channel keeps time with silence
        out.append(AudioChunk(call.call_id, channel, tick, call.sample_rate, capture_ts, piece.astype("<i2").tobytes()))
    return out


def _send_event(send: SendFn, topics: Topics, call: CallAudio, event: str, ts: float) -> None:
    meta = call.metadata
    doc = CallEvent(
        call_id=call.call_id,
        event=event,
        ts=ts,
        agent_id=str(meta.get("agent_id", "")),
        queue=str(meta.get("queue", "")),
        customer_tier=str(meta.get("customer_tier", "")),
        metadata={"sample_rate": call.sample_rate, "duration_s": round(call.duration_s, 3)},
    )
    send(topics.events, call.call_id, doc.encode(), [])
