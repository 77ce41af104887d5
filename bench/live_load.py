"""The arithmetic of the live-load benchmark (bench/live_latency.py), kept free of I/O.

Percentiles of latency lists, which customer utterances the pipeline dropped or
delivered late against the simulator's reference transcript, the sweep's
argument parsing, and the choice of the largest call count that met the budget.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

OVERLAP_TOLERANCE_S = 0.25  # segmenter edges vs the simulator's clip edges


def percentiles(values: Iterable[float], digits: int = 3) -> dict:
    """n, p50, p95, p99 and max of ``values`` (linear interpolation); ``{"n": 0}`` when empty."""
    a = np.asarray(list(values), dtype=float)
    if a.size == 0:
        return {"n": 0}
    out = {"n": int(a.size)}
    for q in (50, 95, 99):
        out[f"p{q}"] = round(float(np.percentile(a, q)), digits)
    out["max"] = round(float(a.max()), digits)
    return out


def parse_int_list(text: str, name: str = "value", minimum: int = 1) -> list[int]:
    """"4,10,20,40" -> [4, 10, 20, 40]: sorted, duplicates dropped; ValueError says what is wrong."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ValueError(f"{name}: give at least one number, e.g. 4,10,20,40")
    out = set()
    for item in items:
        try:
            value = int(item)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not a whole number") from None
        if value < minimum:
            raise ValueError(f"{name}: {value} is below {minimum}")
        out.add(value)
    return sorted(out)


def largest_within(p95_by_n: dict[int, float | None], budget_s: float) -> int | None:
    """The largest N such that N and every smaller N of the sweep kept p95 <= budget_s.

    "Stays under": the walk stops at the first N over budget, so a lucky larger N
    after a failure does not count. A p95 of None or NaN (nothing measured) fails.
    """
    best = None
    for n in sorted(p95_by_n):
        p95 = p95_by_n[n]
        if p95 is None or (isinstance(p95, float) and math.isnan(p95)) or p95 > budget_s:
            break
        best = n
    return best


def all_over_budget(p95_by_workers: dict[int, float | None], budget_s: float) -> bool:
    """True when every worker count missed the budget at one N: larger N are not worth running."""
    return bool(p95_by_workers) and all(
        p is None or (isinstance(p, float) and math.isnan(p)) or p > budget_s for p in p95_by_workers.values())


def _overlaps(a_start: float, a_end: float, b_start: float, b_end: float, tol: float) -> bool:
    return a_start < b_end + tol and a_end > b_start - tol


def utterance_accounting(reference: Sequence[tuple[float, float]],
                         transcribed: Sequence[tuple[float, float, float | None]],
                         budget_s: float, tol: float = OVERLAP_TOLERANCE_S) -> dict:
    """Expected customer turns of one call against what the pipeline delivered.

    ``reference``: (start, end) call seconds of each customer turn in the script.
    ``transcribed``: (start, end, latency) of each customer utterance that reached
    the transcripts topic; latency is utterance end -> score received, None when
    no score arrived. A turn is
      * dropped: no transcribed utterance overlaps it;
      * unscored: transcribed, but a covering utterance never got a score;
      * late: every covering utterance was scored, the slowest after budget_s;
      * on time: otherwise.
    """
    counts = {"expected": len(reference), "on_time": 0, "late": 0, "unscored": 0, "dropped": 0}
    for ref_start, ref_end in reference:
        covering = [lat for (s, e, lat) in transcribed if _overlaps(s, e, ref_start, ref_end, tol)]
        if not covering:
            counts["dropped"] += 1
        elif any(lat is None for lat in covering):
            counts["unscored"] += 1
        elif max(covering) > budget_s:
            counts["late"] += 1
        else:
            counts["on_time"] += 1
    return counts


def add_counts(parts: Iterable[dict]) -> dict:
    """Sum the per-call dicts of :func:`utterance_accounting`."""
    total: dict = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + value
    return total


def prometheus_value(text: str, name: str) -> float | None:
    """The value of sample ``name`` (unlabelled, or with its labels as written, e.g. ``x{a="b"}``)
    in Prometheus text exposition; None if absent."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}") or (name.endswith("}") and line.startswith(name)):
            try:
                return float(line.rsplit(None, 1)[1])
            except (IndexError, ValueError):
                return None
    return None


def prometheus_sum(text: str, name: str) -> float:
    """The sum of every series of ``name`` whatever its labels (0.0 when absent), e.g. a per-worker gauge."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            try:
                total += float(line.rsplit(None, 1)[1])
            except (IndexError, ValueError):
                pass
    return total


def backlog_series(samples: Sequence[tuple[float, Sequence[str]]], name: str) -> list[tuple[float, float]]:
    """(seconds since the replay started, ``name`` summed over workers and their series) per /metrics sample.

    A sample where no worker answered is left out (a gap, not a zero).
    """
    return [(t, round(sum(prometheus_sum(page, name) for page in pages), 2)) for t, pages in samples if any(pages)]


def threads_per_worker(spec: str, workers: int, cores: int) -> int:
    """``auto`` shares the cores between the workers (at least 1 each); else the number given."""
    if spec == "auto":
        return max(1, cores // max(1, workers))
    value = int(spec)
    if value < 1:
        raise ValueError("threads per worker must be at least 1")
    return value
