"""Escalation matrix: routes by category, queue, customer tier and repeats; bad files name the line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from callradar.agents.playbook import TRIGGER_CATEGORIES
from callradar.agents.routing import DEFAULT_MATRIX, EscalationMatrix, MatrixError, load_matrix
from callradar.agents.triggers import Triggers
from callradar.pipeline.records import Alert
from callradar.pipeline.settings import load_settings

SETTINGS = SimpleNamespace(risk_alert_threshold=0.6, risk_rearm_threshold=0.4, alert_cooldown_s=30.0)
BUNDLED = DEFAULT_MATRIX.read_text()


@pytest.fixture(scope="module")
def matrix():
    return EscalationMatrix.load()


def test_every_category_has_a_route_with_team_tier_and_sla(matrix):
    for category in TRIGGER_CATEGORIES:
        route = matrix.route(category)
        assert route["type"] in ("functional", "hierarchical")
        assert route["team"] and route["tier"] >= 2 and route["sla_s"] > 0
        assert route["rule"] == category and route["escalation"] == 1


def test_hierarchical_starts_by_customer_tier_and_climbs_with_repeats(matrix):
    assert matrix.route("supervisor_request", customer_tier="standard")["level"] == "supervisor"
    platinum = matrix.route("supervisor_request", customer_tier="Platinum")
    assert platinum["level"] == "manager" and "platinum customer" in platinum["why"]
    assert matrix.route("supervisor_request", nth=2)["level"] == "manager"
    assert matrix.route("supervisor_request", customer_tier="platinum", nth=2)["level"] == "executive"
    top = matrix.route("supervisor_request", nth=9)
    assert top["level"] == "executive" and top["sla_s"] == 3600 and "escalation 9" in top["why"]
    assert matrix.route("legal_threat")["level"] == "manager"


def test_functional_routes_by_queue_then_climbs_the_hierarchy(matrix):
    billing = matrix.route("complaint", queue="BILLING ")
    assert billing == {"type": "functional", "team": "billing-specialists", "tier": 2, "level": "",
                       "sla_s": 900.0, "rule": "complaint", "escalation": 1, "why": "complaint, billing queue"}
    assert matrix.route("complaint", queue="tech_support")["team"] == "technical-support-tier2"
    other = matrix.route("complaint", queue="sales")
    assert other["team"] == "customer-relations" and other["sla_s"] == 1800
    # an override that leaves out sla_s inherits it from the rule
    assert matrix.route("cancellation", queue="billing")["sla_s"] == matrix.route("cancellation")["sla_s"]
    again = matrix.route("complaint", queue="billing", nth=2)
    assert again["type"] == "hierarchical" and again["level"] == "supervisor"


def test_a_category_without_a_rule_falls_back_to_negative_sentiment():
    text = "hierarchy:\n  - {level: sup, team: floor, tier: 2, sla_s: 60}\nrules:\n  negative_sentiment: {type: hierarchical}\n"
    route = EscalationMatrix.from_yaml(text).route("legal_threat")
    assert route["team"] == "floor" and route["rule"] == "legal_threat" and route["sla_s"] == 60


def _edit(old: str, new: str) -> str:
    assert old in BUNDLED
    return BUNDLED.replace(old, new, 1)


def _line_of(text: str, needle: str, occurrence: int = 0) -> int:
    return [i for i, row in enumerate(text.splitlines(), 1) if needle in row][occurrence]


# (file text, the line the error must point at (text on it, which occurrence), the problem)
@pytest.mark.parametrize("text, needle, occurrence, problem", [
    (_edit("    type: functional\n    team: customer-relations", "    type: funtional\n    team: customer-relations"),
     "type: funtional", 0, "rules.complaint.type: 'funtional' is not functional or hierarchical"),
    (_edit("start: manager", "start: boss"), "start: boss", 0, "'boss' is not a hierarchy level"),
    (_edit("sla_s: 300", "sla_s: soon"), "sla_s: soon", 0, "rules.cancellation.sla_s: expected a number"),
    (_edit("    tier: 3\n", "    tier: 0\n"), "tier: 0", 0, r"hierarchy\[1\].tier: must be at least 1"),
    (_edit("  complaint:\n", "  complaint:\n    colour: red\n"), "colour: red", 0, "unknown key.*colour"),
    (_edit("  legal_threat:\n", "  legal_thraet:\n"), "legal_thraet", 0, "rules.legal_thraet: unknown trigger category"),
    (_edit("      billing: {team: billing-retention}", "      billing: {}"), "billing: {}", 0, "give at least one of"),
    (BUNDLED + "  complaint: {type: hierarchical}\n", "complaint: {type", 0, "'complaint' appears twice"),
    (_edit("  - level: manager", "  - level: supervisor"), "level: supervisor", 1, "'supervisor' is already level 0"),
])
def test_bad_matrix_names_the_line_and_the_problem(text, needle, occurrence, problem):
    with pytest.raises(MatrixError, match=problem) as err:
        EscalationMatrix.from_yaml(text, source="matrix.yaml")
    assert str(err.value).startswith(f"matrix.yaml: line {_line_of(text, needle, occurrence)}: "), str(err.value)


@pytest.mark.parametrize("text, problem", [
    ("- just\n- a list\n", "expected a mapping with 'hierarchy', 'rules'"),
    ("hierarchy: []\nrules: {}\n", "line 1: hierarchy: expected a non-empty list"),
    ("version: 2\n" + BUNDLED.split("version: 1\n", 1)[1], "version 2 is not supported"),
    ("rules:\n  unclosed: [\n", "line 3, column 1: not valid YAML"),
    ("hierarchy:\n  - {level: s, team: t, tier: 2, sla_s: 9}\nrules:\n  complaint: {type: hierarchical}\n",
     "rules.negative_sentiment is required"),
])
def test_bad_matrix_shapes_are_refused(text, problem):
    with pytest.raises(MatrixError, match=problem):
        EscalationMatrix.from_yaml(text, source="matrix.yaml")


def test_missing_matrix_file_is_a_clear_error(tmp_path):
    with pytest.raises(MatrixError, match="cannot read escalation matrix .*nope.yaml"):
        EscalationMatrix.load(tmp_path / "nope.yaml")


def test_settings_point_at_a_users_matrix(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("hierarchy:\n  - {level: lead, team: team-leads, tier: 2, sla_s: 45}\n"
                    "rules:\n  negative_sentiment: {type: hierarchical}\n")
    settings = load_settings({"CALLRADAR_ESCALATION_MATRIX": str(path)})
    assert isinstance(settings.escalation_matrix, Path)
    assert load_matrix(settings).route("complaint")["team"] == "team-leads"


def test_every_supervisor_alert_carries_its_route_from_the_calls_queue_and_tier():
    triggers = Triggers(SETTINGS)
    triggers.on_call_event("c1", "started", 1000.0, queue="billing", customer_tier="gold")
    sup = [{"feature": "kw_complaint", "value": 1.0, "contribution": 2.0}]
    first = triggers.on_score("c1", "c1/customer/3", 20.0, 0.8, sup, ["complaint"])
    for doc in first:
        alert = Alert.from_dict(doc)
        assert alert.route["team"] == "billing-specialists" and alert.route["escalation"] == 1
    assert "route: billing-specialists (tier 2), respond within 15 min" in first[0]["message"]
    triggers.on_score("c1", "c1/customer/4", 25.0, 0.1, sup, [])
    second = triggers.on_score("c1", "c1/customer/5", 60.0, 0.9, sup, ["supervisor_request"])
    assert second[0]["route"]["level"] == "manager" and second[0]["route"]["escalation"] == 2


def test_ended_calls_are_forgotten_after_a_while_not_at_once():
    triggers = Triggers(SETTINGS)
    triggers.on_call_event("old", "started", 0.0, queue="billing")
    triggers.on_call_event("old", "ended", 100.0)
    assert "old" in triggers.calls  # its last utterances may still be on their way
    triggers.on_call_event("new", "started", 100.0 + 601.0)
    assert "old" not in triggers.calls and "new" in triggers.calls
