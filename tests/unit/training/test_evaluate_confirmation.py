"""``callradar evaluate`` flags a call where the live trigger would alert, confirmation included."""

from __future__ import annotations

import numpy as np

from callradar.models.call_features import FEATURE_NAMES
from callradar.models.types import RiskReading
from callradar.training.evaluate import first_alert_index
from callradar.training.features import CallFeatures
from callradar.training.labelled_calls import CallUtterance, LabelledCall

WORDS = "it is not making any noise yet"


def call(turns) -> CallFeatures:
    """``turns``: (speaker, text, feature changes on this utterance) per utterance."""
    utts, rows, row = [], [], dict.fromkeys(FEATURE_NAMES, 0.0)
    for i, (speaker, text, changes) in enumerate(turns):
        utts.append(CallUtterance(speaker, 5.0 * i, 5.0 * i + 2, text))
        row = {**row, **{k: row[k] + v for k, v in changes.items()}}
        rows.append(row)
    return CallFeatures(LabelledCall("c1", "calm", utts), rows, np.array([5.0 * i + 2 for i in range(len(turns))]))


def readings(*risks):
    return [RiskReading(r, [{"feature": "cust_neg_ewma", "value": 0.3, "contribution": 1.0}]) for r in risks]


def test_a_sentiment_spike_on_one_utterance_is_not_flagged_when_confirmation_is_two():
    cf = call([("customer", WORDS, {}), ("agent", WORDS, {}), ("customer", "um", {}), ("customer", WORDS, {})])
    spike = readings(0.85, 0.85, 0.85, 0.3)
    assert first_alert_index(cf, spike, 0.6, 1) == 0  # before: the spike itself
    assert first_alert_index(cf, spike, 0.6, 2) is None
    held = readings(0.85, 0.85, 0.85, 0.7)  # the next real customer words keep it up
    assert first_alert_index(cf, held, 0.6, 2) == 3


def test_a_keyword_or_the_intent_head_on_the_utterance_flags_at_once():
    keyword = call([("customer", "get me a manager now", {"kw_supervisor_request": 1.0})])
    assert first_alert_index(keyword, readings(0.9), 0.6, 2) == 0
    asked = call([("customer", "you aren't helping help me speak with a person", {"intent_count": 1.0})])
    assert first_alert_index(asked, readings(0.9), 0.6, 2) == 0


class RiskFromRow:
    """A stand-in risk model: the risk is the row's ``cust_neg_ewma``."""

    version = "row"

    def predict(self, row):
        return RiskReading(row.get("cust_neg_ewma", 0.1), [])


def test_the_risk_at_the_calls_end_is_reported_apart_from_the_highest():
    """A calm call that peaks early and ends calm, an escalated one that never peaks as high but ends high:
    by the highest risk the calm one ranks first (AUROC 0), by the risk at the end the escalated one (1)."""
    from callradar.training.evaluate import assess, metrics_of

    calm = call([("customer", WORDS, {"cust_neg_ewma": 0.9}), ("customer", WORDS, {"cust_neg_ewma": -0.8})])
    rated = call([("customer", WORDS, {"cust_neg_ewma": 0.3}), ("customer", WORDS, {"cust_neg_ewma": 0.4})])
    rated.call = LabelledCall("c2", "escalated", rated.call.utterances)  # rated badly as a whole: no time
    m = metrics_of(assess("row", RiskFromRow(), [calm, rated], 0.95, 20.0))
    assert m["auroc"] == 0.0
    assert m["auroc_end_of_call"] == 1.0


def peaked(cid: str, outcome: str, peak: float) -> CallFeatures:
    utts = [CallUtterance("customer", 5.0 * i, 5.0 * i + 2, WORDS) for i in range(3)]
    rows = [{**dict.fromkeys(FEATURE_NAMES, 0.0), "cust_neg_ewma": r} for r in (0.1, peak, 0.1)]
    call = LabelledCall(cid, outcome, utts, escalation_time=14.0 if outcome == "escalated" else None)
    return CallFeatures(call, rows, np.array([2.0, 7.0, 12.0]))


def test_the_matching_threshold_keeps_the_share_of_calm_calls_flagged():
    """Calm calls peak at 0.2, 0.3, 0.5 and 0.7: one in four flagged is kept from 0.51 up, where the escalated
    call that peaks at 0.8 is still flagged and the one at 0.45 no longer."""
    from callradar.training.evaluate import matching_threshold

    cfs = [peaked(f"c{i}", "calm", p) for i, p in enumerate((0.2, 0.3, 0.5, 0.7))]
    cfs += [peaked("e1", "escalated", 0.8), peaked("e2", "escalated", 0.45)]
    assert matching_threshold(RiskFromRow(), cfs, 0.25) == {"threshold": 0.51, "false_alarm_rate": 0.25, "recall": 0.5}
    assert matching_threshold(RiskFromRow(), cfs, 0.5)["threshold"] == 0.31
    assert matching_threshold(RiskFromRow(), cfs, 0.0) == {"threshold": 0.71, "false_alarm_rate": 0.0, "recall": 0.5}
    assert matching_threshold(RiskFromRow(), cfs[4:], 0.25) is None  # no calm call to keep a rate on


def test_operating_point_advice_names_the_settings_only_when_the_threshold_is_off():
    from callradar.training.evaluate import operating_point_advice

    comp = {"threshold": 0.6, "new": {"false_alarm_rate": 0.0027, "recall": 0.008},
            "baseline_metrics": {"false_alarm_rate": 0.1689, "recall": 0.37},
            "operating_point": {"threshold": 0.34, "false_alarm_rate": 0.1555, "recall": 0.3465}}
    advice = operating_point_advice(comp)
    assert "flags 0.3 % of the held-out calm calls and 0.8 % of the escalated ones" in advice
    assert "the current model 16.9 % and 37.0 %" in advice and "(15.6 % calm, 34.6 % escalated)" in advice
    assert "CALLRADAR_RISK_ALERT_THRESHOLD=0.34 and CALLRADAR_RISK_REARM_THRESHOLD=0.23" in advice
    assert operating_point_advice({**comp, "operating_point": {**comp["operating_point"], "threshold": 0.57}}) is None
    assert operating_point_advice({**comp, "operating_point": None}) is None
