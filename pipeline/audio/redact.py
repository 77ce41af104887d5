"""PII redaction for transcripts: card numbers, social security numbers, phones, emails.

The transcribe stage runs every transcript through here before it leaves the
stage, so calls.transcripts, and everything downstream of it (scores, alerts,
the archive), never carries these. A match becomes a typed placeholder
([CARD], [SSN], [PHONE], [EMAIL]) so the text models still see that a number
was given.

Whisper writes numbers as digits ("4539 1488 ..."), as digit words ("four five
three nine ..."), or mixed ("4 5 3 9 ..."), so numbers are found as *runs* of
digit tokens (digits, digit words, "oh", "double five", "forty five", "eight
hundred") joined by spaces, dashes, dots, commas or brackets. Each run is read
into its digit string and classified:

* card: 13-19 digits passing the Luhn check; also 13 or more digits without
  Luhn when a card word ("card", "visa", "credit", ...) comes just before,
  because one misheard digit must not put 15 of 16 real digits in the clear.
* ssn: written 3-2-4 (123-45-6789), or 9 digits after "social"/"SSN", numbers
  the SSA could issue (no 000/666/9xx area, 00 group, 0000 serial); also a
  longer run after "social"/"SSN" (Whisper sometimes loops: "... 8 9 9 9 9").
* phone: "+" or "plus" then 8-15 digits (international); NANP 10 digits (or 11
  starting with 1) with valid area and exchange codes; any spoken-style run of
  10-15 digits.
* email: written (a@b.com) and spoken ("john dot smith at example dot com").

What is deliberately left alone: amounts, dates, times ("four thirty"), zip
codes, order numbers, and 16-digit numbers that fail Luhn with no card word
nearby. Pure functions, patterns compiled once.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import NamedTuple

from callradar.pipeline.settings import PII_TYPES, parse_pii_types

log = logging.getLogger(__name__)

PLACEHOLDERS = {kind: f"[{kind.upper()}]" for kind in PII_TYPES}

# ---------------------------------------------------------------- number runs

_UNITS = {"zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4,
          "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
          "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 2, "thirty": 3, "forty": 4, "fifty": 5, "sixty": 6, "seventy": 7,
         "eighty": 8, "ninety": 9}
_REPEAT = {"double": 2, "triple": 3}
_NUMBER_WORDS = [*_UNITS, *_TEENS, *_TENS, *_REPEAT, "hundred"]

# Longest first, so "fourteen" is not read as "four" + "teen".
_WORD_ALT = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_TOKEN = rf"(?:\d++(?![A-Za-z])|(?:{_WORD_ALT})\b)"
_SEP = r"[ \t,.\-()]{0,4}"
_RUN = re.compile(
    rf"(?<![\w+])(?P<plus>\+\s*|plus\s+)?(?P<paren>\()?(?P<body>{_TOKEN}(?:{_SEP}{_TOKEN})*)",
    re.IGNORECASE,
)
_TOKENS = re.compile(r"\d+|[a-z]+", re.IGNORECASE)

# Fewer digits than this cannot be a card, SSN or phone; most utterances stop at this count.
_MIN_DIGITS = 9
_LETTERS = re.compile(r"[a-z]+")
_WORDS = frozenset(_NUMBER_WORDS)

_CARD_CUE = re.compile(r"\b(?:card|visa|master\s?card|amex|american express|discover|credit|debit)\b",
                       re.IGNORECASE)
_SSN_CUE = re.compile(r"\b(?:social|ssn|s\.s\.n\.?|security number)\b", re.IGNORECASE)
_CUE_WINDOW = 60  # characters before a run where a cue word counts


class _Run(NamedTuple):
    digits: str
    groups: tuple[int, ...]  # lengths of the written digit groups, in order
    spoken: bool  # digit words, or digits one or two at a time: how speech comes out
    seps: str  # the separator characters between written groups


def _read_run(body: str) -> _Run:
    """The digits a run of digit tokens says ("double five" -> 55, "forty five" -> 45)."""
    out: list[str] = []
    groups: list[int] = []
    words = False
    tokens = _TOKENS.findall(body)
    i = 0
    while i < len(tokens):
        token = tokens[i].lower()
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        if token.isdigit():
            out.append(token)
            groups.append(len(token))
        elif token in _REPEAT:
            words = True
            if nxt in _UNITS or (nxt.isdigit() and len(nxt) == 1):
                digit = str(_UNITS.get(nxt, nxt))
                out.append(digit * _REPEAT[token])
                i += 1
        elif token in _UNITS:
            words = True
            if nxt == "hundred":
                out.append(f"{_UNITS[token]}00")
                i += 1
            else:
                out.append(str(_UNITS[token]))
        elif token in _TEENS:
            words = True
            out.append(str(_TEENS[token]))
        elif token in _TENS:
            words = True
            if nxt in _UNITS and _UNITS[nxt] > 0 and nxt not in ("oh", "o"):
                out.append(f"{_TENS[token]}{_UNITS[nxt]}")
                i += 1
            else:
                out.append(f"{_TENS[token]}0")
        # "hundred" on its own says no digit
        i += 1
    seps = re.sub(r"[\da-zA-Z]", "", body)
    spoken = words or (len(groups) >= 4 and max(groups) <= 2)
    return _Run("".join(out), tuple(groups), spoken, seps)


def luhn_ok(digits: str) -> bool:
    """The card-number checksum: catches every single-digit error, so random digits pass 1 time in 10."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = int(char)
        if position % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ssn_ok(d: str) -> bool:
    return d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


def _nanp_ok(d: str) -> bool:
    if len(d) == 11 and d[0] == "1":
        d = d[1:]
    return len(d) == 10 and d[0] in "23456789" and d[3] in "23456789"


def _classify(run: _Run, plus: bool, before: str) -> str | None:
    d, n = run.digits, len(run.digits)
    if plus:
        return "phone" if 8 <= n <= 15 else None
    if 13 <= n <= 19 and luhn_ok(d):
        return "card"
    if n == 9 and _ssn_ok(d):
        written_ssn = run.groups == (3, 2, 4) and set(run.seps.strip()) <= {"-", " "}
        if written_ssn or _SSN_CUE.search(before):
            return "ssn"
    # After a cue word, a run at least that long is the number even when ASR garbled it:
    # a misheard digit breaks Luhn, a Whisper loop repeats the last digit ("... 8 9 9 9 9").
    if n >= 13 and _CARD_CUE.search(before):
        return "card"
    if _nanp_ok(d) and not run.spoken:
        return "phone"
    if run.spoken and 10 <= n <= 15:
        return "phone"
    if n >= 9 and _SSN_CUE.search(before):
        return "ssn"
    return None


_EDGE_OH = re.compile(r"^(?P<lead>(?:oh|o)\b[\s,.\-]*)?(?P<core>.*?)(?P<tail>[\s,.\-]*\b(?:oh|o))?$",
                      re.IGNORECASE | re.DOTALL)


# ---------------------------------------------------------------- emails

_TLDS = ("com|net|org|edu|gov|mil|int|io|co|uk|us|ca|de|fr|es|it|nl|au|nz|ie|in|info|biz|me|"
         "ai|app|dev|tv|ly")
# Possessive (++, *+): a word that is not followed by "at" fails once, not once per letter.
_LOCAL = r"[a-z0-9+]++(?:(?:\s+(?:dot|underscore|dash|hyphen)\s+|[._-])[a-z0-9+]++)*+"
_DOT = r"(?:\s+dot\s+|\.)"
_EMAIL = re.compile(
    rf"(?<![\w.@+-])(?P<local>{_LOCAL})(?P<at>\s*@\s*|\s+at\s+)"
    rf"[a-z0-9-]+(?:{_DOT}[a-z0-9-]+)*{_DOT}(?:{_TLDS})\b",
    re.IGNORECASE,
)
# "find it on our website at example dot com" is a web address, not a mailbox.
_NOT_A_MAILBOX = frozenset(
    "look site website online page portal app link visit go find check it that this here there home "
    "work us me him her them you everything anything something available directly email mail office "
    "store shop located based".split()
)


# ---------------------------------------------------------------- API


class Redaction(NamedTuple):
    text: str
    counts: dict[str, int]  # type -> number of replacements; only types that occurred


def redact(text: str, types: Iterable[str] = PII_TYPES) -> Redaction:
    """Replace the PII of ``types`` in ``text`` with placeholders; say how many of each."""
    wanted = frozenset(types)
    counts: Counter[str] = Counter()
    lower = text.lower()
    if "email" in wanted and ("@" in text or (" at " in lower and ("." in text or " dot " in lower))):
        text = _EMAIL.sub(lambda m: _email(m, counts), text)
    if wanted & {"card", "ssn", "phone"} and _may_hold_number(text):
        text = _RUN.sub(lambda m: _number(m, wanted, counts), text)
    return Redaction(text, dict(counts))


def _may_hold_number(text: str) -> bool:
    """A cheap upper bound on the digits ``text`` could say, so most utterances skip the run regex."""
    digits = sum(map(text.count, "0123456789"))
    if digits >= _MIN_DIGITS:
        return True
    # A number word says at most two digits ("forty", "fourteen", "double five").
    words = sum(1 for word in _LETTERS.findall(text.lower()) if word in _WORDS)
    return digits + 2 * words >= _MIN_DIGITS


def _email(match: re.Match, counts: Counter) -> str:
    spoken_at = "@" not in match.group("at")
    if spoken_at and match.group("local").lower() in _NOT_A_MAILBOX:
        return match.group(0)
    counts["email"] += 1
    return PLACEHOLDERS["email"]


def _number(match: re.Match, wanted: frozenset, counts: Counter) -> str:
    before = match.string[max(0, match.start() - _CUE_WINDOW):match.start()]
    plus = match.group("plus") is not None
    body = match.group("body")
    lead = tail = ""
    kind = _classify(_read_run(body), plus, before)
    if kind is None:
        # "... six seven, oh wait": an "oh" at either end may be a word, not a zero.
        edges = _EDGE_OH.match(body)
        if edges.group("lead") or edges.group("tail"):
            lead, tail = edges.group("lead") or "", edges.group("tail") or ""
            kind = _classify(_read_run(edges.group("core")), plus, before)
    if kind is None or kind not in wanted:
        return match.group(0)
    counts[kind] += 1
    # A "(" taken before the run stays unless its ")" went with the number: "(555) 123-4567".
    paren = "(" if match.group("paren") and ")" not in body else ""
    return paren + lead + PLACEHOLDERS[kind] + tail


class TranscriptRedactor:
    """What the transcribe stage calls: redacts, keeps totals, counts them on /metrics.

    ``registry`` is the worker's prometheus CollectorRegistry (PrometheusMetrics.registry);
    with it, ``callradar_pii_redactions_total{type}`` counts every placeholder put in.
    """

    def __init__(self, types: Iterable[str] = PII_TYPES, registry=None):
        self.types = tuple(types)
        self.totals: Counter[str] = Counter()
        self._counter = None
        if registry is not None:
            from prometheus_client import Counter as PromCounter

            self._counter = PromCounter("callradar_pii_redactions", "PII replaced by a placeholder in transcripts.",
                                        ["type"], registry=registry)
            for kind in PII_TYPES:
                self._counter.labels(kind)  # every type starts at zero, so rate() sees it

    def __call__(self, text: str) -> str:
        result = redact(text, self.types)
        for kind, count in result.counts.items():
            self.totals[kind] += count
            if self._counter is not None:
                self._counter.labels(kind).inc(count)
        return result.text


def transcript_redactor(settings, registry=None) -> Callable[[str], str]:
    """The redaction the settings ask for (CALLRADAR_REDACT_PII, CALLRADAR_REDACT_TYPES)."""
    if not settings.redact_pii:
        log.warning("PII redaction is off (CALLRADAR_REDACT_PII=false): transcripts leave the "
                    "transcribe stage as Whisper wrote them")
        return lambda text: text
    return TranscriptRedactor(parse_pii_types(settings.redact_types), registry)
