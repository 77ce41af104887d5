"""The agent audio spool: what is parked comes back bit for bit, within its bound, and leaves no files."""

import os
import subprocess
import sys

import numpy as np

from callradar.pipeline.stages.agent_spool import SPOOL_DIR, AudioSpool

RATE = 16000


def test_parked_audio_comes_back_exactly_and_leaves_no_file(tmp_path):
    spool = AudioSpool(tmp_path / "spool", max_s=10.0, sample_rate=RATE)
    audio = np.random.default_rng(0).standard_normal(RATE * 2).astype(np.float32)
    spool.park("c/agent/0", audio)
    assert spool.holds("c/agent/0") and spool.parked_s == 2.0
    assert len(list((tmp_path / "spool").iterdir())) == 1
    back = spool.take("c/agent/0")
    assert back.dtype == np.float32 and np.array_equal(back, audio)
    assert not spool.holds("c/agent/0") and spool.parked_s == 0.0
    assert list((tmp_path / "spool").iterdir()) == []


def test_room_is_bounded_by_seconds_and_zero_means_no_spool(tmp_path):
    spool = AudioSpool(tmp_path / "spool", max_s=3.0, sample_rate=RATE)
    assert spool.has_room(3.0) and not spool.has_room(3.5)
    spool.park("c/agent/0", np.zeros(RATE * 2, np.float32))
    assert spool.has_room(1.0) and not spool.has_room(1.5)
    assert not AudioSpool(tmp_path / "none", max_s=0.0, sample_rate=RATE).has_room(0.1)
    assert not (tmp_path / "none").exists()  # no spool, no folder


def test_a_worker_clears_its_folder_at_start_and_removes_it_at_close(tmp_path):
    own = tmp_path / SPOOL_DIR / "4242"
    own.mkdir(parents=True)
    (own / "7.npy").write_bytes(b"left by a crashed worker with the same pid")
    spool = AudioSpool.for_worker(tmp_path, 60.0, RATE, pid=4242)
    assert spool.folder == own and list(own.iterdir()) == []
    spool.park("c/agent/1", np.ones(100, np.float32))
    spool.close()
    assert not own.exists()


def test_folders_of_workers_no_longer_running_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # exited: its pid is free (reuse this soon is unlikely)
    root = tmp_path / SPOOL_DIR
    (root / str(dead_pid)).mkdir(parents=True)
    (root / str(os.getppid())).mkdir()  # a running process
    AudioSpool.for_worker(tmp_path, 60.0, RATE, pid=os.getpid())
    assert not (root / str(dead_pid)).exists()
    assert (root / str(os.getppid())).exists()
