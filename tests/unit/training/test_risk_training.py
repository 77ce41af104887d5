"""Risk training and evaluation on tiny data: a loadable, different model; a report; refused model files."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import yaml
from training_fakes import StubScorer, write_fake_bitext

from callradar.models.call_features import FEATURE_NAMES
from callradar.models.keywords import DEFAULT_RULES, KeywordRules
from callradar.models.risk import DEFAULT_RISK_DIR, RiskModel
from callradar.pipeline.cli.main import main
from callradar.training.corpus import build_corpus
from callradar.training.evaluate import evaluate_models, load_model_dir, prior_model, write_report
from callradar.training.features import CallFeatures, features_of, prefix_labels
from callradar.training.labelled_calls import CallUtterance, LabelledCall, read_calls
from callradar.training.risk import fit_risk_model, train_risk


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, 60, 5, bitext_path=write_fake_bitext(out / "bitext.csv"))
    return out


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "risk"
    card = train_risk(corpus / "train.parquet", out, scorer=StubScorer(), test_path=corpus / "test.parquet",
                      version="risk-test", progress=False, curve_seeds=1)
    return out, card


def test_prefix_labels_follow_the_horizon_rule():
    utts = [CallUtterance("customer", t, t + 2, "x") for t in (0, 10, 20, 30, 40)]
    esc = LabelledCall("e", "escalated", utts, escalation_time=30.0)
    times = np.array([u.end for u in utts], dtype=float)
    assert prefix_labels(CallFeatures(esc, [{}] * 5, times), horizon_s=15).tolist() == [-1, -1, 1, 1, 1]
    no_time = LabelledCall("n", "escalated", utts)  # a label for the whole call: every prefix
    assert prefix_labels(CallFeatures(no_time, [{}] * 5, times), horizon_s=15).tolist() == [1] * 5
    calm = LabelledCall("c", "calm", utts)
    assert prefix_labels(CallFeatures(calm, [{}] * 5, times), horizon_s=15).tolist() == [0] * 5


def test_training_writes_a_loadable_trained_model_with_its_card(trained, corpus):
    out, card = trained
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "model.json", "model_card.md"]
    model = RiskModel.load(out)  # the score stage's loader, sha256 checked
    assert (model.version, model.kind) == ("risk-test", "trained")
    assert "duration_s" not in model.feature_names and set(model.feature_names) < set(FEATURE_NAMES)
    assert model.calibration is None  # Platt scaling lives in the coefficients
    saved = json.loads((out / "card.json").read_text())
    assert saved["training_data"]["calls"] == 44
    # The files' own sha256, what `sha256sum` and the corpus's corpus.json say.
    files = json.loads((corpus / "corpus.json").read_text())["files"]
    assert saved["training_data"]["sha256"] == files["train.parquet"]
    assert saved["training_data"]["heldout_sha256"] == files["test.parquet"]
    assert saved["params"]["C"] in saved["params"]["C_grid"] and saved["labels"]["horizon_s"] == 20
    for split in ("train", "heldout", "heldout_prior"):
        assert all(v is None or math.isfinite(v) for v in saved["metrics"][split].values() if isinstance(v, float))
    assert "Labels." in (out / "model_card.md").read_text()


def test_the_card_reports_the_curve_the_comparison_and_the_reasons(trained):
    out, card = trained
    saved = json.loads((out / "card.json").read_text())
    assert [p["calls"] for p in saved["learning_curve"]] == [11, 22, 44]  # 44 training calls: a quarter, a half, all
    assert all(p["seeds"] == 1 and len(p["auroc"]) == 1 for p in saved["learning_curve"])
    comp = saved["heldout_comparison"]
    bundled = json.loads((DEFAULT_RISK_DIR / "card.json").read_text())
    assert comp["baseline"] == {"registry_version": "builtin", "model_version": bundled["version"],
                                "model_sha256": bundled["sha256"]}
    assert comp["heldout"]["source"] == "file" and comp["heldout"]["calls"] == saved["metrics"]["heldout"]["calls"]
    assert comp["new"]["auroc"] == saved["metrics"]["heldout"]["auroc"]
    assert comp["baseline_metrics"]["auroc"] == saved["metrics"]["heldout_current"]["auroc"]
    weights = [abs(r["weight"]) for r in saved["reasons_learnt"]]
    assert weights == sorted(weights, reverse=True) and all(r["words"] for r in saved["reasons_learnt"])
    md = (out / "model_card.md").read_text()
    for section in ("## Learning curve", "## Against the current model", "## Reasons it learnt"):
        assert section in md


def test_without_a_test_file_a_stratified_part_is_held_out_and_never_trained_on(corpus, tmp_path):
    card = train_risk(corpus / "train.parquet", tmp_path / "m", scorer=StubScorer(), progress=False, curve_seeds=0,
                      heldout_share=0.25)
    held = card["heldout_comparison"]["heldout"]
    assert held["source"] == "split" and held["share"] == 0.25 and held["calls"] == 12 and held["escalated"] == 6
    assert card["training_data"]["calls"] == 32 and card["learning_curve"] == []


def test_the_trained_model_changes_scores_and_separates_the_calls(trained, corpus):
    out, _ = trained
    model, prior = RiskModel.load(out), prior_model()
    cfs = features_of(read_calls(corpus / "test.parquet"), StubScorer(), progress=False)
    row = cfs[0].rows[-1]
    assert model.predict(row).risk != pytest.approx(prior.predict(row).risk, abs=1e-3)
    assert model.predict(row).model_version == "risk-test"
    m = evaluate_models({"trained": model}, cfs, threshold=0.6)["trained"]
    assert m["auroc"] > 0.8


def test_the_feature_cache_follows_the_scorers_keyword_rules(corpus, tmp_path, capsys):
    """A registry's keywords.yaml replaces the bundled rules, so it must also key the cached features."""
    calls = read_calls(corpus / "test.parquet")[:4]
    bundled, other = StubScorer(), StubScorer()
    bundled.rules = KeywordRules.from_yaml(DEFAULT_RULES)
    doc = yaml.safe_load(DEFAULT_RULES.read_text())
    doc["categories"]["anger"]["phrases"].append("not good enough")
    other.rules = KeywordRules.from_dict(doc)

    def cached(scorer):
        features_of(calls, scorer, progress=False, cache_dir=tmp_path)
        return "from cache" in capsys.readouterr().err

    assert not cached(bundled) and cached(bundled)
    assert not cached(other), "features computed with other rules were served from the cache"
    assert cached(StubScorer())  # no rules of its own: the bundled file's, as before


def test_isotonic_calibration_is_stored_as_points_the_loader_accepts(corpus):
    cfs = features_of(read_calls(corpus / "train.parquet"), StubScorer(), progress=False)
    model, details = fit_risk_model(cfs, calibration="isotonic", version="risk-iso")
    assert details["calibration"].startswith("isotonic")
    xs, ys = model.calibration
    assert len(xs) >= 2 and list(xs) == sorted(set(xs)) and list(ys) == sorted(ys)
    assert RiskModel.from_dict(model.to_dict()).version == "risk-iso"


def test_evaluate_writes_the_report_with_finite_metrics(trained, corpus, tmp_path):
    out, _ = trained
    cfs = features_of(read_calls(corpus / "test.parquet"), StubScorer(), progress=False)
    metrics = write_report({"model": RiskModel.load(out), "baseline": prior_model()}, cfs, tmp_path,
                           corpus / "test.parquet", threshold=0.6)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["calibration.png", "lead_time.png", "metrics.json", "precision_recall.png", "report.md", "roc.png"]
    for name in ("roc.png", "lead_time.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    for key in ("auroc", "pr_auc", "precision", "recall", "auroc_before_escalation", "median_lead_time_s"):
        assert math.isfinite(metrics["model"][key]) and math.isfinite(metrics["baseline"][key]), key
    report = (tmp_path / "report.md").read_text()
    assert "risk-test" in report and "prior-2" in report and "![roc.png](roc.png)" in report
    json.loads((tmp_path / "metrics.json").read_text())


def test_unsafe_or_corrupt_model_files_are_refused(trained, tmp_path, capsys):
    out, _ = trained
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "model.pkl").write_bytes(pickle.dumps({"coef": [1.0]}))
    with pytest.raises(Exception, match="never unpickles"):
        load_model_dir(pickled)
    assert main(["evaluate", "--model", str(pickled), "--data", str(tmp_path)]) == 2
    assert "never unpickles" in capsys.readouterr().err

    disguised = tmp_path / "disguised"
    disguised.mkdir()
    (disguised / "model.json").write_bytes(pickle.dumps({"coef": [1.0]}))
    with pytest.raises(Exception, match="not valid JSON"):
        load_model_dir(disguised)

    edited = tmp_path / "edited"
    edited.mkdir()
    for name in ("model.json", "card.json"):
        (edited / name).write_bytes((out / name).read_bytes())
    doc = json.loads((edited / "model.json").read_text())
    doc["intercept"] += 5  # tampered with after training
    (edited / "model.json").write_text(json.dumps(doc))
    with pytest.raises(Exception, match="sha256 differs"):
        load_model_dir(edited)


def test_train_cli_refuses_too_little_data_and_unknown_features(tmp_path, capsys):
    path = tmp_path / "few.jsonl"
    path.write_text(json.dumps({"call_id": "a", "outcome": "calm", "utterances": [
        {"speaker": "customer", "start": 0, "end": 1, "text": "hi"}]}) + "\n")
    assert main(["train", "risk", "--data", str(path), "--out", str(tmp_path / "m"), "--exclude", "shoe_size"]) == 2
    assert "unknown feature(s) shoe_size" in capsys.readouterr().err
    assert main(["train", "risk", "--data", str(tmp_path / "none.parquet")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_trained_folder_is_added_to_the_registry_unpromoted(trained, tmp_path):
    registry = pytest.importorskip("callradar.models.registry")
    from callradar.pipeline.cli.train import _register
    from callradar.pipeline.settings import load_settings

    out, _ = trained
    settings = load_settings({}, models_dir=tmp_path / "models", state_dir=tmp_path)
    line = _register(out, settings)
    assert line.startswith("registered as risk v1") and "models promote risk v1" in line
    reg = registry.Registry(tmp_path / "models")
    assert reg.numbered("risk") == ["v1"] and reg.current("risk") != "v1"
