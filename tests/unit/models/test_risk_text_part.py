"""The pooled embeddings in the call state and the risk model's text part (schema callradar.risk/3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from callradar.models.call_features import POOLED, CallState, features_for_call
from callradar.models.risk import DEFAULT_RISK_DIR, SCHEMA_TEXT, TEXT_FEATURE, RiskModel, RiskModelError
from callradar.models.types import ScoredUtterance, TextScores

DIM = 8
WORDS = "the account number follows here"  # five words: never a noise fragment


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def utt(speaker, start, embedding, text=WORDS, confidence=None):
    scores = TextScores("neutral", {"negative": 0.1, "neutral": 0.8, "positive": 0.1}, 0.0, 0.0, (), 0.0, embedding)
    return ScoredUtterance(speaker, start, start + 2.0, text, scores, confidence)


def call():
    return [utt("agent", 0, unit(1)), utt("customer", 3, unit(2)), utt("customer", 6, unit(3), text="T i"),
            utt("agent", 9, unit(4)), utt("customer", 12, unit(5)), utt("customer", 15, None),
            utt("agent", 18, unit(6), text="Okay.", confidence=0.3), utt("customer", 21, unit(7))]


def test_running_means_equal_the_batch_mean_of_each_side_without_noise_fragments():
    state = CallState()
    assert state.pooled_embeddings() is None  # nothing embedded yet
    state.add(call()[0])
    agent_only = state.pooled_embeddings()
    assert agent_only.dtype == np.float32 and agent_only[:DIM].tolist() == [0.0] * DIM  # the customer has not spoken
    for u in call()[1:]:
        state.add(u)
    customer = np.mean([unit(2), unit(5), unit(7)], axis=0)  # "T i" is noise, one has no embedding
    agent = np.mean([unit(1), unit(4)], axis=0)  # "Okay." at confidence 0.3 is noise
    np.testing.assert_allclose(state.pooled_embeddings(), np.concatenate([customer, agent]), atol=1e-6)
    assert set(state.features()) == set(state.features(pooled=True)) - {POOLED}


def test_snapshot_and_restore_keep_the_running_sums_exactly_and_stay_small():
    whole = CallState()
    for u in call():
        whole.add(u)
    for cut in range(len(call()) + 1):
        first = CallState()
        for u in call()[:cut]:
            first.add(u)
        text = json.dumps(first.snapshot())
        restored = CallState.restore(json.loads(text))
        for u in call()[cut:]:
            restored.add(u)
        a, b = restored.pooled_embeddings(), whole.pooled_embeddings()
        assert a.tobytes() == b.tobytes(), cut
        assert restored.features() == whole.features(), cut
    sums = json.dumps(whole.snapshot()["_emb_sum"])
    assert len(sums) < 2 * (4 * DIM * 4 // 3 + 40)  # two base64 float32 vectors, not lists of decimals


def test_a_snapshot_from_before_the_pooled_sums_still_restores():
    state = CallState()
    for u in call()[:3]:
        state.add(u)
    old = {k: v for k, v in state.snapshot().items() if k not in ("_emb_sum", "_emb_n")}
    restored = CallState.restore(json.loads(json.dumps(old)))
    assert restored.features() == state.features() and restored.pooled_embeddings() is None


def test_the_bundled_schema_2_file_loads_and_scores_exactly_as_before():
    doc = json.loads((DEFAULT_RISK_DIR / "model.json").read_text())
    model = RiskModel.load(DEFAULT_RISK_DIR)
    assert doc["schema"] == "callradar.risk/2" and model.text_part is None
    assert model.to_dict() == doc  # written back unchanged: no text part, no /3
    rows = features_for_call(call(), pooled=True)
    for row in rows:
        plain = {k: v for k, v in row.items() if k != POOLED}
        assert model.predict(row) == model.predict(plain)


def text_model(coef=None, intercept=-0.5):
    base = RiskModel.load(DEFAULT_RISK_DIR).to_dict()
    coef = [0.0] * (2 * DIM) if coef is None else coef
    return {**base, "schema": SCHEMA_TEXT, "feature_names": [*base["feature_names"], TEXT_FEATURE],
            "coef": [*base["coef"], 1.5], "means": [*base["means"], 0.3], "scales": [*base["scales"], 0.2],
            "shrink": {**base["shrink"], "features": [*base["shrink"]["features"], TEXT_FEATURE]},
            "text_part": {"input": POOLED, "encoder": "toy", "coef": coef, "intercept": intercept}}


def test_the_text_part_scores_the_pooled_embeddings_and_gives_a_reason_in_words(tmp_path):
    coef = [3.0] * DIM + [0.0] * DIM  # reads the customer half only
    model = RiskModel.from_dict(text_model(coef))
    state = CallState()
    for u in call():
        state.add(u)
    features = state.features(pooled=True)
    expected = 1 / (1 + np.exp(-(3.0 * float(state.pooled_embeddings()[:DIM].astype(np.float64).sum()) - 0.5)))
    assert model.text_score(features) == pytest.approx(expected, abs=1e-9)
    assert model.text_score({**features, POOLED: None}) == pytest.approx(1 / (1 + np.exp(0.5)))  # nothing said yet
    saved = RiskModel.load(model.save(tmp_path / "m"))
    assert saved.to_dict() == model.to_dict() and saved.to_dict()["schema"] == SCHEMA_TEXT
    assert saved.predict(features).risk == model.predict(features).risk
    said = {**features, POOLED: np.full(2 * DIM, 0.1, np.float32)}
    high, low = model.predict(said), model.predict({**features, POOLED: np.full(2 * DIM, -0.1, np.float32)})
    assert high.risk > low.risk
    words = [r for r in high.reasons if r["feature"] == TEXT_FEATURE]
    assert words and words[0]["text"] == f"what was said resembles escalated calls ({model.text_score(said):.2f})"
    assert words[0]["text"].endswith("(0.87)")  # sigmoid(3 * 0.8 - 0.5)


def test_the_text_part_refuses_inputs_it_cannot_read():
    model = RiskModel.from_dict(text_model())
    features = features_for_call(call(), pooled=True)[-1]
    with pytest.raises(ValueError, match="pooled_embeddings"):
        model.predict({k: v for k, v in features.items() if k != POOLED})
    with pytest.raises(ValueError, match="another encoder"):
        model.predict({**features, POOLED: np.zeros(DIM, np.float32)})


@pytest.mark.parametrize("change, message", [
    (lambda d: {**d, "schema": "callradar.risk/2"}, "text_part has schema"),
    (lambda d: {k: v for k, v in d.items() if k != "text_part"}, "text_part has schema"),
    (lambda d: {**d, "text_part": {**d["text_part"], "coef": [0.1] * 3}}, "customer then agent half"),
    (lambda d: {**d, "text_part": {**d["text_part"], "input": "tfidf"}}, "input"),
    (lambda d: {**d, "text_part": {**d["text_part"], "coef": [float("inf")] * 16}}, "finite"),
])
def test_bad_text_parts_are_refused_naming_the_problem(change, message):
    with pytest.raises(RiskModelError, match=message):
        RiskModel.from_dict(change(text_model()))


def test_the_text_feature_exists_only_with_a_text_part():
    doc = text_model()
    doc = {k: v for k, v in doc.items() if k != "text_part"}
    with pytest.raises(RiskModelError, match=TEXT_FEATURE):
        RiskModel.from_dict({**doc, "schema": "callradar.risk/2"})
