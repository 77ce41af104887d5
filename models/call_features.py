"""Live call features: the ONE code path shared by the score stage and training.

The score stage keeps a :class:`CallState` per live call and calls ``add`` for
every scored utterance; training calls :func:`features_for_call` on archived
calls, which runs the very same ``add``/``features`` loop. Nothing else computes
these numbers, so a trained risk model sees exactly what the live one sees.

Features (``FEATURE_NAMES``, in this order; "customer" means customer utterances only):

=========================  ==================================================================
cust_neg_ewma              EWMA (alpha ``EWMA_ALPHA``) of customer negativity, where
                           negativity = P(negative) - P(positive), in [-1, 1]
cust_neg_peak              highest customer negativity so far (the sentiment minimum)
cust_neg_slope             least-squares slope of negativity per utterance over the last
                           ``SLOPE_WINDOW`` customer utterances (> 0: getting worse)
cust_neg_streak            consecutive customer utterances labelled negative, up to the latest
frustration_max            highest customer frustration
frustration_ewma           EWMA of customer frustration
intent_max                 highest customer escalation-intent probability
intent_count               customer utterances with intent >= ``INTENT_THRESHOLD``
kw_<category>              customer keyword hits per category in ``KEYWORD_CATEGORIES``; per
                           utterance and category the best hit counts, weighted by its score
                           (1.0 exact, less for fuzzy). ``kw_repeat_contact`` is the
                           repeat-contact mention count ("third time calling").
cust_talk_share            customer speech seconds / all speech seconds (0.5 before anyone spoke)
interruptions_by_customer  customer utterances that start while the agent is speaking
interruptions_by_agent     agent utterances that start while the customer is speaking
overlap_s                  seconds both speak at once
dead_air_max_s             longest gap with nobody speaking, counted when >= ``DEAD_AIR_MIN_S``
dead_air_total_s           sum of those gaps (silence before the first word is not dead air)
duration_s                 call time so far: the latest utterance end (call time starts at 0)
agent_empathy_count        agent utterances with empathy >= ``EMPATHY_THRESHOLD``
agent_empathy_rate         agent_empathy_count / agent utterances (0 before the agent spoke)
=========================  ==================================================================

Arrival order. The two channels are transcribed independently, so an agent
utterance may arrive after a customer utterance that started later. Everything
that relates the two speakers (talk share, interruptions, overlap, dead air,
duration) is computed by time and depends only on the SET of utterances seen,
not on the order they came in -- provided each arrives within
``MAX_LATENESS_S`` of call time after it started (i.e. before some utterance
ending more than that after its start has been added). Later than that, it still
counts for everything except that already-settled dead air is not revised and
pairs with already-forgotten utterances are not checked for overlap.
Sequence features of the customer (EWMA, slope, streak) follow the customer
channel's own order, which its transcriber emits in time order.

Cost: O(1) per utterance plus a scan of the utterances from the last
``MAX_LATENESS_S`` seconds; memory is bounded the same way, whatever the call's length.
Deduplicating redelivered utterances is the caller's job (it has the utterance ids).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable

from callradar.models.types import ScoredUtterance

KEYWORD_CATEGORIES = ("supervisor_request", "cancellation", "legal_threat", "complaint", "repeat_contact")

EWMA_ALPHA = 0.5  # newest utterance's weight (starts at the first value): a turn shows in 2-3 utterances
SLOPE_WINDOW = 5
INTENT_THRESHOLD = 0.5
EMPATHY_THRESHOLD = 0.5
DEAD_AIR_MIN_S = 2.0  # shorter gaps are ordinary turn-taking
MAX_LATENESS_S = 60.0  # covers a 15 s utterance plus a channel lagging the other by 45 s

FEATURE_NAMES: tuple[str, ...] = (
    "cust_neg_ewma",
    "cust_neg_peak",
    "cust_neg_slope",
    "cust_neg_streak",
    "frustration_max",
    "frustration_ewma",
    "intent_max",
    "intent_count",
    *(f"kw_{c}" for c in KEYWORD_CATEGORIES),
    "cust_talk_share",
    "interruptions_by_customer",
    "interruptions_by_agent",
    "overlap_s",
    "dead_air_max_s",
    "dead_air_total_s",
    "duration_s",
    "agent_empathy_count",
    "agent_empathy_rate",
)


def negativity(scores: dict[str, float]) -> float:
    """P(negative) - P(positive): one number per utterance, higher is worse."""
    return float(scores.get("negative", 0.0)) - float(scores.get("positive", 0.0))


def _ewma(previous: float | None, value: float) -> float:
    return value if previous is None else EWMA_ALPHA * value + (1 - EWMA_ALPHA) * previous


def _slope(ys) -> float:
    """Least-squares slope of ys against 0, 1, 2, ...; 0 for fewer than two points."""
    n = len(ys)
    if n < 2:
        return 0.0
    x_mean = (n - 1) / 2
    y_mean = sum(ys) / n
    num = sum((i - x_mean) * (y - y_mean) for i, y in enumerate(ys))
    den = sum((i - x_mean) ** 2 for i in range(n))
    return num / den


class CallState:
    """Everything the features need about one call so far, updated one utterance at a time."""

    def __init__(self) -> None:
        # Customer sequence features (customer channel order).
        self._neg_ewma: float | None = None
        self._neg_peak: float | None = None
        self._recent_neg: deque[float] = deque(maxlen=SLOPE_WINDOW)
        self._neg_streak = 0
        self._frus_max = 0.0
        self._frus_ewma: float | None = None
        self._intent_max = 0.0
        self._intent_count = 0
        self._kw = dict.fromkeys(KEYWORD_CATEGORIES, 0.0)
        # Agent.
        self._agent_utts = 0
        self._empathy_count = 0
        # Timeline (by time, not arrival order).
        self._speech = {"agent": 0.0, "customer": 0.0}
        self._interrupts = {"agent": 0, "customer": 0}
        self._overlap = 0.0
        self._latest_end = 0.0
        self._recent: dict[str, deque[tuple[float, float]]] = {"agent": deque(), "customer": deque()}
        # Speech timeline: merged, disjoint, sorted [start, end] intervals of the last
        # MAX_LATENESS_S; gaps older than that are settled into the two totals below.
        self._merged: list[list[float]] = []
        self._settled_gap_max = 0.0
        self._settled_gap_total = 0.0
        self._settled_any = False

    # ------------------------------------------------------------------ update

    def add(self, utt: ScoredUtterance) -> None:
        """Take one scored utterance (either speaker, any interleaving of the two channels)."""
        if utt.speaker not in ("agent", "customer"):
            raise ValueError(f"speaker {utt.speaker!r} is not agent or customer")
        start, end = float(utt.start), max(float(utt.start), float(utt.end))
        if utt.speaker == "customer":
            self._add_customer(utt)
        else:
            self._agent_utts += 1
            if utt.scores.empathy >= EMPATHY_THRESHOLD:
                self._empathy_count += 1
        self._speech[utt.speaker] += end - start
        self._pair_with_other_speaker(utt.speaker, start, end)
        self._latest_end = max(self._latest_end, end)
        self._add_to_timeline(start, end)
        self._forget_before(self._latest_end - MAX_LATENESS_S)

    def _add_customer(self, utt: ScoredUtterance) -> None:
        s = utt.scores
        neg = negativity(s.sentiment_scores)
        self._neg_ewma = _ewma(self._neg_ewma, neg)
        self._neg_peak = neg if self._neg_peak is None else max(self._neg_peak, neg)
        self._recent_neg.append(neg)
        self._neg_streak = self._neg_streak + 1 if s.sentiment == "negative" else 0
        self._frus_max = max(self._frus_max, s.frustration)
        self._frus_ewma = _ewma(self._frus_ewma, s.frustration)
        self._intent_max = max(self._intent_max, s.intent)
        if s.intent >= INTENT_THRESHOLD:
            self._intent_count += 1
        best: dict[str, float] = {}
        for hit in s.keywords:
            if hit.category in self._kw:
                best[hit.category] = max(best.get(hit.category, 0.0), hit.score)
        for category, score in best.items():
            self._kw[category] += score

    def _pair_with_other_speaker(self, speaker: str, start: float, end: float) -> None:
        """Interruptions and overlap with the other speaker's recent utterances.

        Each cross-speaker pair is looked at once, when its second member arrives,
        so the counts do not depend on which channel came in first.
        """
        other = "agent" if speaker == "customer" else "customer"
        for o_start, o_end in self._recent[other]:
            if o_start < start < o_end:
                self._interrupts[speaker] += 1
            elif start < o_start < end:
                self._interrupts[other] += 1
            self._overlap += max(0.0, min(end, o_end) - max(start, o_start))
        self._recent[speaker].append((start, end))

    def _add_to_timeline(self, start: float, end: float) -> None:
        if self._settled_any:  # the settled past is final: clip very late utterances to it
            start = max(start, self._merged[0][0])
        if end <= start:
            return
        i = bisect.bisect_left(self._merged, [start, end])
        # Merge with overlapping or touching neighbours.
        if i > 0 and self._merged[i - 1][1] >= start:
            i -= 1
            start = self._merged[i][0]
        j = i
        while j < len(self._merged) and self._merged[j][0] <= end:
            end = max(end, self._merged[j][1])
            j += 1
        self._merged[i:j] = [[start, end]]

    def _forget_before(self, horizon: float) -> None:
        """Settle gaps that no on-time utterance can fill any more; drop old intervals."""
        while len(self._merged) >= 2 and self._merged[1][0] <= horizon:
            gap = self._merged[1][0] - self._merged[0][1]
            if gap >= DEAD_AIR_MIN_S:
                self._settled_gap_max = max(self._settled_gap_max, gap)
                self._settled_gap_total += gap
            self._merged.pop(0)
            self._settled_any = True
        for recent in self._recent.values():
            while recent and recent[0][1] < horizon:
                recent.popleft()

    # ------------------------------------------------------------------ persist

    def snapshot(self) -> dict:
        """Plain JSON-able state, so a live stage can keep it in a changelog and survive a crash."""
        return {name: _plain(value) for name, value in vars(self).items()}

    @classmethod
    def restore(cls, snapshot: dict) -> CallState:
        """The state :meth:`snapshot` saved; unknown names (another version's) are refused."""
        state = cls()
        fields = vars(state)
        unknown = set(snapshot) - set(fields)
        if unknown:
            raise ValueError(f"call state snapshot has unknown fields {sorted(unknown)}")
        for name, value in snapshot.items():
            fields[name] = _like(fields[name], value)
        return state

    # ------------------------------------------------------------------ read

    def features(self) -> dict[str, float]:
        """The call so far as ``{name: value}`` in FEATURE_NAMES order."""
        gaps = [b[0] - a[1] for a, b in zip(self._merged, self._merged[1:])]
        gaps = [g for g in gaps if g >= DEAD_AIR_MIN_S]
        talk = self._speech["agent"] + self._speech["customer"]
        values = {
            "cust_neg_ewma": self._neg_ewma or 0.0,
            "cust_neg_peak": self._neg_peak or 0.0,
            "cust_neg_slope": _slope(self._recent_neg),
            "cust_neg_streak": self._neg_streak,
            "frustration_max": self._frus_max,
            "frustration_ewma": self._frus_ewma or 0.0,
            "intent_max": self._intent_max,
            "intent_count": self._intent_count,
            **{f"kw_{c}": self._kw[c] for c in KEYWORD_CATEGORIES},
            "cust_talk_share": self._speech["customer"] / talk if talk > 0 else 0.5,
            "interruptions_by_customer": self._interrupts["customer"],
            "interruptions_by_agent": self._interrupts["agent"],
            "overlap_s": self._overlap,
            "dead_air_max_s": max([self._settled_gap_max, *gaps]),
            "dead_air_total_s": self._settled_gap_total + sum(gaps),
            "duration_s": self._latest_end,
            "agent_empathy_count": self._empathy_count,
            "agent_empathy_rate": self._empathy_count / self._agent_utts if self._agent_utts else 0.0,
        }
        return {name: float(values[name]) for name in FEATURE_NAMES}


def _plain(value):
    """deques and tuples as lists, recursively (JSON has no others)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (deque, list, tuple)):
        return [_plain(v) for v in value]
    return value


def _like(template, value):
    """``value`` (from :func:`_plain`) in the container types of ``template``, a fresh state's field."""
    if isinstance(template, deque):
        return deque((tuple(v) if isinstance(v, list) else v for v in value), maxlen=template.maxlen)
    if isinstance(template, dict):
        return {k: _like(template.get(k), v) for k, v in value.items()}
    return value


def features_for_call(utterances: Iterable[ScoredUtterance]) -> list[dict[str, float]]:
    """The features after each utterance, in the given order: what the live stage saw.

    Training should replay an archived call in its arrival order where it has it;
    time order (by start) also works: the last row depends only on which
    utterances there are, intermediate rows on which had arrived by then.
    """
    state = CallState()
    out = []
    for utt in utterances:
        state.add(utt)
        out.append(state.features())
    return out
