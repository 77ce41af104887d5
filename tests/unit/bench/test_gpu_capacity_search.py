"""bench/gpu_capacity.py's search and model choice, without a broker or a GPU."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.gpu_capacity import largest_cached_whisper, largest_held, next_calls  # noqa: E402


def search(capacity: int, start: int, max_calls: int) -> list[int]:
    """The N run when p95 holds exactly up to ``capacity`` calls."""
    seen: dict[int, float] = {}
    while (n := next_calls(seen, 1.5, start, max_calls)) is not None:
        seen[n] = 1.0 if n <= capacity else 9.0
    return list(seen)


def test_doubling_then_bisecting_finds_the_capacity():
    assert search(capacity=45, start=16, max_calls=512) == [16, 32, 64, 48, 40, 44, 46, 45]
    assert largest_held({16: 1.0, 32: 1.0, 64: 9.0, 48: 9.0, 40: 1.0, 44: 1.0, 46: 9.0, 45: 1.0}, 1.5) == 45


def test_the_search_stops_at_max_calls_and_below_one():
    assert search(capacity=100, start=1, max_calls=2) == [1, 2]
    assert search(capacity=0, start=4, max_calls=8) == [4, 2, 1]
    assert largest_held({4: 9.0, 2: 9.0, 1: 9.0}, 1.5) is None


def test_a_run_with_nothing_measured_fails_and_a_lucky_larger_n_does_not_count():
    assert largest_held({1: 1.0, 2: None, 4: 1.0}, 1.5) == 1
    assert next_calls({1: 1.0, 2: float("nan")}, 1.5, 1, 8) is None


def test_the_largest_cached_faster_whisper_model_is_chosen(tmp_path):
    for name, size in (("models--Systran--faster-whisper-tiny.en", 10), ("models--Systran--faster-whisper-large-v3", 30),
                       ("models--sentence-transformers--all-MiniLM-L6-v2", 99)):
        snap = tmp_path / name / "snapshots" / "abc"
        snap.mkdir(parents=True)
        (snap / "model.bin").write_bytes(b"x" * size)
    assert largest_cached_whisper([tmp_path]) == tmp_path / "models--Systran--faster-whisper-large-v3" / "snapshots" / "abc"
    assert largest_cached_whisper([tmp_path / "missing"]) is None
