"""Progress bars for long commands: tqdm on a terminal, a line every few seconds in a log.

Corpus building, training and evaluation take minutes on a laptop; a data
scientist should see that they are moving and how far they have to go.
"""

from __future__ import annotations

import sys
import time


class Bar:
    """``with Bar(total, "scoring", "utt") as bar: bar.update(n)``; never writes to stdout."""

    def __init__(self, total: int, desc: str, unit: str = "it", enabled: bool = True):
        self.total, self.desc, self.unit, self.done = total, desc, unit, 0
        self._tqdm = None
        self._enabled = enabled
        self._t0 = self._last = time.monotonic()
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self._tqdm = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)
            except ImportError:
                pass

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._tqdm is not None:
            self._tqdm.update(n)
        elif self._enabled and (time.monotonic() - self._last > 5 or self.done >= self.total):
            self._last = time.monotonic()
            print(f"{self.desc}: {self.done}/{self.total} {self.unit} ({time.monotonic() - self._t0:.0f} s)",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
