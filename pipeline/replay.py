"""``callradar replay``: stream recorded calls into calls.audio as if they were live.

Several calls play side by side on one clock, each channel cut into 20-100 ms
chunks of raw PCM with the metadata in Kafka headers. A label file
``<name>.json`` beside a WAV (what ``callradar simulate`` writes) supplies the
call id and metadata.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from callradar.pipeline.records import AudioChunk, CallEvent, ChannelEnd, Topics

SendFn = Callable[[str, str, bytes, list], None]  # topic, key, value, headers


@dataclass
class CallAudio:
    """One call ready to stream: both channels at a wire rate (8 or 16 kHz)."""

    call_id: str
    sample_rate: int
    agent: np.ndarray  # int16
    customer: np.ndarray  # int16
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max(len(self.agent), len(self.customer)) / self.sample_rate


def load_call(paths: list[Path], layout: str = "stereo-agent-left", call_id: str | None = None) -> CallAudio:
    """Read a stereo file or an agent/customer pair; resample to a rate the stages accept."""
    from callradar.pipeline.audio.pcm import read_call_audio, resample, to_wire_rate

    rate, agent, customer = read_call_audio([Path(p) for p in paths], layout=layout)
    wire = to_wire_rate(rate)
    if wire != rate:
        agent, customer = resample(agent, rate, wire), resample(customer, rate, wire)
    first = Path(paths[0])
    metadata: dict = {}
    label = first.with_suffix(".json")
    if label.exists():
        try:
            doc = json.loads(label.read_text())
            call_id = call_id or doc.get("call_id")
            metadata = {k: doc[k] for k in ("agent_id", "queue", "customer_tier", "script") if k in doc}
        except (json.JSONDecodeError, AttributeError):
            pass  # a stray .json that is not a label: ignore it, the audio is what matters
    return CallAudio(call_id or first.stem, wire, agent, customer, metadata)


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
    ticks = [int(np.ceil(c.duration_s / tick_s)) for c in calls]
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
            if local == ticks[i]:
                for channel in ("agent", "customer"):
                    end = ChannelEnd(call.call_id, channel, local)
                    send(topics.audio, call.call_id, b"", end.headers())
                _send_event(send, topics, call, "ended", now)
                continue
            n = int(call.sample_rate * tick_s)
            for channel, samples in (("agent", call.agent), ("customer", call.customer)):
                piece = samples[local * n : (local + 1) * n]
                if len(piece) == 0:
                    piece = np.zeros(n, np.int16)  # the shorter channel keeps time with silence
                chunk = AudioChunk(call.call_id, channel, local, call.sample_rate, now, piece.astype("<i2").tobytes())
                send(topics.audio, call.call_id, chunk.pcm, chunk.headers())
                stats.chunks += 1
        if on_progress and tick % int(1 / tick_s) == 0:
            on_progress(tick * tick_s)
    stats.audio_seconds = sum(c.duration_s for c in calls)
    stats.wall_seconds = clock() - t0
    return stats


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


def parse_call_args(files: list[str], pairs: list[list[str]] | None) -> list[list[Path]]:
    """FILES are stereo recordings; each --pair is AGENT CUSTOMER mono files."""
    from callradar.pipeline.audio.pcm import AudioFileError

    groups = [[Path(f)] for f in files] + [[Path(a), Path(c)] for a, c in (pairs or [])]
    for group in groups:
        for path in group:
            if not path.exists():
                raise AudioFileError(f"{path}: no such file")
    return groups
