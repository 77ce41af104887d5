"""The bundled risk model: trained, documented, and behaving as the live pipeline needs."""

from __future__ import annotations

import json

import pytest
from test_risk import calm_call, escalating_call, risks, utt

from callradar.models.risk import DEFAULT_RISK_DIR, PRIOR_RISK_DIR, RiskModel


@pytest.fixture(scope="module")
def bundled():
    return RiskModel.load(DEFAULT_RISK_DIR)


def test_the_default_is_trained_and_its_card_says_on_what(bundled):
    card = json.loads((DEFAULT_RISK_DIR / "card.json").read_text())
    assert bundled.kind == "trained" and card["trained"] is True and card["version"] == bundled.version
    assert len(card["training_data"]["sha256"]) == 64 and card["training_data"]["corpus"]["command"]
    held, prior = card["metrics"]["heldout"], card["metrics"]["heldout_prior"]
    assert card["baseline"] == RiskModel.load(PRIOR_RISK_DIR).version
    assert held["auroc"] > prior["auroc"] and held["recall"] > prior["recall"]
    assert bundled.version in (DEFAULT_RISK_DIR / "model_card.md").read_text()


def test_card_table_matches_the_model(bundled):
    rows = {}
    for line in (DEFAULT_RISK_DIR / "model_card.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in bundled.feature_names:
            rows[cells[0]] = [float(c) for c in cells[1:]]
    assert set(rows) == set(bundled.feature_names)
    for name, mean, scale, coef in zip(bundled.feature_names, bundled.means, bundled.scales, bundled.coef):
        assert rows[name] == pytest.approx([mean, scale, coef], rel=1e-3, abs=1e-3), name


def test_calm_stays_below_rearm_and_an_explicit_request_alerts(bundled):
    assert max(risks(bundled, calm_call())) < 0.4
    assert risks(bundled, escalating_call())[-1] >= 0.6
    for category in ("supervisor_request", "cancellation", "legal_threat"):
        call = [utt("agent", 0, 3), utt("customer", 3.5, 7, "negative", frus=0.6, intent=0.8, kws=[category])]
        assert risks(bundled, call)[-1] >= 0.8, category
