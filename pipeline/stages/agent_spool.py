"""Agent audio parked on disk while Whisper serves the customers first (pipeline/stages/stt_queue.py).

Past ``CALLRADAR_STT_AGENT_BACKLOG_S`` of agent audio waiting in memory, a further
agent utterance's audio goes to a file here instead of pausing ingest: the
customers' speech keeps being read and transcribed on time while the agent side
lags, and memory stays bounded. Only past ``CALLRADAR_STT_AGENT_SPOOL_S`` of parked
audio does ingest pause (the last resort, as before).

The files are a cache, not a record: an utterance's Kafka offsets stay held until
its transcript is sent (pipeline/kafka/acks.py), so after a crash the audio is read
again from Kafka and the old files are never needed. A worker clears its folder when
it starts and removes it when it stops, and removes the folders of workers no longer running.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

SPOOL_DIR = "stt-spool"  # under CALLRADAR_STATE_DIR


class AudioSpool:
    """Utterance audio by utterance id, on disk, up to ``max_s`` seconds in all."""

    def __init__(self, folder: Path, max_s: float, sample_rate: int):
        self.folder = Path(folder)
        self.max_s = max_s
        self.sample_rate = sample_rate
        self.parked: dict[str, tuple[Path, int]] = {}  # utterance id -> (file, samples)
        self.parked_s = 0.0
        self.written = 0  # utterances parked since start (for tests and metrics)
        if max_s > 0:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_worker(cls, state_dir: Path, max_s: float, sample_rate: int, pid: int | None = None) -> AudioSpool:
        """This process's spool under ``<state_dir>/stt-spool/<pid>``, after removing dead workers' folders."""
        root = Path(state_dir) / SPOOL_DIR
        pid = os.getpid() if pid is None else pid
        if root.is_dir():
            for old in root.iterdir():
                if old.name.isdigit() and int(old.name) != pid and not _alive(int(old.name)):
                    shutil.rmtree(old, ignore_errors=True)
        return cls(root / str(pid), max_s, sample_rate)

    def has_room(self, seconds: float) -> bool:
        return self.max_s > 0 and self.parked_s + seconds <= self.max_s

    def park(self, utterance_id: str, audio: np.ndarray) -> None:
        """Write ``audio`` (float32) to disk; :meth:`take` gives it back."""
        path = self.folder / f"{self.written}.npy"
        np.save(path, np.asarray(audio, dtype=np.float32), allow_pickle=False)
        self.parked[utterance_id] = (path, len(audio))
        self.parked_s += len(audio) / self.sample_rate
        self.written += 1

    def holds(self, utterance_id: str) -> bool:
        return utterance_id in self.parked

    def take(self, utterance_id: str) -> np.ndarray:
        """The parked audio, removed from disk."""
        path, samples = self.parked.pop(utterance_id)
        audio = np.load(path, allow_pickle=False)
        path.unlink(missing_ok=True)
        self.parked_s = max(0.0, self.parked_s - samples / self.sample_rate) if self.parked else 0.0
        return audio

    def close(self) -> None:
        """Remove this worker's folder (what it held is read again from Kafka by whoever takes the calls)."""
        self.parked.clear()
        self.parked_s = 0.0
        shutil.rmtree(self.folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: leave its folder alone
    return True
