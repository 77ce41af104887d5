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
