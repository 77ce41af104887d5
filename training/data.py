"""Loaders for the public training sets and an on-disk embedding cache.

Training reads ../shared/data only; nothing at run time does. Embeddings are
cached (keyed by the encoder and the exact texts) under the git-ignored state
folder so tuning a head does not re-run the transformer.
"""

from __future__ import annotations

import csv
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """/work/shared/data where it exists, else ../shared/data next to the repo."""
    for candidate in (Path("/work/shared/data"), REPO_ROOT.parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return REPO_ROOT.parent / "shared" / "data"


def sha256_files(paths: list[Path]) -> str:
    """One hash over several files, so a model card pins exactly the data it saw."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# ---- GoEmotions --------------------------------------------------------------------

# The GoEmotions paper's sentiment grouping; "ambiguous" is mapped by callradar.training.sentiment.
GOEMOTIONS_GROUPS = {
    "positive": "admiration amusement approval caring desire excitement gratitude joy love "
    "optimism pride relief".split(),
    "negative": "anger annoyance disappointment disapproval disgust embarrassment fear grief "
    "nervousness remorse sadness".split(),
    "ambiguous": "confusion curiosity realization surprise".split(),
    "neutral": ["neutral"],
}
FRUSTRATION_EMOTIONS = ("anger", "annoyance", "disapproval", "disgust")


@dataclass
class GoEmotionsSplit:
    texts: list[str]
    emotions: list[list[str]]  # emotion names per row (multi-label)


def load_goemotions(data_dir: Path, split: str) -> GoEmotionsSplit:
    folder = data_dir / "sentiment" / "goemotions"
    names = (folder / "labels.txt").read_text().split()
    texts, emotions = [], []
    with open(folder / f"{split}.tsv", encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            texts.append(row[0])
            emotions.append([names[int(i)] for i in row[1].split(",")])
    return GoEmotionsSplit(texts, emotions)


def goemotions_files(data_dir: Path) -> list[Path]:
    folder = data_dir / "sentiment" / "goemotions"
    return [folder / n for n in ("labels.txt", "train.tsv", "dev.tsv", "test.tsv")]


# ---- Bitext ------------------------------------------------------------------------


def bitext_file(data_dir: Path) -> Path:
    return data_dir / "intents" / "bitext" / "bitext_customer_support_21k.csv"


def load_bitext(data_dir: Path) -> tuple[list[str], list[str]]:
    """(utterances, intents); the file starts with a UTF-8 byte-order mark."""
    with open(bitext_file(data_dir), encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["utterance"] for r in rows], [r["intent"] for r in rows]


# ---- progress and embedding cache -------------------------------------------------


class Progress:
    """A small text progress line on stderr (tqdm where installed)."""

    def __init__(self, total: int, desc: str):
        try:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="text", file=sys.stderr)
        except ImportError:
            self._bar = None
            self.total, self.done, self.desc, self._last = total, 0, desc, 0.0

    def __call__(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)
            return
        self.done += n
        if time.monotonic() - self._last > 2 or self.done == self.total:
            self._last = time.monotonic()
            print(f"{self.desc}: {self.done}/{self.total}", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def embed_cached(encoder, texts: list[str], desc: str, cache_dir: Path | None = None) -> np.ndarray:
    """Encode ``texts`` once; later runs with the same encoder and texts load the .npy."""
    cache_dir = cache_dir or REPO_ROOT / ".callradar" / "embedding-cache"
    h = hashlib.sha256(str(encoder.path).encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    path = cache_dir / f"{desc}-{h.hexdigest()[:20]}.npy"
    if path.exists():
        print(f"{desc}: {len(texts)} embeddings from cache {path.name}", file=sys.stderr)
        return np.load(path, allow_pickle=False)
    bar = Progress(len(texts), f"embedding {desc}")
    t0 = time.monotonic()
    emb = encoder.encode(texts, batch_size=64, progress=bar)
    bar.close()
    print(f"{desc}: {len(texts)} texts in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, emb, allow_pickle=False)
    return emb
