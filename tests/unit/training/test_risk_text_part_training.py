"""The risk model's text part in training: it learns what separable embeddings say, auto refuses noise,
the report names the choice, and the live score stage computes what training computed."""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import replace

import numpy as np
import pytest
from training_fakes import StubScorer

from callradar.models.risk import SCHEMA_TEXT, TEXT_FEATURE, RiskModel
from callradar.pipeline.records import Utterance
from callradar.pipeline.stages.score import ScoreProcessor
from callradar.training.features import call_features, score_calls
from callradar.training.labelled_calls import CallUtterance, LabelledCall
from callradar.training.risk import choose_text_part, fit_risk_model, summary_lines, train_risk

DIM = 32


class ToyScorer(StubScorer):
    """The stub's word-rule scores plus an embedding: of the words (bag of words) or pure noise."""

    def __init__(self, embedding: str = "words"):
        self.embedding = embedding

    def score_batch(self, texts, speakers, batch_size=64):
        out = []
        for text, s in zip(texts, super().score_batch(texts, speakers, batch_size)):
            if self.embedding == "noise":  # the same text, the same vector; nothing to do with the outcome
                v = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM).astype(np.float32)
            else:
                v = np.zeros(DIM, dtype=np.float32)
                for w in text.lower().split():
                    v[zlib.crc32(w.encode()) % DIM] += 1.0
            out.append(replace(s, embedding=v / max(1e-9, float(np.linalg.norm(v)))))
        return out


def toy_calls(n: int, seed: int, signal: str) -> list[LabelledCall]:
    """``signal="words"``: escalated customers say "alpha", calm ones "beta" (no word rule reads either);
    ``signal="rules"``: the word rules see trouble ("damn") in 70 % of escalated and 30 % of calm calls."""
    rng = random.Random(seed)
    calls = []
    for i in range(n):
        escalated = i % 3 == 0
        customer = []
        for k in range(3):
            filler = f"order {rng.randrange(10_000)} item {rng.randrange(10_000)}"
            if signal == "words":
                customer.append(f"{filler} {'alpha' if escalated else 'beta'} {rng.choice(['one', 'two', 'three'])}")
            else:
                trouble = rng.random() < (0.7 if escalated else 0.3) and k == 1
                customer.append(f"{'damn it ' if trouble else ''}{filler} please")
        utts, t = [], 0.0
        for speaker, text in [("agent", "hello how can I help"), ("customer", customer[0]),
                              ("agent", "let me check that for you"), ("customer", customer[1]),
                              ("customer", customer[2])]:
            utts.append(CallUtterance(speaker, t, t + 2.0, text))
            t += 2.5
        calls.append(LabelledCall(f"{signal}-{seed}-{i}", "escalated" if escalated else "calm", utts, source="toy"))
    return calls


def features(calls, scorer):
    return call_features(calls, score_calls(calls, scorer, progress=False))


def call_auroc(model, cfs) -> float:
    from sklearn.metrics import roc_auc_score

    y = [cf.call.outcome == "escalated" for cf in cfs]
    return roc_auc_score(y, [max(model.predict(r).risk for r in cf.model_inputs()) for cf in cfs])


def test_the_text_part_learns_separable_embeddings_the_readable_features_cannot_see(capsys):
    scorer = ToyScorer("words")
    train, test = features(toy_calls(120, 0, "words"), scorer), features(toy_calls(60, 1, "words"), scorer)
    without, _ = fit_risk_model(train, version="off")
    with_, details = fit_risk_model(train, version="on", text_part=True, encoder="toy")
    assert without.text_part is None and with_.text_part["encoder"] == "toy"
    assert with_.to_dict()["schema"] == SCHEMA_TEXT and len(with_.text_part["coef"]) == 2 * DIM
    assert details["text_part"]["C"] in {float(c) for c in details["text_part"]["cv_prefix_auroc_by_C"]}
    assert call_auroc(with_, test) > 0.95 > 0.6 > call_auroc(without, test)
    weight = dict(zip(with_.feature_names, with_.coef))[TEXT_FEATURE]
    assert weight > 0
    escalated = next(cf for cf in test if cf.call.outcome == "escalated")
    reasons = with_.predict(escalated.model_inputs()[-1]).reasons
    assert reasons[0]["feature"] == TEXT_FEATURE and "resembles escalated calls" in reasons[0]["text"]


def test_auto_takes_the_text_part_when_cv_shows_the_gain():
    cfs = features(toy_calls(150, 2, "words"), ToyScorer("words"))
    choice = choose_text_part(cfs, "auto", seed=0, fit_kwargs={}, min_calls=150)  # 150: a quicker test
    assert choice["chosen"] and choice["cv_gain"] >= 0.01
    assert choice["cv"]["on"]["auroc"] > 0.95 and "with the text part" in choice["why"]


def test_auto_refuses_noise_embeddings_and_too_few_calls():
    cfs = features(toy_calls(300, 3, "rules"), ToyScorer("noise"))
    choice = choose_text_part(cfs[:150], "auto", seed=0, fit_kwargs={}, min_calls=150)  # 150: a quicker test
    assert not choice["chosen"] and choice["cv_gain"] < 0.01
    assert choice["cv"]["off"]["auroc"] > 0.6  # the word rules do carry the signal
    few = choose_text_part(cfs[:299], "auto", seed=0, fit_kwargs={})  # the default minimum: 300
    assert not few["chosen"] and "cv" not in few and "at least 300" in few["why"]
    assert choose_text_part(cfs, "off", seed=0, fit_kwargs={})["chosen"] is False
    corpus = choose_text_part(cfs, "auto", seed=0, fit_kwargs={}, corpus=True)  # a `callradar corpus build` file
    assert not corpus["chosen"] and "learn the generator" in corpus["why"] and "cv" not in corpus
    assert choose_text_part(cfs[:50], "on", seed=0, fit_kwargs={})["chosen"] is True


def test_auto_without_embeddings_is_off_and_on_is_refused():
    from callradar.pipeline.errors import UserError

    cfs = features(toy_calls(40, 4, "rules"), StubScorer())
    assert all(cf.pooled is None for cf in cfs)
    assert "no utterance embeddings" in choose_text_part(cfs, "auto", seed=0, fit_kwargs={})["why"]
    with pytest.raises(UserError, match="no utterance embeddings"):
        choose_text_part(cfs, "on", seed=0, fit_kwargs={})


def write_jsonl(path, calls):
    path.write_text("".join(json.dumps({"call_id": c.call_id, "outcome": c.outcome, "source": c.source,
                                        "utterances": [{"speaker": u.speaker, "start": u.start, "end": u.end,
                                                        "text": u.text} for u in c.utterances]}) + "\n"
                            for c in calls))
    return path


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_train_risk_reports_which_was_chosen_and_why(tmp_path, mode):
    train = write_jsonl(tmp_path / "train.jsonl", toy_calls(90, 5, "words"))
    test = write_jsonl(tmp_path / "test.jsonl", toy_calls(45, 6, "words"))
    card = train_risk(train, tmp_path / "m", scorer=ToyScorer("words"), test_path=test, version="risk-toy",
                      progress=False, curve_seeds=1, curve_sizes=(30, 60), text_part=mode)
    tp = card["text_part"]
    lines = "\n".join(summary_lines(card))
    md = (tmp_path / "m" / "model_card.md").read_text()
    assert "## Text part" in md
    model = RiskModel.load(tmp_path / "m")
    if mode == "auto":  # 90 calls: too few for auto
        assert not tp["chosen"] and "auto needs at least 300" in tp["why"] and model.text_part is None
        assert "text part (what the words say, from pooled utterance embeddings): off, --text-part auto" in lines
    else:
        assert tp["chosen"] and model.text_part is not None and TEXT_FEATURE in model.feature_names
        assert "text part (what the words say, from pooled utterance embeddings): on, --text-part on" in lines
        assert tp["heldout"]["with"]["auroc"] > tp["heldout"]["without"]["auroc"]
        assert "held-out calls: call AUROC with / without it" in lines
        assert [p["calls"] for p in tp["learning_curve_other"]] == [p["calls"] for p in card["learning_curve"]]
        assert card["heldout_comparison"]["new"]["auroc"] == tp["heldout"]["with"]["auroc"]


def test_the_live_score_stage_computes_the_text_part_as_training_did():
    scorer = ToyScorer("words")
    cfs = features(toy_calls(60, 7, "words"), scorer)
    model, _ = fit_risk_model(cfs, version="on", text_part=True, encoder="toy")
    processor = ScoreProcessor(scorer, model)
    cf = cfs[0]
    live = []
    for i, u in enumerate(cf.call.utterances):
        live += processor.score([Utterance(f"c/{u.speaker}/{i}", "c", u.speaker, i, u.start, u.end, u.text, 1.0, 0.0)],
                                now=0.0)
    offline = [model.predict(r) for r in cf.model_inputs()]
    assert [s.risk for s in live] == [round(r.risk, 4) for r in offline]
    assert [s.reasons for s in live] == [r.reasons for r in offline]
