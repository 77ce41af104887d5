"""Keyword rules that survive ASR errors: exact, fuzzy and sound-alike phrase matching.

Transcripts split and join words ("super visor", "cancel my a count"), drop
letters ("manger") and swap sound-alikes ("a tourney"). So a phrase is compared
with every short window of words, joined without spaces: an exact join scores
1.0; a join within a small edit distance, or with the same phonetic key, scores
less. Fuzzy matches must start with the same letter and must not contain a
listed near miss ("manage", "layer", "compliant"), which is what keeps ordinary
sentences quiet. A category may also list words that, right after a match, show
it is about something else ("cancel the appointment" is no threat to leave), and
phrases that, just before it, say the customer does not want it ("I don't need a
manager"); such a match is dropped, exact or not. Pure Python, about 0.7 ms per
call utterance for the bundled rules (bench/keyword_cost.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from callradar.models.types import KeywordHit

DEFAULT_RULES = Path(__file__).resolve().parent / "keywords.yaml"
EXACT_ONLY_BELOW = 6  # letters; "sue" must not match "use", nor "suing" "sing"
PHONETIC_MIN_LENGTH = 8  # sound-alike keys of short words collide too often ("faking", "fucking")
PHONETIC_SCORE = 0.75
FOLLOW_WINDOW = 3  # words after a match searched for a category's unless_followed_by words
PRECEDE_WINDOW = 5  # words before a match searched for a category's unless_preceded_by phrases
CLAUSE_BREAKS = frozenset({"and", "but", "so", "because", "or", "then"})  # punctuation is gone by then

_CONTRACTIONS = [
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "cannot"),
    (r"\bain't\b", "is not"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'ll\b", " will"),
    (r"'ve\b", " have"),
    (r"'d\b", " would"),
    (r"\bi'm\b", "i am"),
    (r"\blet's\b", "let us"),
]
_NUMBERS = {"1st": "first", "2nd": "second", "3rd": "third", "4th": "fourth", "3": "three", "2": "two"}


def normalise(text: str) -> list[str]:
    """Lower-case ASCII words with contractions expanded: what rules and text are compared as."""
    text = text.replace("\u2019", "'")  # curly apostrophe, before ASCII folding drops it
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    for pattern, repl in _CONTRACTIONS:
        text = re.sub(pattern, repl, text)
    return [_NUMBERS.get(w, w) for w in re.findall(r"[a-z0-9]+", text)]


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


_PHONETIC_RULES = [
    (r"^kn", "n"),
    (r"^wr", "r"),
    (r"^x", "s"),
    (r"ph", "f"),
    (r"ck", "k"),
    (r"sch", "sk"),
    (r"sh", "X"),
    (r"ch", "X"),
    (r"th", "0"),
    (r"gh", ""),
    (r"wh", "w"),
    (r"c(?=[eiy])", "s"),
    (r"g(?=[eiy])", "j"),
    (r"dg", "j"),
    (r"[cqk]", "k"),
    (r"x", "ks"),
    (r"z", "s"),
    (r"v", "f"),
    (r"d", "t"),
    (r"b", "p"),
]


@functools.lru_cache(maxsize=8192)  # the same windows come back utterance after utterance
def phonetic_key(word: str) -> str:
    """A small metaphone-like key: consonant skeleton, voicing merged, vowels dropped."""
    if not word:
        return ""
    key = word
    for pattern, repl in _PHONETIC_RULES:
        key = re.sub(pattern, repl, key)
    head, tail = key[0], re.sub(r"[aeiouyhw]", "", key[1:])
    head = "a" if head in "aeiouy" else head
    return re.sub(r"(.)\1+", r"\1", head + tail)


def edit_budget(words: tuple[str, ...]) -> int:
    """Edits allowed: by total length, but at most one per word of EXACT_ONLY_BELOW+ letters.

    So "manager" may lose a letter, while "sue you" must be exact ("see you" is not a threat).
    """
    length = sum(map(len, words))
    by_length = 0 if length < EXACT_ONLY_BELOW else 1 if length < 12 else 2 if length < 20 else 3
    return min(by_length, sum(len(w) >= EXACT_ONLY_BELOW for w in words))


@dataclass(frozen=True)
class _Phrase:
    category: str
    text: str  # as written in the YAML
    words: tuple[str, ...]
    joined: str
    key: str
    budget: int  # edits for a fuzzy match

    @property
    def limit(self) -> int:
        """Edits a sound-alike may need (the phonetic key must then agree)."""
        return max(self.budget, int(0.3 * len(self.joined))) if self.budget else 0


CATEGORY_KEYS = frozenset({"phrases", "intent_weight", "near_misses", "unless_followed_by", "unless_preceded_by"})


class KeywordRulesError(ValueError):
    """The keyword YAML is missing or malformed; the message says where."""


@dataclass
class KeywordRules:
    """Keyword categories (customer cues), their intent weights, and agent empathy phrases."""

    phrases: list[_Phrase]
    weights: dict[str, float]
    near_misses: dict[str, frozenset[str]]
    empathy_phrases: list[_Phrase] = field(default_factory=list)
    unless_followed_by: dict[str, frozenset[str]] = field(default_factory=dict)
    unless_preceded_by: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_RULES) -> "KeywordRules":
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeywordRulesError(f"{path}: cannot read keyword rules ({exc})") from exc
        except yaml.YAMLError as exc:
            raise KeywordRulesError(f"{path}: not valid YAML ({exc})") from exc
        return cls.from_dict(doc, source=str(path))

    @classmethod
    def from_dict(cls, doc, source: str = "<rules>") -> "KeywordRules":
        def fail(msg):
            raise KeywordRulesError(f"{source}: {msg}")

        if not isinstance(doc, dict) or not isinstance(doc.get("categories"), dict) or not doc["categories"]:
            fail("needs a non-empty 'categories' mapping")
        if set(doc) - {"categories", "empathy"}:
            fail(f"unknown top-level keys {sorted(set(doc) - {'categories', 'empathy'})}")
        phrases, weights, near, unless, negated = [], {}, {}, {}, {}
        for name, spec in doc["categories"].items():
            where = f"categories.{name}"
            if not isinstance(spec, dict):
                fail(f"{where} must be a mapping with 'phrases'")
            if set(spec) - CATEGORY_KEYS:
                fail(f"{where}: unknown keys {sorted(set(spec) - CATEGORY_KEYS)}; known: {sorted(CATEGORY_KEYS)}")
            weight = spec.get("intent_weight", 0.5)
            if not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
                fail(f"{where}.intent_weight must be a number in 0..1, got {weight!r}")
            weights[name] = float(weight)
            category_phrases = cls._phrases(spec.get("phrases"), name, f"{where}.phrases", fail)
            phrases += category_phrases
            near[name] = cls._words(spec.get("near_misses"), f"{where}.near_misses", fail)
            unless[name] = cls._words(spec.get("unless_followed_by"), f"{where}.unless_followed_by", fail)
            before = spec.get("unless_preceded_by") or []
            if not isinstance(before, list) or not all(isinstance(b, str) and normalise(b) for b in before):
                fail(f"{where}.unless_preceded_by must be a list of words or short phrases "
                     "(quote no, yes, on and off: YAML reads them as true or false)")
            negated[name] = tuple(tuple(normalise(b)) for b in before)
            for p in category_phrases:
                if unless[name] & set(p.words):
                    fail(f"{where}: phrase {p.text!r} contains an unless_followed_by word, so it could never match")
        empathy = doc.get("empathy") or {}
        if not isinstance(empathy, dict):
            fail("empathy must be a mapping with 'phrases'")
        empathy_phrases = cls._phrases(empathy.get("phrases", []), "empathy", "empathy.phrases", fail, allow_empty=True)
        return cls(phrases, weights, near, empathy_phrases, unless, negated)

    @staticmethod
    def _words(items, where, fail) -> frozenset[str]:
        items = items or []
        if not isinstance(items, list) or not all(isinstance(m, str) for m in items):
            fail(f"{where} must be a list of words")
        return frozenset(w for m in items for w in normalise(m))

    @staticmethod
    def _phrases(items, category, where, fail, allow_empty=False) -> list[_Phrase]:
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            fail(f"{where} must be a list of strings")
        if not items and not allow_empty:
            fail(f"{where} is empty")
        out = []
        for text in items:
            words = tuple(normalise(text))
            if not words:
                fail(f"{where}: phrase {text!r} has no words")
            joined = "".join(words)
            out.append(_Phrase(category, text, words, joined, phonetic_key(joined), edit_budget(words)))
        return out

    def digest(self) -> str:
        """Changes with anything that changes a match: what cached features computed with these rules depend on."""
        doc = {"phrases": sorted((p.category, p.text) for p in self.phrases),
               "empathy": sorted(p.text for p in self.empathy_phrases),
               "weights": self.weights,
               "near_misses": {c: sorted(w) for c, w in self.near_misses.items()},
               "unless_followed_by": {c: sorted(w) for c, w in self.unless_followed_by.items()},
               "unless_preceded_by": {c: sorted(b) for c, b in self.unless_preceded_by.items() if b}}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    # ---- matching --------------------------------------------------------------------

    def match(self, text: str) -> tuple[KeywordHit, ...]:
        """Every category cue in ``text``; per category, overlapping matches keep the best."""
        return tuple(hit for hit, _ in self._match(normalise(text), self._index, self.near_misses,
                                                     self.unless_followed_by, self.unless_preceded_by))

    def empathy(self, text: str) -> float:
        """0..1: 1 - 0.5^(sum of empathy hit scores); one clear phrase gives 0.5, two 0.75."""
        hits = self._match(normalise(text), self._empathy_index, {})
        return round(1.0 - math.pow(0.5, sum(h.score for h, _ in hits)), 4)

    def __post_init__(self):
        self._index = _index(self.phrases)
        self._empathy_index = _index(self.empathy_phrases)

    @staticmethod
    def _match(words: list[str], index: dict, near_misses: dict,
               unless_followed_by: dict | None = None,
               unless_preceded_by: dict | None = None) -> list[tuple[KeywordHit, range]]:
        candidates = []
        for size, by_letter in index.items():
            for start in range(len(words) - size + 1):
                window = words[start : start + size]
                joined = "".join(window)
                for p in by_letter.get(joined[0], ()):
                    if abs(len(joined) - len(p.joined)) > p.limit:
                        continue
                    score = _similarity(p, joined, window, near_misses.get(p.category, ()))
                    if not score or _about_something_else(unless_followed_by, p.category,
                                                          words[start : start + size + FOLLOW_WINDOW]):
                        continue
                    if _negated(unless_preceded_by, p.category, words[max(0, start - PRECEDE_WINDOW) : start]):
                        continue
                    candidates.append((score, -size, start, p, joined))
        chosen: list[tuple[KeywordHit, range]] = []
        for score, neg_size, start, p, _ in sorted(candidates, key=lambda c: (-c[0], -c[1], c[2])):
            span = range(start, start - neg_size)
            if any(h.category == p.category and set(span) & set(r) for h, r in chosen):
                continue
            matched = " ".join(words[span.start : span.stop])
            chosen.append((KeywordHit(p.category, p.text, matched, round(score, 3)), span))
        chosen.sort(key=lambda hr: hr[1].start)
        return chosen


def _about_something_else(unless_followed_by: dict | None, category: str, match_and_after: list[str]) -> bool:
    """The match, or the few words after it, show it is about something else ("cancel the appointment").

    Asked only of windows that matched: most windows match nothing, so this stays off the scan.
    """
    unless = unless_followed_by.get(category) if unless_followed_by else None
    return bool(unless) and not unless.isdisjoint(match_and_after)


def _negated(unless_preceded_by: dict | None, category: str, before: list[str]) -> bool:
    """The words before a match say the customer does NOT want it ("I don't need a manager").

    A phrase of two or more words counts anywhere in the PRECEDE_WINDOW words before the match, back
    to the last clause break ("I don't want my profile and I want to cancel it" still hits); a single
    word only right before it ("no complaints"), so "no, I want to make a complaint" still hits.
    Asked only of windows that matched.
    """
    breaks = [i for i, w in enumerate(before) if w in CLAUSE_BREAKS]
    if breaks:
        before = before[breaks[-1] + 1 :]
    for phrase in (unless_preceded_by or {}).get(category, ()):
        n = len(phrase)
        if n == 1:
            if before[-1:] == list(phrase):
                return True
        elif any(tuple(before[i : i + n]) == phrase for i in range(len(before) - n + 1)):
            return True
    return False


def _index(phrases: list[_Phrase]) -> dict[int, dict[str, list[_Phrase]]]:
    """window size -> first letter -> phrases that a window of that size may match."""
    index: dict[int, dict[str, list[_Phrase]]] = {}
    for p in phrases:
        for size in range(max(1, len(p.words) - 1), len(p.words) + 2):
            index.setdefault(size, {}).setdefault(p.joined[0], []).append(p)
    return index


def _similarity(p: _Phrase, joined: str, window: list[str], near_misses) -> float:
    """1.0 exact; 1 - edits/length within the budget; PHONETIC_SCORE for a sound-alike; else 0."""
    if joined == p.joined:
        return 1.0
    if not p.budget or joined[0] != p.joined[0] or any(w in near_misses for w in window):
        return 0.0
    d = edit_distance(joined, p.joined, p.budget)  # the cheap question first: most windows stop here
    if d <= p.budget:
        return 1.0 - d / len(p.joined)
    # A sound-alike: the (cached) key must agree before the longer distance is worth computing.
    if len(p.joined) >= PHONETIC_MIN_LENGTH and phonetic_key(joined) == p.key \
            and edit_distance(joined, p.joined, p.limit) <= p.limit:
        return PHONETIC_SCORE
    return 0.0
