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
intent_max                 highest customer escalation-intent probability (one misfire owns
                           it for the rest of the call: kept for the prior, trained models
                           use intent_corroborated)
intent_count               customer utterances with intent >= ``INTENT_THRESHOLD``
intent_corroborated        second-highest customer intent, an utterance with a keyword hit
                           counting twice: intent corroborated by a second utterance or by
                           the rules (a head misfire on "Bye" no longer lasts all call)
intent_recent              highest customer intent over the last ``INTENT_RECENT_WINDOW``
                           customer utterances: a request counts at once, a misfire fades
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
cust_turns                 customer utterances that are not noise (the shrinkage's n)
cust_neg_mean              call-so-far mean of customer negativity
cust_pos_mean              call-so-far mean of customer P(positive)
frustration_mean           call-so-far mean of customer frustration
cust_corrections           customer utterances correcting the agent (``CORRECTION``: "no, I
                           said ...", "I already told you", "that's not what I asked"), not
                           counted when the same utterance thanks the agent
cust_repeats               customer utterances of ``REPEAT_MIN_WORDS``+ words whose embedding
                           has cosine >= ``REPEAT_COSINE`` with one of the customer's previous
                           ``REPEAT_WINDOW`` such utterances: the same request again
cust_repeat_max            the highest such cosine so far
agent_reasks               agent utterances asking the customer to repeat or explain
                           (``AGENT_REASK``: "sorry, could you repeat", "say that again")
cust_unanswered            customer questions followed by another customer utterance before
                           the agent started speaking
hold_transfer              utterances (either speaker) mentioning a hold or a transfer
cust_thanks_rate           customer utterances thanking / customer utterances with words
cust_negation_rate         customer utterances with a negation / customer utterances with words
=========================  ==================================================================

Noise fragments. Speech to text turns line noise, breathing and cut-off words into
fragments ("T i", "l e", "Bye"), and a text head can read anything into them. A
customer utterance is *noise* (:func:`is_noise`) when it has fewer than
``NOISE_MIN_WORDS`` words of 2+ letters, or confidence < ``NOISE_LOW_CONFIDENCE``
with fewer than ``NOISE_LOW_CONFIDENCE_WORDS`` words, or no_speech_prob >
``NOISE_NO_SPEECH_PROB``. Its head outputs (sentiment, frustration, intent,
embedding) are not used; timing, keyword hits and the other text rules still
count: the rules are precise, and "manager" alone must count. Confidence and
no_speech_prob come with live utterances; an archived call without them is
judged by its words alone.

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

Sequence features of the customer (EWMA, slope, streak) follow the customer
channel's own order, which its transcriber emits in time order.
``cust_unanswered`` relates the two speakers by arrival: an agent utterance that
arrives after the customer's next one does not count as an answer.

Pooled embeddings (for a risk model's text part, models/risk.py): ``features(pooled=True)``
adds ``POOLED``, the running means of the customer's and of the agent's utterance
embeddings so far (the encoder's L2-normalised vectors the score stage already has;
noise fragments left out on both sides), customer mean first, as one float32 vector;
a side that has not spoken yet is zeros, and the value is None until any utterance
was embedded. Kept as two float32 running sums, so O(dim) per utterance whatever the
call's length; a snapshot stores them as base64 float32 (2 KB per side for 384-d).

Cost: O(1) per utterance (the repeat check: ``REPEAT_WINDOW`` dot products) plus a
scan of the utterances from the last ``MAX_LATENESS_S`` seconds; memory is bounded
the same way, whatever the call's length.
Deduplicating redelivered utterances is the caller's job (it has the utterance ids).
"""

from __future__ import annotations

import base64
import bisect
import re
from collections import deque
from collections.abc import Iterable

import numpy as np

from callradar.models.types import ScoredUtterance

KEYWORD_CATEGORIES = ("supervisor_request", "cancellation", "legal_threat", "complaint", "repeat_contact")

EWMA_ALPHA = 0.5  # newest utterance's weight (starts at the first value): a turn shows in 2-3 utterances
SLOPE_WINDOW = 5
INTENT_THRESHOLD = 0.5
INTENT_RECENT_WINDOW = 3  # customer utterances (not noise)
EMPATHY_THRESHOLD = 0.5
DEAD_AIR_MIN_S = 2.0  # shorter gaps are ordinary turn-taking
MAX_LATENESS_S = 60.0  # covers a 15 s utterance plus a channel lagging the other by 45 s

# Noise fragments (see the module docstring), from the two real calm calls' false alerts.
NOISE_MIN_WORDS = 3  # fewer words of 2+ letters: "T i", "Bye", "Right." (1 call-style complaint in 384 is this short)
NOISE_LOW_CONFIDENCE = 0.5  # Whisper's mean token probability below this ...
NOISE_LOW_CONFIDENCE_WORDS = 6  # ... on fewer words than this: a guess, not speech
NOISE_NO_SPEECH_PROB = 0.6  # Whisper itself thinks there was no speech

REPEAT_MIN_WORDS = 3  # shorter utterances ("yes", "okay") repeat by nature
REPEAT_COSINE = 0.8  # all-MiniLM-L6-v2: paraphrases of one request sit above, different requests below
REPEAT_WINDOW = 12  # compare with the customer's last 12 such utterances (bounded memory and cost)

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
CORRECTION = re.compile(
    r"\b(no|nope|nah),? (i|what i) (said|meant|asked|told|wanted)\b|\bi said\b|\bi meant\b|\bi already "
    r"(said|told|mentioned|gave|explained|did)\b|\bi (told|just told) you\b|\bthat'?s not what\b|\bthat is not what\b|"
    r"\bnot what i (said|asked|meant|wanted)\b|\byou'?re not listening\b|\byou are not listening\b|"
    r"\bi didn'?t (say|ask)( for)? that\b|\bthat'?s (wrong|not right|not correct)\b", re.I)
AGENT_REASK = re.compile(
    r"\bsorry\b[,.]? *(\?|what\b|could you|can you|would you|i didn'?t)|\bpardon\b|\b(could|can|would) you "
    r"(please )?(repeat|say that again|say it again|spell)|\bsay (that|it) again\b|\bcome again\b|"
    r"\bi didn'?t (catch|understand|get|quite get) (that|you|what|the)\b|\bcan you clarify\b|"
    r"\bwhat do you mean\b|\bnot sure i (understand|follow)\b|\brephrase\b", re.I)
HOLD_TRANSFER = re.compile(
    r"\bon hold\b|\bhold (on|the line|please)\b|\bput you (on hold|through)\b|\btransfer(red|ring)? (you|me)\b|"
    r"\btransfer(red|ring)? to\b|\bbear with me\b|\bone moment\b|\bjust a (sec|second|minute|moment)\b", re.I)
QUESTION_START = re.compile(r"^(what|why|how|when|where|who|which|can|could|do|does|did|is|are|will|would|should)\b", re.I)
THANKS = re.compile(r"\b(thanks|thank you|thank u|appreciate it|appreciate that|appreciate your)\b", re.I)
NEGATION = re.compile(r"\b(not|no|never|nothing|nobody|\w+n't|cannot)\b", re.I)

POOLED = "pooled_embeddings"  # features(pooled=True): customer mean then agent mean embedding (float32) or None

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
    "intent_corroborated",
    "intent_recent",
    "cust_turns",
    "cust_neg_mean",
    "cust_pos_mean",
    "frustration_mean",
    "cust_corrections",
    "cust_repeats",
    "cust_repeat_max",
    "agent_reasks",
    "cust_unanswered",
    "hold_transfer",
    "cust_thanks_rate",
    "cust_negation_rate",
)


def word_count(text: str) -> int:
    """Words of two or more letters (a stray "i" or "e" from noise does not count)."""
    return sum(len(w.replace("'", "")) >= 2 for w in _WORD.findall(text or ""))


def is_noise(text: str, confidence: float | None = None, no_speech_prob: float | None = None) -> bool:
    """A fragment whose text-head scores must not drive the call's risk (see the module docstring)."""
    words = word_count(text)
    if words < NOISE_MIN_WORDS:
        return True
    if confidence is not None and confidence < NOISE_LOW_CONFIDENCE and words < NOISE_LOW_CONFIDENCE_WORDS:
        return True
    return no_speech_prob is not None and no_speech_prob > NOISE_NO_SPEECH_PROB


def is_question(text: str) -> bool:
    text = (text or "").strip()
    return text.endswith("?") or bool(QUESTION_START.match(text))


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
        self._intent_corroborated = 0.0
        self._recent_intent: deque[float] = deque(maxlen=INTENT_RECENT_WINDOW)
        self._intent_count = 0
        self._kw = dict.fromkeys(KEYWORD_CATEGORIES, 0.0)
        # Customer call-so-far sums and text rules.
        self._cust_turns = 0  # not noise
        self._neg_sum = 0.0
        self._pos_sum = 0.0
        self._frus_sum = 0.0
        self._cust_worded = 0  # with any word: the rates' denominator
        self._thanks = 0
        self._negations = 0
        self._corrections = 0
        self._repeats = 0
        self._repeat_max = 0.0
        self._recent_emb: deque[str] = deque(maxlen=REPEAT_WINDOW)  # base64 float16: JSON-able, 1 KB each
        # Running sums of each side's utterance embeddings (float32) and how many: the pooled means.
        self._emb_sum: dict[str, np.ndarray | None] = {"agent": None, "customer": None}
        self._emb_n = {"agent": 0, "customer": 0}
        self._open_question = False  # the customer's latest utterance was a question ...
        self._question_start = 0.0  # ... starting then
        self._unanswered = 0
        self._hold_transfer = 0
        # Agent.
        self._agent_utts = 0
        self._empathy_count = 0
        self._agent_reasks = 0
        self._agent_latest_start = -1.0
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
        if HOLD_TRANSFER.search(utt.text or ""):
            self._hold_transfer += 1
        if utt.speaker == "customer":
            self._add_customer(utt, start)
        else:
            self._agent_utts += 1
            self._agent_latest_start = max(self._agent_latest_start, start)
            if utt.scores.empathy >= EMPATHY_THRESHOLD:
                self._empathy_count += 1
            if AGENT_REASK.search(utt.text or ""):
                self._agent_reasks += 1
            if utt.scores.embedding is not None and not is_noise(utt.text, utt.confidence, utt.no_speech_prob):
                self._pool("agent", utt.scores.embedding)
        self._speech[utt.speaker] += end - start
        self._pair_with_other_speaker(utt.speaker, start, end)
        self._latest_end = max(self._latest_end, end)
        self._add_to_timeline(start, end)
        self._forget_before(self._latest_end - MAX_LATENESS_S)

    def _add_customer(self, utt: ScoredUtterance, start: float) -> None:
        s, text = utt.scores, utt.text or ""
        self._count_keywords(s.keywords)
        # Text rules: precise, so they count on noise fragments too.
        if self._open_question and self._agent_latest_start < self._question_start:
            self._unanswered += 1
        self._open_question, self._question_start = is_question(text), start
        if word_count(text):
            self._cust_worded += 1
            self._thanks += bool(THANKS.search(text))
            self._negations += bool(NEGATION.search(text))
        self._corrections += bool(CORRECTION.search(text)) and not THANKS.search(text)  # "No, I said everything. Thanks"
        if is_noise(text, utt.confidence, utt.no_speech_prob):
            return
        # The heads' reading: only of real speech.
        neg = negativity(s.sentiment_scores)
        self._cust_turns += 1
        self._neg_sum += neg
        self._pos_sum += float(s.sentiment_scores.get("positive", 0.0))
        self._frus_sum += float(s.frustration)
        self._neg_ewma = _ewma(self._neg_ewma, neg)
        self._neg_peak = neg if self._neg_peak is None else max(self._neg_peak, neg)
        self._recent_neg.append(neg)
        self._neg_streak = self._neg_streak + 1 if s.sentiment == "negative" else 0
        self._frus_max = max(self._frus_max, s.frustration)
        self._frus_ewma = _ewma(self._frus_ewma, s.frustration)
        if any(hit.category in self._kw for hit in s.keywords):
            self._intent_corroborated = max(self._intent_corroborated, s.intent)
        elif s.intent > self._intent_max:
            self._intent_corroborated = max(self._intent_corroborated, self._intent_max)
        else:
            self._intent_corroborated = max(self._intent_corroborated, s.intent)
        self._intent_max = max(self._intent_max, s.intent)
        self._recent_intent.append(float(s.intent))
        if s.intent >= INTENT_THRESHOLD:
            self._intent_count += 1
        if s.embedding is not None:
            self._pool("customer", s.embedding)
            if word_count(text) >= REPEAT_MIN_WORDS:
                self._check_repeat(s.embedding)

    def _pool(self, speaker: str, embedding) -> None:
        v = np.asarray(embedding, dtype=np.float32).ravel()
        total = self._emb_sum[speaker]
        if total is None or len(total) != len(v):  # the first one (or another encoder after a hot reload)
            self._emb_sum[speaker], self._emb_n[speaker] = v.copy(), 1
        else:
            total += v
            self._emb_n[speaker] += 1

    def _count_keywords(self, keywords) -> None:
        best: dict[str, float] = {}
        for hit in keywords:
            if hit.category in self._kw:
                best[hit.category] = max(best.get(hit.category, 0.0), hit.score)
        for category, score in best.items():
            self._kw[category] += score

    def _check_repeat(self, embedding) -> None:
        v = np.asarray(embedding, dtype=np.float32).ravel()
        norm = float(np.linalg.norm(v))
        if norm <= 0:
            return
        v16 = (v / norm).astype(np.float16)
        if self._recent_emb:
            earlier = np.frombuffer(b"".join(base64.b64decode(e) for e in self._recent_emb), dtype=np.float16)
            cos = float((earlier.reshape(len(self._recent_emb), -1).astype(np.float32) @ v16.astype(np.float32)).max())
            self._repeat_max = max(self._repeat_max, cos)
            if cos >= REPEAT_COSINE:
                self._repeats += 1
        self._recent_emb.append(base64.b64encode(v16.tobytes()).decode("ascii"))

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

    def pooled_embeddings(self) -> np.ndarray | None:
        """Customer mean then agent mean utterance embedding so far (float32); None before any was embedded."""
        sums = [self._emb_sum["customer"], self._emb_sum["agent"]]
        dim = next((len(t) for t in sums if t is not None), None)
        if dim is None:
            return None
        return np.concatenate([t / n if t is not None and len(t) == dim else np.zeros(dim, np.float32)
                               for t, n in zip(sums, (self._emb_n["customer"], self._emb_n["agent"]))])

    def features(self, pooled: bool = False) -> dict:
        """The call so far as ``{name: value}`` in FEATURE_NAMES order; ``pooled``: plus ``POOLED``
        (:meth:`pooled_embeddings`), which a risk model with a text part reads."""
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
            "intent_corroborated": self._intent_corroborated,
            "intent_recent": max(self._recent_intent, default=0.0),
            "cust_turns": self._cust_turns,
            "cust_neg_mean": self._neg_sum / self._cust_turns if self._cust_turns else 0.0,
            "cust_pos_mean": self._pos_sum / self._cust_turns if self._cust_turns else 0.0,
            "frustration_mean": self._frus_sum / self._cust_turns if self._cust_turns else 0.0,
            "cust_corrections": self._corrections,
            "cust_repeats": self._repeats,
            "cust_repeat_max": self._repeat_max,
            "agent_reasks": self._agent_reasks,
            "cust_unanswered": self._unanswered,
            "hold_transfer": self._hold_transfer,
            "cust_thanks_rate": self._thanks / self._cust_worded if self._cust_worded else 0.0,
            "cust_negation_rate": self._negations / self._cust_worded if self._cust_worded else 0.0,
        }
        out = {name: float(values[name]) for name in FEATURE_NAMES}
        if pooled:
            out[POOLED] = self.pooled_embeddings()
        return out


def _plain(value):
    """deques and tuples as lists, float32 arrays as base64 text, recursively (JSON has no others)."""
    if isinstance(value, np.ndarray):
        return {"float32": base64.b64encode(value.astype(np.float32).tobytes()).decode("ascii")}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (deque, list, tuple)):
        return [_plain(v) for v in value]
    return value


def _like(template, value):
    """``value`` (from :func:`_plain`) in the container types of ``template``, a fresh state's field."""
    if isinstance(value, dict) and value.keys() == {"float32"}:
        return np.frombuffer(base64.b64decode(value["float32"]), dtype=np.float32).copy()
    if isinstance(template, deque):
        return deque((tuple(v) if isinstance(v, list) else v for v in value), maxlen=template.maxlen)
    if isinstance(template, dict):
        return {k: _like(template.get(k), v) for k, v in value.items()}
    return value


def features_for_call(utterances: Iterable[ScoredUtterance], pooled: bool = False) -> list[dict]:
    """The features after each utterance, in the given order: what the live stage saw
    (``pooled``: with the pooled embeddings, as :meth:`CallState.features`).

    Training should replay an archived call in its arrival order where it has it;
    time order (by start) also works: the last row depends only on which
    utterances there are, intermediate rows on which had arrived by then.
    """
    state = CallState()
    out = []
    for utt in utterances:
        state.add(utt)
        out.append(state.features(pooled))
    return out
