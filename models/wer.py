"""Word error rate, for checking transcription quality against reference transcripts.

Both texts are normalised first (lower case, punctuation dropped, apostrophes
joined: "Don't" == "dont"), so WER counts wrong words, not formatting. Numbers
are not spelled out: "2018" and "twenty eighteen" differ.
"""

from __future__ import annotations

import re

_APOSTROPHES = re.compile(r"['\u2019`]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalize_words(text: str) -> list[str]:
    """Lower-case words with punctuation removed."""
    text = _APOSTROPHES.sub("", text.lower())
    return _NOT_WORD.sub(" ", text).split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Fewest substitutions, deletions and insertions turning reference into hypothesis."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),  # substitution or match
                )
            )
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Edits per reference word after normalising; 0.0 is perfect, it can exceed 1.0."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
