"""Risk model: the bundled prior separates calm from escalating calls; bad files are refused."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest

from callradar.models.call_features import FEATURE_NAMES, features_for_call
from callradar.models.registry import Registry, load_risk_model
from callradar.models.risk import DEFAULT_RISK_DIR, PRIOR_RISK_DIR, RiskModel, RiskModelError
from callradar.models.types import KeywordHit, ScoredUtterance, TextScores

SENTIMENT = {
    "negative": {"negative": 0.8, "neutral": 0.15, "positive": 0.05},
    "neutral": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
    "positive": {"negative": 0.05, "neutral": 0.25, "positive": 0.7},
}


def utt(speaker, start, end, sentiment="neutral", frus=0.05, intent=0.02, kws=(), empathy=0.0,
        text="the account number follows"):
    hits = tuple(KeywordHit(c, c, c) for c in kws)
    scores = TextScores(sentiment, SENTIMENT[sentiment], frus, intent, hits, empathy)
    return ScoredUtterance(speaker, start, end, text, scores)


def calm_call(turns=30):
    """A long, friendly call: neutral or positive customer, an agent who empathises now and then."""
    out, t = [], 0.0
    for i in range(turns):
        out.append(utt("agent", t, t + 4, empathy=0.6 if i % 4 == 0 else 0.0))
        out.append(utt("customer", t + 4.5, t + 7.5, "positive" if i % 3 == 0 else "neutral"))
        t += 8
    return out


def escalating_call():
    """The customer gets more and more frustrated, then asks for a supervisor."""
    out, t = [utt("agent", 0, 3)], 3.5
    for i in range(3):
        out.append(utt("customer", t, t + 4, "negative", frus=0.5 + 0.08 * i, intent=0.2))
        out.append(utt("agent", t + 4.5, t + 7.5))
        t += 8
    out.append(utt("customer", t, t + 4, "negative", frus=0.8, intent=0.9, kws=["supervisor_request"]))
    return out


@pytest.fixture(scope="module")
def prior():
    return RiskModel.load(PRIOR_RISK_DIR)  # the hand-set baseline; the bundled default is trained


def risks(model, call):
    return [model.predict(f).risk for f in features_for_call(call)]


def test_bundled_prior_loads_and_says_what_it_is(prior):
    assert prior.version == "prior-2"
    assert prior.kind == "prior"
    assert prior.feature_names == FEATURE_NAMES[: len(prior.feature_names)] and len(prior.feature_names) == 22
    card = json.loads((PRIOR_RISK_DIR / "card.json").read_text())
    assert card["version"] == "prior-2" and card["trained"] is False
    assert "PRIOR" in (PRIOR_RISK_DIR / "model_card.md").read_text()


def test_calm_call_stays_well_below_rearm(prior):
    values = risks(prior, calm_call())
    assert max(values) < 0.2  # the re-arm threshold is 0.4


def test_escalation_request_with_negative_sentiment_crosses_alert(prior):
    values = risks(prior, escalating_call())
    assert values[-1] >= 0.6
    assert max(values[:-1]) < 0.6, "the negative build-up alone (3 utterances) should not alert yet"
    reading = prior.predict(features_for_call(escalating_call())[-1])
    assert reading.model_version == "prior-2"
    assert reading.reasons[0]["feature"] == "kw_supervisor_request"


@pytest.mark.parametrize("category", ["supervisor_request", "cancellation", "legal_threat"])
def test_explicit_request_alone_with_negative_sentiment_is_high(prior, category):
    call = [utt("agent", 0, 3), utt("customer", 3.5, 7, "negative", frus=0.6, intent=0.8, kws=[category])]
    assert risks(prior, call)[-1] >= 0.8


def test_a_long_negative_frustrated_run_raises_risk_step_by_step(prior):
    call, t = [], 0.0
    for i in range(6):
        call.append(utt("customer", t, t + 4, "negative", frus=0.5 + 0.06 * i, intent=0.2))
        t += 5
    values = risks(prior, call)
    assert values == sorted(values)
    assert values[0] < 0.4 < 0.6 < values[-1]


def test_agent_empathy_lowers_risk_slightly(prior):
    base = [utt("customer", 0, 4, "negative", frus=0.5), utt("agent", 4.5, 8),
            utt("customer", 8.5, 12, "negative", frus=0.5)]
    kind = [base[0], utt("agent", 4.5, 8, empathy=0.9), base[2]]
    plain, warm = risks(prior, base)[-1], risks(prior, kind)[-1]
    assert warm < plain < warm + 0.12


def test_reasons_are_top_three_positive_strongest_first(prior):
    reading = prior.predict(features_for_call(escalating_call())[-1])
    assert 1 <= len(reading.reasons) <= 3
    contributions = [r["contribution"] for r in reading.reasons]
    assert contributions == sorted(contributions, reverse=True)
    assert all(c > 0 for c in contributions)
    assert set(reading.reasons[0]) == {"feature", "value", "contribution", "text"}
    assert reading.reasons[0]["text"] == "asked for a manager"  # words, not the feature id
    calm = prior.predict(features_for_call(calm_call())[-1])
    assert all(r["contribution"] > 0 for r in calm.reasons)


def test_missing_or_non_finite_feature_is_an_error(prior):
    features = features_for_call(calm_call(2))[-1]
    with pytest.raises(ValueError, match="cust_neg_ewma"):
        prior.predict({k: v for k, v in features.items() if k != "cust_neg_ewma"})
    with pytest.raises(ValueError, match="overlap_s"):
        prior.predict({**features, "overlap_s": float("nan")})


# ------------------------------------------------------------ a trained model, same schema


def trained_doc(**changes):
    names = ["kw_supervisor_request", "cust_neg_ewma"]  # a subset, in its own order, is fine
    doc = {"schema": "callradar.risk/1", "version": "2024-06-01-abc", "kind": "trained",
           "feature_names": names, "coef": [2.0, 1.0], "means": [0.0, 0.0], "scales": [1.0, 0.5],
           "intercept": -1.0, "calibration": {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.1, 0.9]}}
    doc.update(changes)
    return doc


def test_trained_model_with_calibration_saves_and_loads_the_same_way(tmp_path):
    model = RiskModel.from_dict(trained_doc())
    model.save(tmp_path / "risk", card={"metrics": {"auroc": 0.9}})
    loaded = RiskModel.load(tmp_path / "risk")
    assert loaded.to_dict() == model.to_dict()
    features = dict.fromkeys(FEATURE_NAMES, 0.0)  # z = -1 -> p = 0.2689 -> calibrated
    p = 1 / (1 + 2.718281828459045)
    assert loaded.predict(features).risk == pytest.approx(p * 0.2, rel=1e-9)
    assert loaded.predict({**features, "kw_supervisor_request": 5.0}).risk > 0.8
    assert load_risk_model(Registry(tmp_path)).version == "2024-06-01-abc"  # a folder at <root>/risk: "local"
    assert load_risk_model(None).version == RiskModel.load(DEFAULT_RISK_DIR).version


# ------------------------------------------------------------ refusing bad files


@pytest.fixture
def copied(tmp_path):
    target = tmp_path / "risk"
    shutil.copytree(DEFAULT_RISK_DIR, target)
    return target


def test_truncated_file_is_refused_by_its_hash(copied):
    raw = (copied / "model.json").read_bytes()
    (copied / "model.json").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RiskModelError, match="sha256"):
        RiskModel.load(copied)


def test_truncated_file_without_card_is_refused_as_invalid_json(copied):
    (copied / "card.json").unlink()
    raw = (copied / "model.json").read_bytes()
    (copied / "model.json").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RiskModelError, match="not valid JSON"):
        RiskModel.load(copied)


def test_pickle_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(pickle.dumps({"coef": [1.0]}))
    with pytest.raises(RiskModelError, match="not valid JSON"):
        RiskModel.load(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RiskModelError, match="cannot read risk model"):
        RiskModel.load(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"schema": "something/9"}, "schema"),
        ({"feature_names": ["kw_supervisor_request", "shoe_size"]}, "unknown feature.*shoe_size"),
        ({"feature_names": ["cust_neg_ewma", "cust_neg_ewma"]}, "duplicates"),
        ({"coef": [1.0]}, "coef must be a list of 2"),
        ({"scales": [1.0, 0.0]}, "scales must all be > 0"),
        ({"means": [1.0, "x"]}, "means holds a value"),
        ({"intercept": None}, "intercept"),
        ({"version": ""}, "version"),
        ({"kind": "magic"}, "kind"),
        ({"calibration": {"x": [0.0, 1.0], "y": [0.9, 0.1]}}, "non-decreasing"),
        ({"calibration": {"x": [0.5, 0.5], "y": [0.1, 0.2]}}, "strictly increasing"),
        ({"calibration": {"x": [0.0, 1.0]}}, "calibration"),
    ],
)
def test_bad_documents_are_refused_naming_the_problem(changes, message):
    with pytest.raises(RiskModelError, match=message):
        RiskModel.from_dict(trained_doc(**changes))


def test_missing_field_and_non_object_are_refused(tmp_path):
    doc = trained_doc()
    del doc["coef"]
    with pytest.raises(RiskModelError, match="missing field 'coef'"):
        RiskModel.from_dict(doc)
    path = tmp_path / "model.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(RiskModelError, match=f"{path}.*JSON object"):
        RiskModel.load(path)


def test_nan_in_file_is_refused(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(trained_doc()).replace("-1.0", "NaN"))
    with pytest.raises(RiskModelError):
        RiskModel.load(path)


def test_model_card_table_matches_the_bundled_model(prior):
    """The card documents the prior's numbers; keep them from drifting apart."""
    rows = {}
    for line in (PRIOR_RISK_DIR / "model_card.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in FEATURE_NAMES:
            rows[cells[0]] = [float(c.replace("−", "-")) for c in cells[1:]]
    assert list(rows) == list(prior.feature_names)
    for name, mean, scale, coef in zip(prior.feature_names, prior.means, prior.scales, prior.coef):
        assert rows[name] == pytest.approx([mean, scale, coef]), name
    card = (PRIOR_RISK_DIR / "model_card.md").read_text()
    assert f"Intercept {prior.intercept:g}".replace("-", "−") in card


@pytest.mark.parametrize("name, value, above, text", [
    ("cust_repeats", 3.0, True, "customer repeated the same request 3 times"),
    ("cust_repeats", 1.0, True, "customer repeated the same request once"),
    ("cust_corrections", 2.0, True, "customer corrected the agent twice"),
    ("kw_supervisor_request", 1.0, True, "asked for a manager"),
    ("cust_neg_mean", 0.4, True, "customer negative on average this call"),
    ("cust_pos_mean", 0.05, False, "customer seldom positive this call"),
    ("dead_air_max_s", 14.2, True, "a silence of 14 s"),
])
def test_reason_texts_say_what_the_feature_measured(name, value, above, text):
    from callradar.models.risk import reason_text

    assert reason_text(name, value, above) == text


def test_every_feature_has_a_reason_in_words():
    from callradar.models.risk import REASON_TEXTS, TEXT_FEATURE

    assert set(REASON_TEXTS) == {*FEATURE_NAMES, TEXT_FEATURE}  # the text part's score has one too


def test_a_feature_below_its_mean_that_raises_risk_is_explained_as_such():
    model = RiskModel(("cust_pos_mean", "cust_repeats"), [-1.0, 0.5], [0.3, 0.0], [0.1, 1.0], 0.0, "t")
    reading = model.predict({"cust_pos_mean": 0.05, "cust_repeats": 3.0})
    assert [r["text"] for r in reading.reasons] == ["customer seldom positive this call",
                                                    "customer repeated the same request 3 times"]
    assert reading.reasons[0]["contribution"] == pytest.approx(2.5)
