"""Loaders for the public training sets and an on-disk embedding cache.

Training reads ../shared/data only; nothing at run time does. Embeddings are
cached (keyed by the encoder and the exact texts) under the git-ignored state
folder so tuning a head does not re-run the transformer.
"""

from __future__ import annotations

import csv
import hashlib
import os
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


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (a model card must not name one machine's folders)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


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


# ---- our own call-style set and speech-style text ------------------------------------

CALLSTYLE_SOURCE = "callstyle"
SIMULATOR_SOURCE = "simulator-asr"


def speech_style(text: str) -> str:
    """How a transcript of ``text`` reads: lower case, no punctuation but apostrophes (the live VADER path's own rule)."""
    from callradar.models.sentiment import asr_normalise

    return asr_normalise(text)


def load_callstyle(negations: bool = True) -> list[dict]:
    """Our CC0 call-style rows (training/callstyle.py): text, intent, sentiment, frustration, kind, style, template.
    ``negations=False`` leaves out the sentiment negation families (callstyle.NEGATIONS)."""
    from callradar.training.callstyle import callstyle_rows

    return callstyle_rows(negations=negations)


def simulator_intent_rows(corpus_train: Path) -> list[tuple[str, int, str]]:
    """(text, intent, call_id) from the corpus's simulator calls: Whisper's own errors on synthetic speech.

    Customer utterances of calm calls are negatives; in escalated calls the customer utterance that
    starts within 3 s of the escalation time is positive, the rest are left out (not labelled per
    utterance). Only the corpus's training split, so its held-out scripts stay unseen by the heads.
    """
    from callradar.training.labelled_calls import read_calls

    out = []
    for call in read_calls(corpus_train, labelled_only=True):
        if call.source != SIMULATOR_SOURCE:
            continue
        t_esc = call.escalation_time if call.outcome == "escalated" else None
        for u in call.utterances:
            if u.speaker != "customer" or not u.text.strip():
                continue
            if t_esc is None:
                out.append((u.text, 0, call.call_id))
            elif abs(u.start - t_esc) <= 3.0:
                out.append((u.text, 1, call.call_id))
    return out


REAL_CALM_CALLS = ("auto_repairs_40", "auto_repairs_49")


def calm_call_customer_texts(policy: str = "adaptive-4") -> list[str]:
    """The customer utterances of the two real calm calls (their Whisper text, stored by bench/transcription.py).

    The heads' check that calm speech does not read as escalation: real calls, real recognition errors.
    """
    import json

    rows = json.loads((REPO_ROOT / "bench" / "results" / "transcription.json").read_text())["texts"]
    out = []
    for call in REAL_CALM_CALLS:
        mine = [t for t in rows if t["set"] == "real" and t["name"].startswith(f"{call}:caller:")]
        out += [t[policy] for t in sorted(mine, key=lambda t: int(t["name"].split(":")[-1])) if (t[policy] or "").strip()]
    return out


# VADER's human-rated sentence sets (Hutto & Gilbert 2014; in the vaderSentiment sdist, MIT as distributed, texts
# by third parties): MEASUREMENT ONLY, never trained on (their licence is unresolved; docs/research/issue-14-prediction.md).
VADER_SETS = {"amazon": "amazonReviewSnippets", "movie": "movieReviewSnippets", "nyt": "nytEditorialSnippets"}


def load_vader_set(folder: Path, name: str, max_rows: int = 0, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """(texts, mean rating in [-4, 4]) of one VADER ground-truth file; ``max_rows`` draws that many, seeded, in file order."""
    texts, scores = [], []
    path = Path(folder) / f"{VADER_SETS[name]}_GroundTruth.txt"
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            scores.append(float(parts[1]))
            texts.append("\t".join(parts[2:]))
    if max_rows and max_rows < len(texts):
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), max_rows, replace=False))
        return [texts[i] for i in keep], np.array(scores)[keep]
    return texts, np.array(scores)


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
    """Encode ``texts`` once; later runs with the same encoder and texts load the .npy.

    The folder is ``cache_dir``, else CALLRADAR_EMBEDDING_CACHE, else .callradar/embedding-cache.
    """
    cache_dir = cache_dir or Path(os.environ.get("CALLRADAR_EMBEDDING_CACHE") or REPO_ROOT / ".callradar" / "embedding-cache")
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
