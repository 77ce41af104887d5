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
