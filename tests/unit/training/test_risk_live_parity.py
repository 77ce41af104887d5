"""One feature code path: what training computes for a call is what the live score stage computes.

And the risk model's shrinkage and class balance: the transform training fits on is
the one the model file applies live.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import replace

import numpy as np
import pytest
from training_fakes import StubScorer

from callradar.models.call_features import CallState, features_for_call
from callradar.models.risk import RiskModel, shrink_weight
from callradar.pipeline.records import Utterance
from callradar.pipeline.stages.score import ScoreProcessor
from callradar.training.features import CallFeatures, call_features, prefix_labels, score_calls
from callradar.training.labelled_calls import CallUtterance, LabelledCall
from callradar.training.risk import SHRINK_COUNT, fit_risk_model


class EmbeddingStub(StubScorer):
    """The stub's scores plus an embedding that depends on the words (so a repeated request repeats)."""

    def score_batch(self, texts, speakers, batch_size=64):
        out = []
        for text, s in zip(texts, super().score_batch(texts, speakers, batch_size)):
            v = np.zeros(256, dtype=np.float32)
            for w in text.lower().replace(",", " ").replace("?", " ").split():
                v[zlib.crc32(w.encode()) % 256] += 1.0  # not hash(): that changes from run to run
            out.append(replace(s, embedding=v / max(1e-9, float(np.linalg.norm(v)))))
        return out


CALL = LabelledCall("c-1", utterances=[
    CallUtterance("agent", 0.0, 2.0, "hello, how can I help you?"),
    CallUtterance("customer", 2.5, 5.0, "the card was charged twice for my order", confidence=0.9),
    CallUtterance("agent", 5.5, 7.0, "sorry, could you repeat that?"),
    CallUtterance("customer", 7.5, 8.0, "T i", confidence=0.2),
    CallUtterance("customer", 8.5, 11.0, "no, I said the card was charged twice for my order", confidence=0.8),
    CallUtterance("customer", 11.5, 13.0, "damn it, I want a real person now", confidence=0.9),
    CallUtterance("agent", 13.5, 15.0, "please hold while I transfer you"),
], outcome="escalated", escalation_time=13.0)


def test_training_features_equal_the_live_score_stage_features():
    scorer = EmbeddingStub()
    training_rows = call_features([CALL], score_calls([CALL], scorer, progress=False))[0].rows
    processor = ScoreProcessor(scorer, RiskModel.load())
    live_rows = []
    for i, u in enumerate(CALL.utterances):
        processor.score([Utterance(f"c-1/{u.speaker}/{i}", "c-1", u.speaker, i, u.start, u.end, u.text,
                                   u.confidence if u.confidence is not None else 1.0, 0.0)], now=0.0)
        live_rows.append(processor.calls["c-1"].features())
    assert live_rows == training_rows
    last = training_rows[-1]
    assert last["cust_repeats"] == 1 and last["cust_corrections"] == 1 and last["agent_reasks"] == 1
    assert last["hold_transfer"] == 1 and last["cust_turns"] == 3  # "T i" is noise


def test_scores_carry_reasons_in_words():
    processor = ScoreProcessor(EmbeddingStub(), RiskModel.load())
    scores = processor.score([Utterance(f"c-2/customer/{i}", "c-2", "customer", i, 3.0 * i, 3.0 * i + 2, text, 0.9, 0.0)
                              for i, text in enumerate(["damn, the payment failed with an error",
                                                        "I want a real person now, a complaint"])], now=0.0)
    reasons = scores[-1].reasons
    assert reasons and all(isinstance(r["text"], str) and r["text"] and r["text"] != r["feature"] for r in reasons)
    assert json.loads(scores[-1].encode())["reasons"] == reasons


def synthetic_calls(n=60, seed=0):
    """Calls whose escalation shows in the call-so-far negativity; a noisy first utterance in every call."""
    rng = np.random.default_rng(seed)
    scorer = EmbeddingStub()
    calls = []
    for k in range(n):
        bad = k % 2 == 0
        utts, t = [], 0.0
        for i in range(6):
            angry = bad and rng.random() < 0.7 or (not bad and rng.random() < 0.15)
            text = "damn it the payment failed again today" if angry else f"the delivery of order {i} is fine"
            utts.append(CallUtterance("customer", t, t + 2.0, text))
            utts.append(CallUtterance("agent", t + 2.5, t + 4.0, "let me check that for you"))
            t += 5.0
        calls.append(LabelledCall(f"s-{k}", utterances=utts, outcome="escalated" if bad else "calm",
                                  escalation_time=t if bad else None))
    return call_features(calls, score_calls(calls, scorer, progress=False))


def test_the_shrinkage_training_fits_on_is_the_one_the_model_applies_live(capsys):
    cfs = synthetic_calls()
    model, details = fit_risk_model(cfs, features=("cust_neg_mean", "frustration_mean", "kw_complaint"),
                                    calibration="none", shrink_k=6.0, monotone=False)
    assert model.shrink == {"k": 6.0, "count": SHRINK_COUNT, "features": ("cust_neg_mean", "frustration_mean")}
    assert details["class_weight"] == "balanced"
    doc = model.to_dict()
    assert doc["schema"] == "callradar.risk/2"
    assert RiskModel.from_dict(json.loads(json.dumps(doc))).to_dict() == doc
    # By hand: shrink toward the stored mean, standardise, sum.
    row = cfs[0].rows[1]
    w = shrink_weight(row[SHRINK_COUNT], 6.0)
    z = model.intercept
    for name, c, m, s in zip(model.feature_names, model.coef, model.means, model.scales):
        x = m + (row[name] - m) * w if name in model.shrink["features"] else row[name]
        z += c * (x - m) / s
    assert model.predict(row).risk == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-9)
    # Early in a call the shrunk features move the risk less than the same values later would.
    assert shrink_weight(1, 6.0) < shrink_weight(10, 6.0) < 1


def test_the_old_keyword_arguments_still_work_and_unshrunk_models_keep_schema_1():
    cfs = synthetic_calls(30)
    model, details = fit_risk_model(cfs, horizon_s=20.0, calibration="platt", features=None, seed=1, prior=None,
                                    version="t-1", monotone=True, class_weight=None, shrink_k=0)
    assert model.shrink is None and model.to_dict()["schema"] == "callradar.risk/1"
    assert model.version == "t-1" and details["class_weight"] == "none"
    assert "intent_max" not in model.feature_names and "intent_count" not in model.feature_names


def test_a_model_with_a_bad_shrink_block_is_refused():
    cfs = synthetic_calls(30)
    model, _ = fit_risk_model(cfs, features=("cust_neg_mean",), calibration="none")
    doc = model.to_dict()
    for bad in ({"k": 0, "count": "cust_turns", "features": ["cust_neg_mean"]},
                {"k": 3, "count": "nope", "features": ["cust_neg_mean"]},
                {"k": 3, "count": "cust_turns", "features": ["duration_s"]}):
        with pytest.raises(ValueError, match="shrink"):
            RiskModel.from_dict({**doc, "shrink": bad})
    with pytest.raises(ValueError, match="schema"):
        RiskModel.from_dict({**doc, "schema": "callradar.risk/1"})  # an older reader must not ignore shrink


def test_prefix_rows_used_for_shrinkage_line_up_with_labels():
    cf = synthetic_calls(2)[0]
    keep = prefix_labels(cf, 20.0) >= 0
    assert isinstance(cf, CallFeatures) and len(cf.matrix([SHRINK_COUNT])[keep]) == int(keep.sum())
    assert features_for_call([]) == [] and CallState().features()[SHRINK_COUNT] == 0.0
