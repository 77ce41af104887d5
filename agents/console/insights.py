"""The console's Insights page: the tables of ``callradar report`` from the call archive, cached.

The console sits below training in the layers (docs/architecture.md), so the command
(pipeline/cli/console.py) hands in how to read the archive and compute the tables
(training/insights.py); this owns the period, the cache and the plain "no archive yet".
Reading a month of calls takes seconds: it runs in a thread, one read at a time, and
the answer is kept for ``cache_s``.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PERIODS = ("24h", "7d", "30d")  # what the page offers; any span from 1h to MAX_DAYS is accepted
MAX_DAYS = 366
SPAN = re.compile(r"(\d{1,5})([hd])")
CACHE_S = 60.0
NO_ARCHIVE = "no archived calls yet: run `callradar archive`"


class ArchiveEmpty(Exception):
    """The archive folder is missing or holds no calls; the message says which."""


class BadPeriod(ValueError):
    """A ``since`` the page cannot use; the message says what would do."""


def period_seconds(text: str) -> float:
    """``24h``, ``7d``, ``30d`` (any span of hours or days, 1h to 366d) as seconds."""
    match = SPAN.fullmatch((text or "").strip().lower())
    if not match:
        raise BadPeriod(f"since={text[:40]!r}: expected a span like {', '.join(PERIODS)} (hours or days)")
    n, unit = int(match.group(1)), match.group(2)
    seconds = n * (3600.0 if unit == "h" else 86400.0)
    if not 3600.0 <= seconds <= MAX_DAYS * 86400.0:
        raise BadPeriod(f"since={text!r}: the span must be from 1h to {MAX_DAYS}d")
    return seconds


def json_safe(value):
    """NaN and infinities as null: the browser's JSON.parse refuses them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


@dataclass
class ArchiveInsights:
    """``read()``: the archive (opaque here), ArchiveEmpty when there is none; ``tables(archive, since_ts)``:
    ``{"calls", "archived_calls", "tables"}`` for the calls since that time."""

    archive_dir: Path
    read: Callable[[], Any]
    tables: Callable[[Any, float], dict]
    cache_s: float = CACHE_S
    clock: Callable[[], float] = time.time
    _archive: tuple[float, Any] | None = field(default=None, init=False, repr=False)
    _answers: dict[str, tuple[float, dict]] = field(default_factory=dict, init=False, repr=False)
    _lock: asyncio.Lock | None = field(default=None, init=False, repr=False)

    async def get(self, since: str) -> dict:
        """The page's JSON for ``since`` (BadPeriod if it is not a span); at most ``cache_s`` old."""
        seconds = period_seconds(since)
        key = since.strip().lower()
        cached = self._fresh(key)
        if cached is not None:
            return cached
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one read at a time; who waited gets the answer just computed
            cached = self._fresh(key)
            if cached is not None:
                return cached
            answer = await asyncio.to_thread(self._compute, key, seconds)
            self._answers[key] = (self.clock(), answer)
            return answer

    def _fresh(self, key: str) -> dict | None:
        hit = self._answers.get(key)
        if hit and self.clock() - hit[0] < self.cache_s:
            return {**hit[1], "cached": True}
        return None

    def _compute(self, key: str, seconds: float) -> dict:
        now = self.clock()
        base = {"since": key, "since_ts": now - seconds, "generated_ts": now, "archive": str(self.archive_dir),
                "cached": False}
        try:
            if self._archive is None or now - self._archive[0] >= self.cache_s:
                self._archive = None
                self._archive = (now, self.read())
        except ArchiveEmpty as exc:
            return {**base, "empty": True, "message": NO_ARCHIVE, "reason": str(exc), "calls": 0, "archived_calls": 0,
                    "tables": {}}
        answer = self.tables(self._archive[1], now - seconds)
        return {**base, "empty": False, **json_safe(answer)}
