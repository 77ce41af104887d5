"""Sentiment heads: load offline from the committed artifacts, rank sensibly, refuse bad files."""

import json
import shutil

import numpy as np
import pytest

from callradar.models.encoder import load_encoder
from callradar.models.sentiment import ARTIFACTS_DIR, ArtifactError, LinearHead, SentimentModel, load_heads, save_heads
from callradar.models.types import SENTIMENT_LABELS

NEGATIVE = [
    "This is the worst service I have ever had, I'm furious.",
    "i am so angry nobody has fixed my problem",
    "You people are useless and I hate dealing with you.",
    "my refund still hasn't arrived and i'm really upset",
]
POSITIVE = [
    "Thank you so much, that was really helpful!",
    "great thanks you've been amazing",
    "I love how quickly you sorted this out.",
    "perfect that's exactly what i needed, have a lovely day",
]


@pytest.fixture(scope="module")
def enc():
    return load_encoder("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def model(enc):
    return SentimentModel.load(dim=enc.dim)


def test_loads_from_committed_artifacts(model):
    card = model.card
    assert card["kind"] == "sentiment" and len(card["data"]["sha256"]) == 64
    assert card["metrics"]["test_macro_f1"] > 0.55
    assert (ARTIFACTS_DIR / "sentiment" / "model_card.md").exists()


def test_negative_ranks_below_positive(enc, model):
    texts = NEGATIVE + POSITIVE
    preds = model.predict(enc.encode(texts), texts)
    polarity = [s["positive"] - s["negative"] for _, s, _ in preds]
    assert max(polarity[: len(NEGATIVE)]) < min(polarity[len(NEGATIVE) :])
    assert all(label == "negative" for label, _, _ in preds[: len(NEGATIVE)])
    assert all(label == "positive" for label, _, _ in preds[len(NEGATIVE) :])


def test_output_format_and_frustration(enc, model):
    texts = ["This is ridiculous, I'm sick of your excuses", "what time do you open"]
    preds = model.predict(enc.encode(texts), texts)
    for label, scores, frustration in preds:
        assert label in SENTIMENT_LABELS and list(scores) == list(SENTIMENT_LABELS)
        assert abs(sum(scores.values()) - 1) < 1e-5 and 0 <= frustration <= 1
    assert preds[0][2] > 0.5 > preds[1][2]


@pytest.fixture
def copy_dir(tmp_path):
    dst = tmp_path / "sentiment"
    shutil.copytree(ARTIFACTS_DIR / "sentiment", dst)
    return dst


def test_corrupt_weights_refused(copy_dir):
    w = copy_dir / "heads.safetensors"
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupt or was replaced"):
        SentimentModel.load(copy_dir)


def test_pickle_in_place_of_weights_refused_even_with_matching_hash(copy_dir):
    import hashlib
    import pickle

    w = copy_dir / "heads.safetensors"
    w.write_bytes(pickle.dumps({"coef": [1, 2, 3]}))
    card = json.loads((copy_dir / "card.json").read_text())
    card["weights_sha256"] = hashlib.sha256(w.read_bytes()).hexdigest()
    (copy_dir / "card.json").write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="unreadable safetensors"):
        SentimentModel.load(copy_dir)


def test_bad_card_and_wrong_kind_and_dim(copy_dir):
    with pytest.raises(ArtifactError, match="expected 'sentiment'"):
        SentimentModel.load(ARTIFACTS_DIR / "intent")
    with pytest.raises(ArtifactError, match="expects 384-d embeddings, the encoder gives 768"):
        SentimentModel.load(copy_dir, dim=768)
    (copy_dir / "card.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        SentimentModel.load(copy_dir)
    with pytest.raises(ArtifactError, match="needs card.json"):
        SentimentModel.load(copy_dir / "nowhere")


def test_save_load_roundtrip(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    y = np.array(SENTIMENT_LABELS)[rng.integers(0, 3, 60)]
    clf = LogisticRegression().fit(x, y)
    head = LinearHead.from_sklearn(clf, "softmax", list(clf.classes_))
    save_heads(tmp_path, "toy", {"h": head}, {"note": "test"})
    heads, card = load_heads(tmp_path, "toy", dim=8)
    assert np.allclose(heads["h"](x), clf.predict_proba(x), atol=1e-5)
    assert card["note"] == "test"


def test_label_reduction_rules():
    from callradar.training.sentiment import reduce_labels, single_label

    assert reduce_labels(["anger", "neutral"]) == "negative"
    assert reduce_labels(["joy", "love"]) == "positive"
    assert reduce_labels(["curiosity"]) == "neutral"
    assert reduce_labels(["joy", "anger"]) is None
    assert single_label(["joy", "love"]) is None and single_label(["grief"]) == "negative"


def test_call_style_set_scores_sensibly(enc, model):
    """The hand-written call-style set (never trained on) loads and its clearest cases land right.

    Known miss, not asserted: an agent's "im sorry for the trouble" still reads negative (see the model card).
    """
    from callradar.training.sentiment import load_call_style

    texts, labels = load_call_style()
    assert len(texts) >= 50 and set(labels) == set(SENTIMENT_LABELS)
    preds = dict(zip(texts, model.predict(enc.encode(texts), texts)))
    assert preds["thanks that sorted it"][0] == "positive"
    assert preds["im fed up with this you keep getting it wrong"][0] == "negative"


def test_text_features_need_texts_and_roundtrip(tmp_path):
    from callradar.models.sentiment import VADER_FEATURES, vader_features

    rng = np.random.default_rng(0)
    texts = ["great thanks", "this is awful", "what time is it"] * 20
    x = rng.normal(size=(60, 8)).astype(np.float32)
    head = LinearHead(rng.normal(size=(3, 12)).astype(np.float32), np.zeros(3, np.float32),
                      list(SENTIMENT_LABELS), "softmax", list(VADER_FEATURES))
    save_heads(tmp_path, "toy", {"h": head}, {})
    heads, _ = load_heads(tmp_path, "toy", dim=8)
    assert heads["h"].extra_features == list(VADER_FEATURES)
    expected = head(np.hstack([x, vader_features(texts)]))
    assert np.allclose(heads["h"](heads["h"].inputs(x, texts)), expected, atol=1e-6)
    with pytest.raises(ValueError, match="pass predict\\(embeddings, texts\\)"):
        heads["h"].inputs(x)
    with pytest.raises(ArtifactError, match="expects 8-d embeddings, the encoder gives 12"):
        load_heads(tmp_path, "toy", dim=12)
    # typed text and ASR output give the same VADER features
    assert np.allclose(vader_features(["Great, thanks!!"]), vader_features(["great thanks"]))


def test_hidden_layer_head_roundtrip_and_checks(tmp_path):
    """A one-hidden-layer head (what an MLP sentiment head is saved as) runs as numpy and survives a save/load."""
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8)).astype(np.float32)
    w1, b1 = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    w2, b2 = rng.normal(size=(3, 5)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    head = LinearHead(w2, b2, list(SENTIMENT_LABELS), "softmax", [], w1, b1)
    z = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(head(x), expected, atol=1e-5)

    save_heads(tmp_path, "toy", {"h": head}, {})
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["heads"]["h"]["hidden"] == {"units": 5, "activation": "relu"}
    heads, _ = load_heads(tmp_path, "toy", dim=8)
    assert np.allclose(heads["h"](x), expected, atol=1e-5)
    with pytest.raises(ArtifactError, match="expects 8-d embeddings, the encoder gives 12"):
        load_heads(tmp_path, "toy", dim=12)

    # A card that names a hidden layer the weights do not have, or one of another shape, is refused.
    tensors = load_file(str(tmp_path / "heads.safetensors"))
    tensors["h.hidden.coef"] = tensors["h.hidden.coef"][:4]
    save_file(tensors, str(tmp_path / "heads.safetensors"), metadata={"kind": "toy"})
    import hashlib

    card["weights_sha256"] = hashlib.sha256((tmp_path / "heads.safetensors").read_bytes()).hexdigest()
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="hidden layer has shape \\(4, 8\\), expected \\(5, dim\\)"):
        load_heads(tmp_path, "toy")
    card["heads"]["h"]["hidden"] = {"units": 5, "activation": "tanh"}
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="hidden layer this code cannot run"):
        load_heads(tmp_path, "toy")


def test_mlp_training_folds_seeds_and_scaling_into_one_head():
    """callradar.training.sentiment._fit_mlp: the saved head reads raw features and gives the seeds' mean logits."""
    from callradar.training.sentiment import _fit_head

    rng = np.random.default_rng(1)
    centres = np.array([[-6.0, 0, 10], [0, 6.0, 10], [6.0, 0, 10]])
    y = np.array(SENTIMENT_LABELS)[rng.integers(0, 3, 600)]
    x = (centres[[list(SENTIMENT_LABELS).index(v) for v in y]] + rng.normal(size=(600, 3))).astype(np.float32)
    x[:, 2] *= 100.0  # an unscaled, uninformative column: standardisation must live inside the head
    spec = {"model": "mlp", "hidden": 8, "dropout": 0.0, "weight_decay": 0.0, "epochs": 200, "class_weight": None}
    head = _fit_head(x, y, spec, [], seed=0)
    assert head.hidden_coef.shape == (8 * 5, 3) and head.coef.shape == (3, 8 * 5)
    acc = (np.array(SENTIMENT_LABELS)[head(x).argmax(1)] == y).mean()
    assert acc > 0.98  # without the scaling folded in, the 1000-scale column would swamp the others
