"""The agent lane's speech-to-text process (pipeline/stages/agent_stt.py), with the real model on real audio:
the same transcript as the worker's own model, at the lowest CPU priority, gone with its parent, and a
fallback when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from callradar.models.speech import SpeechToText
from callradar.pipeline.audio.pcm import _read_file, int16_to_float, resample
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.agent_stt import NICE, LowPriorityTranscriber

CLIP = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "auto_repairs_40_caller_13.8-18.8s.wav"


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_agent_process_transcribes_like_the_worker_at_the_lowest_priority_and_falls_back_when_it_dies():
    settings = load_settings()
    rate, samples = _read_file(CLIP)
    samples = samples[:, 0] if samples.ndim > 1 else samples
    audio = int16_to_float(resample(samples, rate, 16000))
    local = SpeechToText(settings)
    expected = local.transcribe(audio).text
    fell_back = []

    async def fallback(audios):
        fell_back.append(len(audios))
        return local.transcribe_batch(audios)

    agent_side = LowPriorityTranscriber(settings, fallback)
    try:
        [result] = asyncio.run(agent_side.transcribe_batch([audio]))
        assert result.text == expected and expected.strip()
        [child] = agent_side.pool._processes.values()
        assert nice_of(child.pid) == NICE
        assert fell_back == []
        os.kill(child.pid, signal.SIGKILL)  # the child dies: the lane goes on in this process
        child.join(10)
        [again] = asyncio.run(agent_side.transcribe_batch([audio]))
        assert again.text == expected and fell_back == [1] and agent_side.broken
    finally:
        agent_side.close()


def test_the_agent_process_exits_with_its_parent(tmp_path):
    """A worker killed with SIGKILL runs no cleanup: its child must notice on its own."""
    import subprocess
    import sys

    pid_file = tmp_path / "child.pid"
    script = f"""
import asyncio, numpy as np
from pathlib import Path
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.agent_stt import LowPriorityTranscriber

async def nothing(audios):
    raise AssertionError("no fallback here")

if __name__ == "__main__":
    side = LowPriorityTranscriber(load_settings(), nothing)
    asyncio.run(side.transcribe_batch([np.zeros(16000, np.float32)]))
    Path({str(pid_file)!r}).write_text(str(next(iter(side.pool._processes))))
    import time
    time.sleep(600)
"""
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            if parent.poll() is not None:
                pytest.fail(f"the parent exited early ({parent.returncode})")
            time.sleep(0.1)
        child = int(pid_file.read_text())
        assert Path(f"/proc/{child}").exists()
    finally:
        parent.kill()
        parent.wait()
    for _ in range(100):  # the child checks every second
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1][:3]:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the agent process outlived its parent")
