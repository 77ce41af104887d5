"""Word error rate, for checking transcription quality against reference transcripts.

Both texts are normalised first (lower case, punctuation dropped, apostrophes
joined: "Don't" == "dont"), so WER counts wrong words, not formatting. Numbers
are not spelled out: "2018" and "twenty eighteen" differ. The normalisation is
ours, not jiwer's: its RemovePunctuation joins "third-time" into "thirdtime".
"""

from __future__ import annotations

import re

import jiwer

_APOSTROPHES = re.compile(r"['\u2019`]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalize_words(text: str) -> list[str]:
    """Lower-case words with punctuation removed."""
    text = _APOSTROPHES.sub("", text.lower())
    return _NOT_WORD.sub(" ", text).split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Fewest substitutions, deletions and insertions turning reference into hypothesis.

    jiwer counts them (same numbers as the textbook dynamic programme, far faster
    on call-length texts: docs/benchmarks.md); it splits on spaces, so each word
    must be one non-empty token without whitespace, as ``normalize_words`` gives.
    """
    for word in (*reference, *hypothesis):
        if not word or word.split() != [word]:
            raise ValueError(f"a word must be one token without whitespace, got {word!r}")
    if not reference or not hypothesis:
        return len(reference) + len(hypothesis)
    out = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    return out.substitutions + out.deletions + out.insertions


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Edits per reference word after normalising; 0.0 is perfect, it can exceed 1.0.

    An empty reference scores 0.0 against nothing and 1.0 against any words
    (jiwer would give the insertion count).
    """
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
