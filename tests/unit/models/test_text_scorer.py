"""TextScorer: one batch in, one TextScores per utterance out; keyword evidence fused for customers."""

import pytest

from callradar.models.sentiment import ArtifactError
from callradar.models.text_scorer import TextScorer, fuse_customer_intents, fuse_intent
from callradar.models.types import SENTIMENT_LABELS, KeywordHit, TextScores
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.score import load_models


@pytest.fixture(scope="module")
def scorer():
    return load_models(load_settings({})).text_scorer


def test_batch_shapes_and_types(scorer):
    texts = [
        "thanks for calling how can i help",
        "i want to talk to the manger now",
        "",
        "can you check my order status",
    ]
    speakers = ["agent", "customer", "customer", "customer"]
    out = scorer.score_batch(texts, speakers)
    assert len(out) == 4 and all(isinstance(s, TextScores) for s in out)
    for s in out:
        assert s.sentiment in SENTIMENT_LABELS and abs(sum(s.sentiment_scores.values()) - 1) < 1e-5
        assert 0 <= s.frustration <= 1 and 0 <= s.intent <= 1 and 0 <= s.empathy <= 1
    assert out[1].keywords[0].category == "supervisor_request" and out[1].intent > 0.7
    assert out[3].intent < 0.2 and out[3].keywords == ()
    assert scorer.score_batch([], []) == []


def test_agent_gets_empathy_not_keyword_fusion(scorer):
    agent, customer = scorer.score_batch(
        ["I'm sorry about that, I understand, let me get my supervisor"] * 2, ["agent", "customer"]
    )
    assert agent.empathy > 0.5 and customer.empathy == 0.0
    assert agent.keywords and customer.intent > agent.intent


def test_fusion_is_noisy_or_with_one_hit_per_category():
    weights = {"supervisor_request": 0.9, "anger": 0.3}
    assert fuse_intent(0.2, (), weights) == pytest.approx(0.2)
    hit = KeywordHit("supervisor_request", "manager", "manger", 0.8)
    assert fuse_intent(0.0, (hit,), weights) == pytest.approx(0.72)
    assert fuse_intent(0.0, (hit, hit), weights) == pytest.approx(0.72)
    both = fuse_intent(0.5, (hit, KeywordHit("anger", "damn", "damn", 1.0)), weights)
    assert both == pytest.approx(1 - 0.5 * 0.28 * 0.7)


def test_bad_input(scorer):
    with pytest.raises(ValueError, match="speakers"):
        scorer.score_batch(["a", "b"], ["agent"])
    with pytest.raises(ValueError, match="unknown speaker"):
        scorer.score_batch(["a"], ["caller"])


def test_cached_per_settings(scorer):
    assert load_models(load_settings({})).text_scorer is scorer


def test_heads_from_another_encoder_refused(scorer):
    card = dict(scorer.intent.card)
    card["encoder"] = dict(card["encoder"], probe_embedding=[0.0] * 383 + [1.0])
    intent = type(scorer.intent)({"escalation": scorer.intent.head}, card)
    with pytest.raises(ArtifactError, match="embeds differently"):
        TextScorer(scorer.encoder, scorer.sentiment, intent, scorer.rules)


def test_negativity_joins_the_noisy_or_already_weighted():
    assert fuse_intent(0.2, (), {}, 0.0) == pytest.approx(0.2)
    assert fuse_intent(0.2, (), {}, 0.27) == pytest.approx(1 - 0.8 * 0.73)
    assert fuse_intent(0.0, (), {}, 0.3) == pytest.approx(0.3)  # negativity alone: at most the weight


def with_negativity_weight(scorer, w):
    intent = type(scorer.intent)({"escalation": scorer.intent.head}, {**scorer.intent.card, "negativity_weight": w})
    return TextScorer(scorer.encoder, scorer.sentiment, intent, scorer.rules)


def test_the_bundled_intent_fuses_negativity(scorer):
    assert scorer.intent.negativity_weight == 0.3  # docs/benchmarks.md, "Complaints said as dissatisfaction"


def test_a_card_negativity_weight_lifts_negative_customer_utterances_only(scorer):
    texts = ["this is the third bill in a row that's wrong and it's a disgrace", "great, that works for me"]
    plain = with_negativity_weight(scorer, 0.0).score_batch(texts * 2, ["customer", "customer", "agent", "agent"])
    fused = with_negativity_weight(scorer, 0.3).score_batch(texts * 2, ["customer", "customer", "agent", "agent"])
    p_neg = plain[0].sentiment_scores["negative"]
    assert p_neg > 0.5
    assert fused[0].intent == pytest.approx(1 - (1 - plain[0].intent) * (1 - 0.3 * p_neg), abs=1e-5)
    assert fused[0].intent - plain[0].intent > 0.05
    assert fused[1].intent - plain[1].intent < 0.01  # positive text: next to nothing to add
    assert (fused[2].intent, fused[3].intent) == (plain[2].intent, plain[3].intent)  # agents: the head alone


def test_offline_fusion_gives_what_score_batch_gives_a_customer(scorer):
    """Training and benchmarks fuse precomputed outputs; they must read what the live stage reads."""
    texts = ["i've called four times about this and nobody fixed it", "get me your supervisor",
             "my manger please", "thanks, that sorted it", "the bill is wrong again"]
    live = scorer.score_batch(texts, ["customer"] * len(texts))
    emb = scorer.encoder.encode(texts)
    p_head = scorer.intent.predict(emb, texts)
    p_neg = [s["negative"] for _, s, _ in scorer.sentiment.predict(emb, texts)]
    offline = fuse_customer_intents(p_head, texts, p_neg, scorer.rules, scorer.intent.negativity_weight)
    assert offline == pytest.approx([s.intent for s in live], abs=1e-5)
    assert offline != pytest.approx(list(p_head), abs=1e-3)  # the rules and negativity did something here


@pytest.mark.parametrize("bad", [0.7, -0.1, "0.3", True, None])
def test_a_bad_negativity_weight_is_refused(scorer, bad):
    with pytest.raises(ArtifactError, match="negativity_weight must be a number in 0..0.5"):
        with_negativity_weight(scorer, bad)
