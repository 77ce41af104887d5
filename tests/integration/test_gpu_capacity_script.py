"""bench/gpu_capacity.py end to end on CPU with N up to 2: it runs, and its JSON and PNG are well formed.

The same command runs on a CUDA machine with the defaults (docs/benchmarks.md); here it
proves the search, the broker, the workers and the report work without a GPU.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)"),
]

ROOT = Path(__file__).resolve().parents[2]


def test_the_capacity_search_runs_on_cpu_and_writes_json_and_png(tmp_path):
    out = tmp_path / "cap"
    cmd = [sys.executable, str(ROOT / "bench" / "gpu_capacity.py"), "--device", "cpu", "--max-calls", "2",
           "--budget-s", "120", "--call-seconds", "12", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    doc = json.loads((out / "gpu_capacity.json").read_text())
    assert doc["device"] == "cpu" and doc["compute_type"] == "int8" and doc["p95_limit_s"] == 1.5
    assert doc["whisper_model_name"] and doc["whisper_model_source"] in ("path", "hf-cache", "bundled")
    calls = [p["calls"] for p in doc["points"]]
    assert calls and calls[0] == 1 and set(calls) <= {1, 2} and len(calls) == len(set(calls))
    for point in doc["points"]:
        assert point["utterances"] > 0 and point["dead_letters"] == 0
        assert point["criterion"] in ("alert", "score (no alert raised)")
        assert point["criterion_p95_s"] is not None and point["criterion_p95_s"] >= 0
    within = doc["largest_calls_within_p95"]
    assert within is None or within in calls
    if within is not None:
        assert all(p["criterion_p95_s"] <= 1.5 for p in doc["points"] if p["calls"] <= within)

    png = (out / "gpu_capacity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert doc["plot"] == str(out / "gpu_capacity.png")
