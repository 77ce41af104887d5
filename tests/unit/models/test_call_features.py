"""Call features: hand-computed values, training/live parity, arrival order, bounded memory."""

from __future__ import annotations

import random

import pytest

from callradar.models.call_features import (
    DEAD_AIR_MIN_S,
    FEATURE_NAMES,
    KEYWORD_CATEGORIES,
    REPEAT_WINDOW,
    CallState,
    features_for_call,
    is_noise,
)
from callradar.models.types import KeywordHit, ScoredUtterance, TextScores

PLAIN = "the account number follows"  # words that no text rule reads anything into, and not a noise fragment


def utt(speaker, start, end, neg=0.1, pos=0.1, label=None, frus=0.0, intent=0.0, kws=(), empathy=0.0,
        text=PLAIN, embedding=None, confidence=None, no_speech_prob=None):
    label = label or ("negative" if neg > max(pos, 1 - neg - pos) else "positive" if pos > 0.5 else "neutral")
    scores = {"negative": neg, "neutral": round(1 - neg - pos, 6), "positive": pos}
    hits = tuple(KeywordHit(cat, cat, cat, score) for cat, score in kws)
    return ScoredUtterance(speaker, start, end, text, TextScores(label, scores, frus, intent, hits, empathy, embedding),
                           confidence, no_speech_prob)


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
    "intent_corroborated": 0.7,  # 0.7 comes with a keyword hit: the rules corroborate it
    "intent_recent": 0.7,  # the last three customer intents: 0.6, 0.7, 0.0
    "cust_turns": 4.0,
    "cust_neg_mean": 0.125,  # (0.5 + 0.8 + 0.0 - 0.8) / 4
    "cust_pos_mean": 0.275,  # (0.1 + 0.0 + 0.2 + 0.8) / 4
    "frustration_mean": 0.325,  # (0.4 + 0.7 + 0.2 + 0.0) / 4
    "cust_corrections": 0.0,  # the text rules have their own tests below
    "cust_repeats": 0.0,
    "cust_repeat_max": 0.0,
    "agent_reasks": 0.0,
    "cust_unanswered": 0.0,
    "hold_transfer": 0.0,
    "cust_thanks_rate": 0.0,
    "cust_negation_rate": 0.0,
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


# ---------------------------------------------------------------- noise, dynamics, persistence


def vec(*hot, dim=8):
    """A unit vector with equal weight on the ``hot`` dimensions (a stand-in for an utterance embedding)."""
    v = [0.0] * dim
    for i in hot:
        v[i] = 1.0
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


def final(call):
    return features_for_call(call)[-1]


@pytest.mark.parametrize("text, confidence, no_speech, noise", [
    ("T i", None, None, True),  # no word of 2+ letters
    ("Bye", None, None, True),
    ("l e", 0.9, 0.0, True),
    ("Here I can leave.", None, None, False),  # 3 words: real, if mild
    ("this one here is a real sentence", 0.3, None, False),  # low confidence, but 6 words
    ("this is a real sentence", 0.3, None, True),  # low confidence on 5 words: a guess
    ("this is a real sentence", 0.9, 0.7, True),  # Whisper says there was no speech
    ("this is a real sentence", 0.9, 0.6, False),
])
def test_noise_rule(text, confidence, no_speech, noise):
    assert is_noise(text, confidence, no_speech) is noise
    f = final([utt("customer", 0, 2, neg=0.9, pos=0.0, frus=0.9, intent=0.95, text=text,
                   confidence=confidence, no_speech_prob=no_speech)])
    assert (f["intent_max"] == 0.0 and f["cust_turns"] == 0.0 and f["frustration_max"] == 0.0
            and f["cust_neg_mean"] == 0.0) is noise


def test_noise_keeps_keywords_and_timing_and_does_not_move_the_heads_features():
    real = [utt("customer", 0, 3, neg=0.2, pos=0.3, frus=0.1, intent=0.05, text="my car makes a noise")]
    with_noise = real + [utt("customer", 4, 5, neg=0.9, pos=0.0, frus=0.9, intent=0.71, text="Bye"),
                         utt("customer", 6, 7, neg=0.8, pos=0.0, frus=0.7, intent=0.9, text="manager",
                             kws=[("supervisor_request", 1.0)])]
    a, b = final(real), final(with_noise)
    for name in ("intent_max", "intent_corroborated", "cust_neg_ewma", "cust_neg_mean", "cust_pos_mean",
                 "frustration_max", "frustration_mean", "cust_turns", "cust_neg_streak"):
        assert b[name] == a[name], name
    assert b["kw_supervisor_request"] == 1.0  # "manager" alone counts
    assert b["duration_s"] == 7.0 and b["cust_talk_share"] == 1.0


def test_one_intent_misfire_does_not_own_the_call_but_two_or_a_keyword_do():
    one = [utt("customer", 0, 2, intent=0.71), utt("customer", 3, 5, intent=0.05)]
    assert final(one)["intent_max"] == pytest.approx(0.71)
    assert final(one)["intent_corroborated"] == pytest.approx(0.05)
    two = one + [utt("customer", 6, 8, intent=0.6)]
    assert final(two)["intent_corroborated"] == pytest.approx(0.6)
    keyword = [utt("customer", 0, 2, intent=0.93, kws=[("supervisor_request", 1.0)])]
    assert final(keyword)["intent_corroborated"] == pytest.approx(0.93)
    # The recent form counts a request at once and lets a misfire fade after three customer utterances.
    fading = one + [utt("customer", 6 + 3 * i, 8 + 3 * i, intent=0.05) for i in range(2)]
    assert [r["intent_recent"] for r in features_for_call(fading)] == pytest.approx([0.71, 0.71, 0.71, 0.05])


def test_call_so_far_means():
    call = [utt("customer", 0, 2, neg=0.6, pos=0.1, frus=0.5), utt("agent", 2, 3),
            utt("customer", 3, 5, neg=0.0, pos=0.6, frus=0.1), utt("customer", 6, 8, neg=0.3, pos=0.3, frus=0.3)]
    f = final(call)
    assert f["cust_turns"] == 3
    assert f["cust_neg_mean"] == pytest.approx((0.5 - 0.6 + 0.0) / 3)
    assert f["cust_pos_mean"] == pytest.approx((0.1 + 0.6 + 0.3) / 3)
    assert f["frustration_mean"] == pytest.approx(0.3)


def test_repeating_the_same_request_counts_and_short_or_different_ones_do_not():
    ask = "I need the refund for my order"
    call = [utt("customer", 0, 2, text=ask, embedding=vec(0)),
            utt("agent", 2, 4, text="let me look at that", embedding=vec(0)),  # the agent echoing does not count
            utt("customer", 5, 7, text="what about the delivery date", embedding=vec(1)),
            utt("customer", 8, 10, text="I just need my refund please", embedding=vec(0, 0)),
            utt("customer", 11, 12, text="yes yes", embedding=vec(0)),  # under 3 words: not checked
            utt("customer", 13, 15, text="again, the refund for my order", embedding=vec(0, 2, dim=8))]
    f = final(call)
    # vec(0) vs vec(0): cos 1; vec(0, 2) vs vec(0): cos 0.707 < 0.8
    assert f["cust_repeats"] == 1
    assert f["cust_repeat_max"] == pytest.approx(1.0, abs=1e-3)
    assert final(call[:3])["cust_repeats"] == 0 and final(call[:3])["cust_repeat_max"] == 0.0


def test_repeat_memory_is_bounded():
    state = CallState()
    for i in range(REPEAT_WINDOW * 5):
        state.add(utt("customer", i * 3, i * 3 + 2, text="a different request each time", embedding=vec(i % 8)))
    assert len(state._recent_emb) == REPEAT_WINDOW


@pytest.mark.parametrize("text, corrects", [
    ("No, I said the blue one", True),
    ("I already told you my account number", True),
    ("that's not what I asked for", True),
    ("no, what I meant was the other card", True),
    ("No, man, that's it.", False),
    ("No, I said everything. Thanks for explaining it.", False),  # Whisper's "No, that's everything": thanks
    ("no thanks that's all", False),
    ("the account number follows", False),
])
def test_corrections(text, corrects):
    assert final([utt("customer", 0, 2, text=text)])["cust_corrections"] == float(corrects)


@pytest.mark.parametrize("text, reasks", [
    ("Sorry, could you repeat that?", True),
    ("Could you say that again please", True),
    ("Pardon?", True),  # a one-word fragment: the text rules count on noise too
    ("I didn't catch that, what was the number", True),
    ("Sorry to hear that, can I have your account number?", False),
    ("I'm sorry about that.", False),
])
def test_agent_asking_again(text, reasks):
    f = final([utt("agent", 0, 2, text=text)])
    assert f["agent_reasks"] == float(reasks)
    assert final([utt("customer", 0, 2, text=text)])["agent_reasks"] == 0  # only the agent's


def test_unanswered_questions_holds_thanks_and_negations():
    call = [utt("customer", 0, 2, text="Can you check my bill?"),
            utt("customer", 3, 5, text="Hello, are you still there?"),  # no agent since: unanswered
            utt("agent", 6, 8, text="Please hold while I transfer you to billing"),
            utt("customer", 9, 11, text="I don't want another transfer"),  # the question before was answered
            utt("customer", 12, 14, text="thank you for your help")]
    f = final(call)
    assert f["cust_unanswered"] == 1
    assert f["hold_transfer"] == 1  # "another transfer" is not a transfer being made
    assert f["cust_thanks_rate"] == pytest.approx(1 / 4)
    assert f["cust_negation_rate"] == pytest.approx(1 / 4)


def rich_call():
    """Every kind of utterance the new features read: noise, repeats, corrections, re-asks, questions."""
    return [
        utt("agent", 0, 2, text="Hello, how can I help you today?"),
        utt("customer", 2.5, 5, neg=0.4, pos=0.1, frus=0.3, intent=0.2, text="My refund never arrived",
            embedding=vec(0), confidence=0.9, no_speech_prob=0.01),
        utt("agent", 5.5, 7, text="Sorry, could you repeat that?"),
        utt("customer", 7.5, 8, neg=0.9, pos=0.0, frus=0.9, intent=0.8, text="T i", confidence=0.2, no_speech_prob=0.9),
        utt("customer", 8.5, 11, neg=0.7, pos=0.0, frus=0.6, intent=0.5, text="No, I said my refund never arrived",
            embedding=vec(0), confidence=0.8, no_speech_prob=0.02),
        utt("customer", 11.5, 13, neg=0.6, pos=0.0, frus=0.7, intent=0.6, text="Why is this taking so long?",
            embedding=vec(3)),
        utt("customer", 13.5, 16, neg=0.8, pos=0.0, frus=0.8, intent=0.95, text="I want a manager now please",
            kws=[("supervisor_request", 1.0)], embedding=vec(4)),
        utt("agent", 16.5, 19, empathy=0.7, text="I understand, let me put you on hold"),
    ]


def test_snapshot_and_restore_mid_call_give_the_same_features_as_an_uninterrupted_run():
    import json

    call = rich_call()
    whole = CallState()
    for u in call:
        whole.add(u)
    for cut in range(len(call) + 1):
        first = CallState()
        for u in call[:cut]:
            first.add(u)
        restored = CallState.restore(json.loads(json.dumps(first.snapshot())))  # through JSON, as the changelog keeps it
        for u in call[cut:]:
            restored.add(u)
        assert restored.features() == whole.features(), cut
    f = whole.features()
    assert f["cust_repeats"] == 1 and f["cust_corrections"] == 1 and f["agent_reasks"] == 1
    assert f["cust_turns"] == 4 and f["intent_max"] == pytest.approx(0.95)  # "T i" left out


def test_training_and_live_paths_agree_on_the_rich_call():
    state, live = CallState(), []
    for u in rich_call():
        state.add(u)
        live.append(state.features())
    assert features_for_call(rich_call()) == live
