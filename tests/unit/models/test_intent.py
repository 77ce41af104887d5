"""Escalation-intent head: loads offline, separates escalation from routine requests."""

import pytest

from callradar.models.encoder import load_encoder
from callradar.models.intent import IntentModel
from callradar.models.sentiment import ArtifactError


@pytest.fixture(scope="module")
def enc():
    return load_encoder("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def model(enc):
    return IntentModel.load(dim=enc.dim)


def test_loads_from_committed_artifacts(model):
    assert model.card["kind"] == "intent"
    assert model.card["metrics"]["heldout_auroc"] >= 0.97
    assert set(model.card["labels"]["positive_intents"]) >= {"contact_human_agent", "complaint"}


@pytest.mark.parametrize(
    "text",
    [
        "I want to speak to your supervisor right now",
        "I'm going to cancel my account",
        "i want to make a complaint about your service",
    ],
)
def test_high_for_escalation(enc, model, text):
    assert model.predict(enc.encode([text]), [text])[0] > 0.5


@pytest.mark.parametrize(
    "text", ["can you check my order status", "what time do you open on saturday", "thanks that's all i needed"]
)
def test_low_for_routine(enc, model, text):
    assert model.predict(enc.encode([text]), [text])[0] < 0.2


def test_ranks_asr_style_escalation_above_routine(enc, model):
    texts = ["get me a real person this bot is useless", "update my shipping address please"]
    p = model.predict(enc.encode(texts), texts)
    assert p[0] > p[1] + 0.3


def test_wrong_kind_refused():
    from callradar.models.sentiment import ARTIFACTS_DIR

    with pytest.raises(ArtifactError, match="expected 'intent'"):
        IntentModel.load(ARTIFACTS_DIR / "sentiment")


def test_asr_style_rewrite():
    from callradar.training.intent import asr_style

    assert asr_style("You aren't helping, can I speak with someone?") == "you aren't helping can i speak with someone"
