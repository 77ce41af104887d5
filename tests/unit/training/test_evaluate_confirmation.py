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
