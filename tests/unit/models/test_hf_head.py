"""A Hugging Face sequence-classification model replacing the sentiment or intent head.

The models are tiny BERTs built here and saved to a temp folder, so the test
runs offline. Their classifier layer is set by hand (zero weights, one large
bias) so the expected output is known exactly and the label mapping is what
is tested, not the model.
"""

import math

import pytest

from callradar.models.hf_head import HFClassifier, HFSpec, intent_positive_labels, sentiment_mapping
from callradar.models.registry import parse_model_version
from callradar.models.sentiment import ArtifactError
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.score import load_models

WORDS = "i want to speak your supervisor thank you so much this is great my bill the cancel account".split()


def tiny_classifier(folder, id2label: dict[int, str], favourite: int):
    """Save a 1-layer, 16-d BERT classifier that always prefers label ``favourite``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=len(id2label),
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[favourite] = 4.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def expected_p(n_labels: int, bias: float = 4.0) -> float:
    return math.exp(bias) / (math.exp(bias) + n_labels - 1)


TEXTS = ["thank you so much this is great", "i want to speak to your supervisor", "my bill"]
SPEAKERS = ["customer", "customer", "agent"]


def test_sentiment_labels_are_mapped_from_id2label(tmp_path):
    # Shuffled and differently spelled labels: the mapping must go by name, not by position.
    folder = tiny_classifier(tmp_path / "sent", {0: "POS", 1: "Negative", 2: "neu"}, favourite=1)
    settings = load_settings({}, models_dir=tmp_path / "reg", sentiment_model=str(folder))
    models = load_models(settings)
    assert parse_model_version(models.version)["sentiment"] == "hf:sent"
    out = models.text_scorer.score_batch(TEXTS, SPEAKERS)
    for s in out:
        assert s.sentiment == "negative"
        assert s.sentiment_scores["negative"] == pytest.approx(expected_p(3), abs=1e-5)
        assert sum(s.sentiment_scores.values()) == pytest.approx(1.0)
        assert 0 <= s.frustration <= 1  # still the linear frustration head
    assert out[1].intent > 0.9  # intent is still the bundled head (+ keywords)


def test_intent_model_replaces_the_intent_head(tmp_path):
    folder = tiny_classifier(tmp_path / "int", {0: "LABEL_0", 1: "LABEL_1"}, favourite=0)
    settings = load_settings({}, models_dir=tmp_path / "reg", intent_model=str(folder))
    models = load_models(settings)
    assert parse_model_version(models.version)["intent"] == "hf:int"
    agent = models.text_scorer.score("my bill", "agent")  # agents get the head's own probability
    assert agent.intent == pytest.approx(1 - expected_p(2), abs=1e-5)  # LABEL_1 means escalation


def test_named_intent_labels_and_override(tmp_path):
    labels = ["other", "contact_human_agent", "complaint"]
    with pytest.raises(ArtifactError, match="CALLRADAR_INTENT_MODEL_LABELS"):
        intent_positive_labels(labels)
    assert intent_positive_labels(labels, "contact_human_agent, complaint") == ["contact_human_agent", "complaint"]
    assert intent_positive_labels(["neutral", "Escalation"]) == ["Escalation"]
    with pytest.raises(ArtifactError, match="no label"):
        intent_positive_labels(labels, "refund")


def test_sentiment_mapping_rules():
    assert sentiment_mapping(["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]) == {
        "1 star": "negative", "2 stars": "negative", "3 stars": "neutral", "4 stars": "positive", "5 stars": "positive"}
    assert sentiment_mapping(["NEGATIVE", "POSITIVE"]) == {"NEGATIVE": "negative", "POSITIVE": "positive"}
    with pytest.raises(ArtifactError, match=r"set CALLRADAR_SENTIMENT_MODEL_LABELS, e\.g\. \"LABEL_0=\.\.\."):
        sentiment_mapping(["LABEL_0", "LABEL_1", "LABEL_2"])
    mapping = sentiment_mapping(["LABEL_0", "LABEL_1", "LABEL_2"], "LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive")
    assert mapping["LABEL_2"] == "positive"
    with pytest.raises(ArtifactError, match="targets must be"):
        sentiment_mapping(["LABEL_0", "LABEL_1"], "LABEL_0=angry,LABEL_1=positive")
    with pytest.raises(ArtifactError, match=r"maps no label to \['positive'\]"):
        sentiment_mapping(["negative", "neutral"])


def test_override_setting_through_the_scorer(tmp_path):
    folder = tiny_classifier(tmp_path / "sent", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, favourite=2)
    settings = load_settings({}, models_dir=tmp_path / "reg", sentiment_model=str(folder),
                             sentiment_model_labels="LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive")
    assert load_models(settings).text_scorer.score("this is great").sentiment == "positive"


def test_pickle_only_weights_are_refused(tmp_path):
    folder = tiny_classifier(tmp_path / "pickled", {0: "negative", 1: "neutral", 2: "positive"}, favourite=0)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ArtifactError, match=r"no \.safetensors weights; pickled weights .* are refused"):
        HFClassifier(HFSpec("sentiment", str(folder)))


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ArtifactError, match=r"CALLRADAR_SENTIMENT_MODEL='.*nowhere': cannot find"):
        HFClassifier(HFSpec("sentiment", str(tmp_path / "nowhere")))
