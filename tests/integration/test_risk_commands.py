"""`callradar train risk` and `callradar evaluate` end to end with the real text models, on a handful of calls."""

from __future__ import annotations

import json

import pytest

from callradar.models.risk import RiskModel
from callradar.pipeline.cli.main import main
from callradar.training.evaluate import prior_model
from callradar.training.labelled_calls import CallUtterance, LabelledCall, write_calls

pytestmark = [pytest.mark.slow]

CALM = ["Hi, I'd like to check when my parcel arrives.", "Great, thank you so much, that's perfect."]
ANGRY = ["My payment failed again and nobody has fixed it.", "This is ridiculous, I've been waiting for weeks.",
         "I want to speak to a supervisor right now."]


def calls(n: int) -> list[LabelledCall]:
    out = []
    for i in range(n):
        escalated = i % 2 == 1
        texts = ANGRY if escalated else CALM
        utts, t = [], 0.5
        for text in texts:
            utts.append(CallUtterance("agent", t, t + 2.5, "Thanks for calling, how can I help?"))
            utts.append(CallUtterance("customer", t + 3.0, t + 6.0, text))
            t += 7.0
        out.append(LabelledCall(f"call-{i}", "escalated" if escalated else "calm", utts,
                                escalation_time=utts[-1].start if escalated else None, source="test"))
    return out


def test_train_then_evaluate_with_the_real_text_models(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path / "state"))  # keeps the shared registry untouched
    data = write_calls(tmp_path / "calls.jsonl", calls(12))
    model_dir, report = tmp_path / "model", tmp_path / "report"
    assert main(["train", "risk", "--data", str(data), "--test", str(data), "--out", str(model_dir),
                 "--version", "risk-tiny", "--no-register"]) == 0
    assert "held-out call AUROC" in capsys.readouterr().out
    model = RiskModel.load(model_dir)
    assert (model.version, model.kind) == ("risk-tiny", "trained")
    prior = prior_model()
    assert model.to_dict()["coef"] != prior.to_dict()["coef"]

    assert main(["evaluate", "--model", str(model_dir), "--data", str(data), "--report", str(report)]) == 0
    metrics = json.loads((report / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {"model", "baseline"} and metrics["model"]["auroc"] > 0.9
    assert (report / "report.md").exists() and (report / "lead_time.png").exists()
    assert "operating point" not in capsys.readouterr().out  # against the prior (the default): not asked

    # Against a baseline that flags every call at the live threshold, the trained model keeps that alarm rate
    # (every calm call flagged) only from the lowest threshold on: the command says so.
    loud = RiskModel(["intent_max"], [0.0], [0.0], [1.0], 3.0, "always-0.95").save(tmp_path / "loud")
    assert main(["evaluate", "--model", str(model_dir), "--baseline", str(loud), "--data", str(data),
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "operating point: at the alert threshold 0.6 the model flags 0.0 % of the held-out calm calls" in out
    assert "the baseline 100.0 % and 100.0 %" in out and "CALLRADAR_RISK_ALERT_THRESHOLD=0.01" in out
    # ... and the report keeps it for whoever reads it later
    assert json.loads((report / "metrics.json").read_text())["operating_point"]["threshold"] == 0.01
    assert "CALLRADAR_RISK_ALERT_THRESHOLD=0.01" in (report / "report.md").read_text().split("## Operating point")[1]


def flipped(cs: list[LabelledCall]) -> list[LabelledCall]:
    """The same calls with the outcomes swapped: what a model learns from them is the wrong way round."""
    out = []
    for c in cs:
        escalated = c.outcome == "calm"
        out.append(LabelledCall(c.call_id, "escalated" if escalated else "calm", c.utterances,
                                escalation_time=None, source=c.source))
    return out


def test_train_report_promote_and_a_refused_promotion_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLRADAR_MODELS_DIR", str(tmp_path / "models"))
    good = calls(24)
    data = write_calls(tmp_path / "calls.jsonl", good)

    # train on the user's calls: a quarter of each outcome held out, a learning curve, the comparison, the reasons
    assert main(["train", "risk", "--data", str(data), "--out", str(tmp_path / "first"), "--version", "risk-first",
                 "--curve-seeds", "2"]) == 0
    out = capsys.readouterr().out
    for said in ("learning curve (held-out call AUROC", "new vs current (risk builtin", "on 6 held-out calls (3 escalated)",
                 "call AUROC at the call's end", "reasons it learnt", "registered as risk v1"):
        assert said in out, said
    assert "labels for whole calls" not in out  # every escalation here is dated
    card = json.loads((tmp_path / "first" / "card.json").read_text())
    assert len(card["learning_curve"]) >= 2 and all(len(p["auroc"]) == 2 for p in card["learning_curve"])
    assert card["heldout_comparison"]["baseline"]["registry_version"] == "builtin"
    report = (tmp_path / "first" / "model_card.md").read_text()
    assert "## Learning curve" in report and "## Against the current model" in report and "## Reasons it learnt" in report

    assert main(["models", "promote", "risk", "v1"]) == 0
    assert "promoted risk v1 (was builtin)" in capsys.readouterr().out

    # trained on the wrong labels, judged on the right ones against v1 (now current): refused unless forced
    wrong = write_calls(tmp_path / "wrong.jsonl", flipped(good))
    assert main(["train", "risk", "--data", str(wrong), "--test", str(data), "--out", str(tmp_path / "second"),
                 "--version", "risk-second", "--curve-seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "new vs current (risk v1, risk-first)" in out and "will refuse it unless --force" in out
    assert "registered as risk v2" in out
    # its escalations have no time: the run says which reading ranks such calls, with both figures
    assert "labels for whole calls: 12 of 12 escalated training calls have no escalation time" in out
    assert "**Labels for whole calls.** 12 of 12" in (tmp_path / "second" / "model_card.md").read_text()
    assert main(["models", "promote", "risk", "v2"]) == 2
    assert "refused: risk v2 did worse than risk v1 on its held-out calls" in capsys.readouterr().err
    assert main(["models", "list", "risk", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["kinds"]["risk"]
    assert listed["current"] == "v1"
    assert main(["models", "promote", "risk", "v2", "--force"]) == 0
    assert "warning: forced: risk v2 did worse" in capsys.readouterr().err
    assert main(["models", "list", "risk", "--json", "--history"]) == 0
    history = json.loads(capsys.readouterr().out)["kinds"]["risk"]["history"]
    assert history[-1]["version"] == "v2" and "forced: risk v2 did worse" in history[-1]["note"]


def test_a_failed_training_run_registers_and_promotes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLRADAR_MODELS_DIR", str(tmp_path / "models"))
    calm_only = write_calls(tmp_path / "calm.jsonl", [c for c in calls(24) if c.outcome == "calm"])
    assert main(["train", "risk", "--data", str(calm_only), "--out", str(tmp_path / "m")]) == 2
    assert "no escalated call among its 12 labelled calls" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and not (tmp_path / "models" / "risk").exists()


def test_a_text_part_trained_through_the_cli_is_scored_and_evaluated_like_any_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path / "state"))
    data = write_calls(tmp_path / "calls.jsonl", calls(12))
    model_dir, report = tmp_path / "model", tmp_path / "report"
    assert main(["train", "risk", "--data", str(data), "--test", str(data), "--out", str(model_dir),
                 "--version", "risk-words", "--no-register", "--text-part", "on", "--curve-seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "text part (what the words say, from pooled utterance embeddings): on, --text-part on" in out
    model = RiskModel.load(model_dir)
    assert model.to_dict()["schema"] == "callradar.risk/3" and len(model.text_part["coef"]) == 2 * 384
    card = json.loads((model_dir / "card.json").read_text())
    assert card["text_part"]["chosen"] and card["text_part"]["heldout"]["with"]["auroc"] is not None
    assert main(["evaluate", "--model", str(model_dir), "--data", str(data), "--report", str(report)]) == 0
    assert json.loads((report / "metrics.json").read_text())["metrics"]["model"]["auroc"] > 0.9
