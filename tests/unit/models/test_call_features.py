"""Call features: hand-computed values, training/live parity, arrival order, bounded memory."""

from __future__ import annotations

import random

import pytest

from callradar.models.call_features import (
    DEAD_AIR_MIN_S,
    FEATURE_NAMES,
    KEYWORD_CATEGORIES,
    CallState,
    features_for_call,
)
from callradar.models.types import KeywordHit, ScoredUtterance, TextScores


def utt(speaker, start, end, neg=0.1, pos=0.1, label=None, frus=0.0, intent=0.0, kws=(), empathy=0.0):
    label = label or ("negative" if neg > max(pos, 1 - neg - pos) else "positive" if pos > 0.5 else "neutral")
    scores = {"negative": neg, "neutral": round(1 - neg - pos, 6), "positive": pos}
    hits = tuple(KeywordHit(cat, cat, cat, score) for cat, score in kws)
    return ScoredUtterance(speaker, start, end, "", TextScores(label, scores, frus, intent, hits, empathy))


# A short call whose every feature is worked out by hand below.
CALL = [
    utt("agent", 0, 4),
    utt("customer", 4.5, 9, neg=0.6, pos=0.1, frus=0.4, intent=0.1, kws=[("repeat_contact", 1.0)]),
    utt("agent", 8, 12, empathy=0.8),  # starts while the customer speaks: agent interruption, 1 s overlap
    utt("customer", 15, 18, neg=0.8, pos=0.0, frus=0.7, intent=0.6,  # 3 s dead air before it
        kws=[("supervisor_request", 1.0), ("supervisor_request", 0.5), ("complaint", 0.8)]),
    utt("agent", 17.5, 20, empathy=0.2),  # agent interruption, 0.5 s overlap
    utt("customer", 19, 23, neg=0.2, pos=0.2, label="neutral", frus=0.2, intent=0.7,
        kws=[("cancellation", 0.6), ("not_a_category", 1.0)]),  # customer interruption, 1 s overlap
    utt("agent", 23.5, 25, empathy=0.6),
    utt("customer", 30, 33, neg=0.0, pos=0.8, frus=0.0, intent=0.0),  # 5 s dead air before it
]

EXPECTED = {
    # customer negativity (P(neg) - P(pos)): 0.5, 0.8, 0.0, -0.8
    "cust_neg_ewma": -0.2375,  # 0.5 -> 0.65 -> 0.325 -> -0.2375 (alpha 0.5)
    "cust_neg_peak": 0.8,
    "cust_neg_slope": -0.47,  # least squares over x = 0..3: -2.35 / 5
    "cust_neg_streak": 0.0,  # the last two are neutral and positive
    "frustration_max": 0.7,
    "frustration_ewma": 0.1875,  # 0.4 -> 0.55 -> 0.375 -> 0.1875
    "intent_max": 0.7,
    "intent_count": 2.0,  # 0.6 and 0.7 are >= 0.5
    "kw_supervisor_request": 1.0,  # the best hit of an utterance counts once
    "kw_cancellation": 0.6,  # fuzzy hit: weighted by its score
    "kw_legal_threat": 0.0,
    "kw_complaint": 0.8,
    "kw_repeat_contact": 1.0,
    "cust_talk_share": 14.5 / 26.5,  # customer 4.5 + 3 + 4 + 3; agent 4 + 4 + 2.5 + 1.5
    "interruptions_by_customer": 1.0,
    "interruptions_by_agent": 2.0,
    "overlap_s": 2.5,
    "dead_air_max_s": 5.0,  # gaps 0.5, 3, 0.5, 5; only those >= 2 s are dead air
    "dead_air_total_s": 8.0,
    "duration_s": 33.0,
    "agent_empathy_count": 2.0,  # 0.8 and 0.6
    "agent_empathy_rate": 0.5,  # of 4 agent utterances
}


def test_feature_names_are_fixed_and_ordered():
    assert list(EXPECTED) == list(FEATURE_NAMES)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert [f"kw_{c}" for c in KEYWORD_CATEGORIES] == [n for n in FEATURE_NAMES if n.startswith("kw_")]
    assert list(CallState().features()) == list(FEATURE_NAMES)


def test_empty_call_has_neutral_defaults():
    f = CallState().features()
    assert f["cust_talk_share"] == 0.5
    assert all(v == 0.0 for k, v in f.items() if k != "cust_talk_share")


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_each_feature_on_a_constructed_call(name):
    final = features_for_call(CALL)[-1]
    assert final[name] == pytest.approx(EXPECTED[name], abs=1e-9)


def test_intermediate_values():
    rows = features_for_call(CALL)
    after_second_customer = rows[3]
    assert after_second_customer["cust_neg_streak"] == 2
    assert after_second_customer["cust_neg_ewma"] == pytest.approx(0.65)
    assert after_second_customer["cust_neg_slope"] == pytest.approx(0.3)
    assert after_second_customer["dead_air_max_s"] == pytest.approx(3.0)
    assert rows[0]["cust_talk_share"] == 0.0  # only the agent has spoken


def test_training_and_live_paths_agree():
    state = CallState()
    live = []
    for u in CALL:
        state.add(u)
        live.append(state.features())
    assert features_for_call(CALL) == live
    assert all(isinstance(v, float) for row in live for v in row.values())


def test_out_of_order_arrival_between_channels_gives_the_same_features():
    # The customer channel runs ahead: each agent utterance arrives after later customer ones.
    arrival = [CALL[1], CALL[0], CALL[3], CALL[2], CALL[5], CALL[7], CALL[4], CALL[6]]
    by_time = features_for_call(CALL)[-1]
    shuffled = features_for_call(arrival)[-1]
    for name in FEATURE_NAMES:
        assert shuffled[name] == pytest.approx(by_time[name], abs=1e-9), name


def random_call(rng: random.Random, n: int):
    """Two channels, each in time order, with overlaps, pauses and long holds."""
    out, t = [], 0.0
    for _ in range(n):
        speaker = rng.choice(["agent", "customer"])
        start = max(0.0, t + rng.uniform(-1.5, 6.0) + (rng.random() < 0.05) * rng.uniform(5, 40))
        prev_same = [u for u in out if u.speaker == speaker]
        if prev_same:
            start = max(start, prev_same[-1].end + 0.1)
        end = start + rng.uniform(0.3, 12.0)
        neg = rng.random() * 0.9
        kws = [(rng.choice(KEYWORD_CATEGORIES), rng.choice([1.0, 0.7]))] if rng.random() < 0.1 else []
        out.append(utt(speaker, round(start, 2), round(end, 2), neg=neg, pos=(1 - neg) * rng.random(),
                       frus=rng.random(), intent=rng.random(), empathy=rng.random(), kws=kws))
        t = max(t, end)
    return out


def interleave(call, rng: random.Random, max_lag: float):
    """An arrival order: each channel in its own order, the other delayed by up to max_lag seconds."""
    lag = {"agent": rng.uniform(0, max_lag), "customer": rng.uniform(0, max_lag)}
    return sorted(call, key=lambda u: (u.end + lag[u.speaker] + rng.uniform(0, 0.5)))


def reference(call):
    """Brute force over the whole call: what the incremental timeline features must equal."""
    spans = sorted((u.start, u.end) for u in call)
    merged = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    gaps = [b[0] - a[1] for a, b in zip(merged, merged[1:]) if b[0] - a[1] >= DEAD_AIR_MIN_S]
    agents = [u for u in call if u.speaker == "agent"]
    customers = [u for u in call if u.speaker == "customer"]
    overlap = sum(max(0.0, min(a.end, c.end) - max(a.start, c.start)) for a in agents for c in customers)
    by_customer = sum(any(a.start < c.start < a.end for a in agents) for c in customers)
    by_agent = sum(any(c.start < a.start < c.end for c in customers) for a in agents)
    return {
        "dead_air_max_s": max(gaps, default=0.0),
        "dead_air_total_s": sum(gaps),
        "overlap_s": overlap,
        "interruptions_by_customer": by_customer,
        "interruptions_by_agent": by_agent,
        "duration_s": max(u.end for u in call),
    }


@pytest.mark.parametrize("seed", range(8))
def test_long_calls_match_brute_force_in_any_interleaving_with_bounded_memory(seed):
    rng = random.Random(seed)
    call = random_call(rng, 400)
    expected = reference(call)
    by_time = features_for_call(sorted(call, key=lambda u: u.start))[-1]
    arrival = interleave(call, rng, max_lag=20.0)
    assert any(a.start > b.start for a, b in zip(arrival, arrival[1:])), "the test must interleave"
    state = CallState()
    biggest = 0
    for u in arrival:
        state.add(u)
        biggest = max(biggest, len(state._merged), *(len(d) for d in state._recent.values()))
    assert state._settled_any, "the call must be long enough to settle old dead air"
    live = state.features()
    for name, value in expected.items():
        assert live[name] == pytest.approx(value, abs=1e-6), name
    for name in FEATURE_NAMES:  # every feature, not only the timeline ones
        assert live[name] == pytest.approx(by_time[name], abs=1e-6), name
    assert biggest < 60, "per-call state must stay bounded on a long call"


def test_very_late_utterance_still_counts_but_settled_dead_air_stays():
    call = [utt("customer", 0, 2), utt("customer", 10, 12), utt("customer", 200, 202)]
    state = CallState()
    for u in call:
        state.add(u)
    before = state.features()
    assert before["dead_air_max_s"] == pytest.approx(188.0)
    state.add(utt("agent", 4, 8))  # ~200 s late: far beyond MAX_LATENESS_S
    after = state.features()
    assert after["cust_talk_share"] == pytest.approx(6 / 10)
    assert after["dead_air_total_s"] == pytest.approx(before["dead_air_total_s"])  # not revised
    assert after["duration_s"] == 202.0


def test_unknown_speaker_is_refused():
    with pytest.raises(ValueError, match="speaker"):
        CallState().add(utt("robot", 0, 1))
