"""The text heads' own training sources: the CC0 call-style set, speech-style text, simulator utterances."""

from collections import Counter

import numpy as np

from callradar.training import data as D
from callradar.training.callstyle import callstyle_rows
from callradar.training.labelled_calls import CallUtterance, LabelledCall, write_calls


def test_callstyle_set_is_seeded_and_labelled():
    rows = callstyle_rows()
    assert rows == callstyle_rows()  # the same rows every run: the model card pins them by count and seed
    assert len({r["text"] for r in rows}) == len(rows)
    kinds = Counter(r["kind"] for r in rows)
    for kind in ("implicit_repeat", "churn", "explicit", "venting", "closing", "calm_fault", "routine"):
        assert kinds[kind] > 20, kind
    assert {r["style"] for r in rows} == {"typed", "asr"}
    by_text = {r["text"].lower().rstrip(".!?"): r for r in rows}
    assert by_text["bye"]["intent"] == 0 and by_text["the warning light is on"]["intent"] == 0
    assert by_text["i'm taking my business elsewhere"]["intent"] == 1


def test_calm_negatives_leave_the_research_rows_alone():
    """Adding the closings and fault descriptions must not change the 702 rows the research measured on."""
    research = callstyle_rows(calm_negatives=False)
    assert len(research) == 702
    assert callstyle_rows()[: len(research)] == research
    assert not any(r["kind"] in ("closing", "calm_fault", "calm_short") for r in research)


def test_negation_rows_keep_their_negation():
    """A speech-style rewrite that drops the "not" would teach the opposite of the label."""
    from callradar.models.call_features import NEGATION

    rows = callstyle_rows()
    negated = [r for r in rows if r["kind"].startswith("negated_")]
    assert {r["kind"] for r in negated} == {"negated_request", "negated_calm", "negated_positive", "negated_negative"}
    assert all(NEGATION.search(r["text"].lower()) for r in negated)
    by_kind = {k: {r["sentiment"] for r in negated if r["kind"] == k} for k in ("negated_calm", "negated_positive",
                                                                                   "negated_negative")}
    assert by_kind == {"negated_calm": {"neutral"}, "negated_positive": {"positive"}, "negated_negative": {"negative"}}
    # the rows before the negation families are the 1,047 the shipped intent head was trained on (one of them,
    # whose rewrite had lost its "don't", now keeps it)
    before = callstyle_rows(negations=False)
    assert len(before) == 1047 and rows[: len(before)] == before
    assert "i want to cancel my account" not in {r["text"] for r in before if r["intent"] == 0}


def test_speech_style_reads_like_a_transcript():
    assert D.speech_style("Hi! I've called FOUR times, okay?") == "hi i've called four times okay"


def test_simulator_rows_label_calm_calls_and_the_escalation_turn(tmp_path):
    calm = LabelledCall("sim-a", "calm", [CallUtterance("customer", 0.0, 2.0, "my router is blinking"),
                                          CallUtterance("agent", 2.5, 4.0, "let me check")], source=D.SIMULATOR_SOURCE)
    esc = LabelledCall("sim-b", "escalated", [CallUtterance("customer", 0.0, 2.0, "it broke again"),
                                              CallUtterance("customer", 10.0, 12.0, "get me a supervisor")],
                       escalation_time=10.2, source=D.SIMULATOR_SOURCE)
    other = LabelledCall("bitext-1", "calm", [CallUtterance("customer", 0.0, 1.0, "hello")], source="bitext-synthetic")
    rows = D.simulator_intent_rows(write_calls(tmp_path / "c.jsonl", [calm, esc, other]))
    assert rows == [("my router is blinking", 0, "sim-a"), ("get me a supervisor", 1, "sim-b")]


def test_calm_call_texts_are_the_two_real_calls_customer_side():
    texts = D.calm_call_customer_texts()
    assert len(texts) > 50 and all(t.strip() for t in texts)


def test_vader_set_subsample_is_seeded(tmp_path):
    (tmp_path / "amazonReviewSnippets_GroundTruth.txt").write_text(
        "".join(f"1_{i}\t{(i % 9) - 4:.1f}\ttext {i}\n" for i in range(50)))
    texts, score = D.load_vader_set(tmp_path, "amazon", max_rows=10, seed=0)
    again, _ = D.load_vader_set(tmp_path, "amazon", max_rows=10, seed=0)
    assert texts == again and len(texts) == 10 and np.all((score >= -4) & (score <= 4))


def test_intent_head_reads_vader_scores_so_it_needs_the_texts():
    """The recipe's head reads the embedding plus VADER's four scores: predicting without the texts is refused."""
    import pytest

    from callradar.models.intent import IntentModel
    from callradar.models.sentiment import vader_features
    from callradar.training.intent import fit_intent_head

    texts = ["get me your manager now", "this is useless and i am furious", "what time do you open", "thanks a lot"] * 5
    y = np.array([1, 1, 0, 0] * 5)
    emb = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)
    head = fit_intent_head(np.hstack([emb, vader_features(texts)]), y, C=1.0)
    model = IntentModel({"escalation": head}, {})
    p = model.predict(emb, texts)
    assert p.shape == (len(texts),) and p[:2].mean() > p[2:4].mean()
    with pytest.raises(ValueError, match="pass predict"):
        model.predict(emb)


def test_vader_set_labels_use_the_mean_rating():
    from callradar.training.sentiment import vader_set_labels

    sent, frus = vader_set_labels(np.array([-2.0, -0.5, 0.0, 0.49, 0.5, 3.1]))
    assert list(sent) == ["negative", "negative", "neutral", "neutral", "positive", "positive"]
    assert list(frus) == [1, 0, 0, 0, 0, 0]


def test_intent_recipe_reads_the_call_style_rows_its_bundled_head_was_trained_on():
    """`callradar train intent` must rebuild the bundled head from the same rows: the sentiment negation
    families stay out of it (they taught the logistic head that a negation raises intent)."""
    import json

    from callradar.training import intent as I

    rows = D.load_callstyle(negations=I.CALLSTYLE_NEGATIONS)
    card = json.loads((D.REPO_ROOT / "models" / "artifacts" / "intent" / "card.json").read_text())
    pinned = card["data"]["rows_by_source"][D.CALLSTYLE_SOURCE]
    assert (len(rows), sum(r["intent"] for r in rows)) == (pinned["rows"], pinned["positive"])
    kinds = {r["kind"] for r in rows}
    assert "negated_request" in kinds and not kinds & {"negated_calm", "negated_positive", "negated_negative"}
    assert len(D.load_callstyle()) > len(rows)  # the sentiment head still gets them
