"""Triggers: hysteresis, cooldown in call time, per-category dedup, stable ids, the playbook."""

from __future__ import annotations

import dataclasses
import hashlib
from types import SimpleNamespace

import pytest

from callradar.agents.playbook import TRIGGER_CATEGORIES, Playbook, PlaybookError
from callradar.agents.triggers import Triggers, load_triggers, trigger_category
from callradar.pipeline.records import Alert
from callradar.pipeline.settings import load_settings

SETTINGS = SimpleNamespace(risk_alert_threshold=0.6, risk_rearm_threshold=0.4, alert_cooldown_s=30.0)
NEG = [{"feature": "cust_neg_streak", "value": 4.0, "contribution": 1.4}]
SUP = [{"feature": "kw_supervisor_request", "value": 1.0, "contribution": 3.2}]


@pytest.fixture
def triggers():
    return Triggers(SETTINGS)


def feed(triggers, risks, call_id="c1", step=2.0, reasons=NEG, categories=()):
    """One score per risk, ``step`` seconds apart; returns the escalation_risk alerts with their times."""
    fired = []
    for i, risk in enumerate(risks):
        t = (i + 1) * step
        for alert in triggers.on_score(call_id, f"{call_id}/customer/{i}", t, risk, reasons, categories):
            if alert["alert_type"] == "escalation_risk":
                fired.append((t, alert))
    return fired


def test_crossing_fires_one_supervisor_alert_and_one_prompt_with_alert_fields(triggers):
    out = triggers.on_score("c1", "c1/customer/3", 12.0, 0.82, SUP, ["supervisor_request"])
    assert [a["alert_type"] for a in out] == ["escalation_risk", "assist_prompt"]
    names = {f.name for f in dataclasses.fields(Alert)}
    for doc in out:
        assert names <= set(doc)
        alert = Alert.from_dict(doc)  # what the trigger stage does
        assert alert.trigger == "supervisor_request" and alert.risk == 0.82
        assert alert.reasons == SUP and alert.prompt_id
    supervisor, prompt = out
    assert "0.82" in supervisor["message"] and "supervisor request" in supervisor["message"]
    assert prompt["message"] == triggers.playbook.prompts["supervisor_request"][0].text
    assert supervisor["alert_id"] != prompt["alert_id"]


def test_below_threshold_fires_nothing(triggers):
    assert feed(triggers, [0.1, 0.3, 0.59, 0.5]) == []


def test_oscillating_around_the_alert_threshold_fires_once(triggers):
    fired = feed(triggers, [0.59, 0.61] * 100)  # 400 s of flapping, never below re-arm
    assert len(fired) == 1


def test_wide_oscillation_fires_at_most_once_per_cooldown(triggers):
    fired = feed(triggers, [0.7, 0.3] * 60, step=2.0)  # crosses both thresholds every 2 s for 240 s
    times = [t for t, _ in fired]
    assert 2 <= len(times) <= 240 / 30 + 1
    assert all(b - a >= SETTINGS.alert_cooldown_s for a, b in zip(times, times[1:]))


def test_rearms_only_after_drop_and_cooldown(triggers):
    def score(t, risk, i):
        return triggers.on_score("c1", f"c1/customer/{i}", t, risk, NEG, [])

    assert score(10, 0.7, 0)  # fires
    assert not score(20, 0.8, 1)  # still high: disarmed
    assert not score(45, 0.7, 2)  # cooldown over but never dropped below 0.4
    assert not score(46, 0.5, 3)  # 0.5 is not below the re-arm threshold
    assert not score(47, 0.35, 4)  # dropped; cooldown over: re-armed, but below alert
    assert score(50, 0.65, 5)  # fires again

    assert not score(55, 0.2, 6)  # dropped, but only 5 s after the last firing
    assert not score(60, 0.7, 7)
    assert not score(79, 0.7, 8)  # 29 s: still cooling down
    assert score(80, 0.7, 9)  # 30 s and it dropped earlier: fires


def test_cooldown_uses_call_time_that_never_goes_backwards(triggers):
    assert triggers.on_score("c1", "u1", 100.0, 0.7, NEG, [])
    triggers.on_score("c1", "u2", 101.0, 0.1, NEG, [])
    # An agent utterance that ended earlier arrives late: it must not rewind the clock.
    assert not triggers.on_score("c1", "u3", 95.0, 0.7, NEG, [])
    assert triggers.on_score("c1", "u4", 131.0, 0.7, NEG, [])


def test_a_new_explicit_category_fires_once_while_disarmed(triggers):
    assert triggers.on_score("c1", "u1", 10, 0.7, NEG, [])  # negative_sentiment
    assert not triggers.on_score("c1", "u2", 12, 0.75, NEG, [])
    sup = triggers.on_score("c1", "u3", 14, 0.95, SUP, ["supervisor_request"])
    assert sup and sup[0]["trigger"] == "supervisor_request"
    assert not triggers.on_score("c1", "u4", 16, 0.96, SUP, ["supervisor_request"])  # same category
    assert not triggers.on_score("c1", "u5", 18, 0.90, SUP, [])  # from the reasons: same category
    legal = triggers.on_score("c1", "u6", 20, 0.97, SUP, ["legal_threat"])
    assert legal and legal[0]["trigger"] == "legal_threat"
    assert not triggers.on_score("c1", "u7", 22, 0.9, NEG, [])  # the fallback never bypasses


def test_one_utterance_with_two_requests_is_one_alert(triggers):
    """ "Third time calling, I want to make a formal complaint": one page, not a second one at the next utterance
    (the simulator's delivery call paged twice, the second time on the agent's reply when it came first)."""
    both = [{"feature": "kw_complaint", "value": 1.0, "contribution": 2.0},
            {"feature": "kw_repeat_contact", "value": 1.0, "contribution": 1.5}]
    first = triggers.on_score("c1", "c1/customer/4", 52.0, 0.99, both, ["complaint", "repeat_contact"],
                              speaker="customer", text="this is the third time calling i want to make a formal complaint")
    assert [a["trigger"] for a in first if a["alert_type"] == "escalation_risk"] == ["complaint"]
    assert triggers.on_score("c1", "c1/agent/5", 55.0, 0.99, list(reversed(both)), [], speaker="agent",
                             text="of course i'll log that now") == []
    assert triggers.on_score("c1", "c1/customer/5", 60.0, 0.95, list(reversed(both)), [], speaker="customer",
                             text="please make sure they do") == []
    legal = triggers.on_score("c1", "c1/customer/6", 62.0, 0.99, both, ["legal_threat"], speaker="customer",
                              text="or you'll hear from my lawyer")
    assert [a["trigger"] for a in legal if a["alert_type"] == "escalation_risk"] == ["legal_threat"]  # a new one


def test_a_new_request_is_news_next_to_one_already_alerted(triggers):
    """A complaint ranks above a repeat contact, but once the complaint has paged, "I already complained, this is
    the third time I'm calling" brings the repeat contact as news: it pages once, named for it."""
    complaint = [{"feature": "kw_complaint", "value": 1.0, "contribution": 2.0}]
    first = triggers.on_score("c1", "c1/customer/2", 20.0, 0.9, complaint, ["complaint"], speaker="customer",
                              text="i want to make a formal complaint")
    assert [a["trigger"] for a in first if a["alert_type"] == "escalation_risk"] == ["complaint"]
    again = triggers.on_score("c1", "c1/customer/3", 30.0, 0.95, complaint, ["complaint", "repeat_contact"],
                              speaker="customer", text="i already complained and this is the third time i'm calling")
    assert [a["trigger"] for a in again if a["alert_type"] == "escalation_risk"] == ["repeat_contact"]
    assert triggers.on_score("c1", "c1/customer/4", 35.0, 0.95, complaint, ["complaint", "repeat_contact"],
                             speaker="customer", text="a formal complaint and the third time") == []


def test_trigger_category_passes_over_what_was_alerted():
    reasons = [{"feature": "kw_complaint"}, {"feature": "kw_legal_threat"}]
    assert trigger_category(["complaint", "repeat_contact"], reasons) == "complaint"
    assert trigger_category(["complaint", "repeat_contact"], reasons, alerted={"complaint"}) == "repeat_contact"
    assert trigger_category([], reasons, alerted={"complaint"}) == "legal_threat"
    assert trigger_category(["complaint"], reasons, alerted={"complaint", "legal_threat"}) == "negative_sentiment"


def test_calls_are_independent_and_end_call_forgets(triggers):
    assert triggers.on_score("a", "a/1", 5, 0.7, NEG, [])
    assert triggers.on_score("b", "b/1", 5, 0.7, NEG, [])
    assert not triggers.on_score("a", "a/2", 6, 0.7, NEG, [])
    triggers.end_call("a")
    assert "a" not in triggers.calls
    assert triggers.on_score("a", "a/3", 7, 0.7, NEG, [])


def test_replay_gives_the_same_alerts_and_ids():
    risks = [0.2, 0.5, 0.7, 0.8, 0.3, 0.2, 0.9, 0.95, 0.1, 0.7] * 5
    first = feed(Triggers(SETTINGS), risks, step=7.0)
    second = feed(Triggers(SETTINGS), risks, step=7.0)
    assert first == second and len(first) > 1
    ids = [a["alert_id"] for _, a in first]
    assert len(set(ids)) == len(ids)
    t, alert = first[0]
    expected = hashlib.sha1(
        f"c1|escalation_risk|{alert['utterance_id']}|{alert['trigger']}".encode()
    ).hexdigest()[:16]
    assert alert["alert_id"] == expected


def test_trigger_category_priority():
    assert trigger_category(["complaint", "legal_threat", "supervisor_request"], NEG) == "legal_threat"
    assert trigger_category(["unknown_thing"], SUP) == "supervisor_request"  # from the reasons
    assert trigger_category([], NEG) == "negative_sentiment"
    assert trigger_category(None, None) == "negative_sentiment"


def test_prompts_are_not_repeated_within_a_call(triggers):
    first = triggers.on_score("c1", "u1", 10, 0.9, SUP, ["supervisor_request"])
    triggers.on_score("c1", "u2", 20, 0.1, NEG, [])
    second = triggers.on_score("c1", "u3", 45, 0.9, SUP, ["supervisor_request"])
    assert first[1]["prompt_id"] != second[1]["prompt_id"]


def prompt_yaml(prompt_id: str) -> str:
    """One playbook prompt with every good-practice part, as a YAML list item."""
    return (f"    - {{id: {prompt_id}, acknowledge: I'm sorry., summarise: 'So [summary]?', offer: 'I can [x].', "
            f"follow_up: 'By [time].', hand_over: Offer your supervisor.}}\n")


def test_category_without_prompts_falls_back_to_negative_sentiment_prompts():
    playbook = Playbook.from_yaml("prompts:\n  negative_sentiment:\n" + prompt_yaml("calm"))
    out = Triggers(SETTINGS, playbook).on_score("c1", "u1", 1, 0.9, SUP, ["cancellation"])
    assert out[1]["trigger"] == "cancellation" and out[1]["prompt_id"] == "calm"


def test_bundled_playbook_covers_every_category_with_unique_ids():
    playbook = load_triggers(load_settings({})).playbook
    assert set(playbook.prompts) == set(TRIGGER_CATEGORIES)
    ids = [p.id for prompts in playbook.prompts.values() for p in prompts]
    assert len(ids) == len(set(ids))
    assert all(len(p.text) > 80 for prompts in playbook.prompts.values() for p in prompts)


def test_thresholds_are_validated():
    with pytest.raises(ValueError, match="threshold"):
        Triggers(SimpleNamespace(risk_alert_threshold=0.3, risk_rearm_threshold=0.5, alert_cooldown_s=1))
    with pytest.raises(ValueError, match="cooldown"):
        Triggers(SimpleNamespace(risk_alert_threshold=0.6, risk_rearm_threshold=0.4, alert_cooldown_s=-1))


GOOD_PROMPT = prompt_yaml("a")


@pytest.mark.parametrize(
    "text, message",
    [
        ("prompts: [unclosed\n", "my-playbook.yaml: line 2, column 1: not valid YAML"),
        ("just a string\n", "'prompts' mapping"),
        ("version: 3\nprompts:\n  negative_sentiment:\n" + GOOD_PROMPT, "line 1: version 3 is not supported"),
        ("version: 1\nprompts:\n  negative_sentiment:\n" + GOOD_PROMPT, "line 1: version 1 .* no longer read"),
        ("prompts:\n  negative_sentimnet:\n" + GOOD_PROMPT, "negative_sentimnet: unknown trigger category"),
        ("prompts:\n  negative_sentiment: []\n", "non-empty list"),
        ("prompts:\n  negative_sentiment:\n    - id: a\n      acknowledge: Sorry.\n",
         r"line 3: prompts.negative_sentiment\[0\]: 'summarise' is required: the issue summarised back"),
        ("prompts:\n  negative_sentiment:\n" + GOOD_PROMPT.replace("'By [time].'", "''"),
         r"line 3: prompts.negative_sentiment\[0\].follow_up: expected a follow-up time"),
        ("prompts:\n  negative_sentiment:\n    - id: a\n      text: hi\n", "'text' is split into acknowledge"),
        ("prompts:\n  negative_sentiment:\n    - id: a\n      txet: hi\n", "unknown key.*txet"),
        ("prompts:\n  negative_sentiment:\n    - just text\n", "expected a mapping"),
        ("prompts:\n  negative_sentiment:\n" + GOOD_PROMPT + GOOD_PROMPT, "'a' is used twice"),
        ("prompts:\n  complaint:\n" + GOOD_PROMPT, "negative_sentiment is required"),
    ],
)
def test_bad_playbook_is_refused_naming_the_problem(text, message):
    with pytest.raises(PlaybookError, match=message):
        Playbook.from_yaml(text, source="my-playbook.yaml")


def test_missing_playbook_file_is_a_clear_error(tmp_path):
    with pytest.raises(PlaybookError, match="cannot read playbook"):
        Playbook.load(tmp_path / "nope.yaml")


def test_the_agent_sees_the_words_in_quotes_then_the_note_and_the_hand_over():
    text = ("prompts:\n  negative_sentiment:\n    - id: a\n      acknowledge: I'm sorry.\n      summarise: So [x]?\n"
            "      offer: >-\n        I can\n        [y].\n      follow_up: By [time].\n      note: Slow down.\n"
            "      hand_over: Offer your supervisor.\n")
    [prompt] = Playbook.from_yaml(text).prompts["negative_sentiment"]
    assert prompt.text == '"I\'m sorry. So [x]? I can [y]. By [time]." Slow down. Offer your supervisor.'


@pytest.mark.parametrize("env, content, message", [
    ("CALLRADAR_ESCALATION_MATRIX", "hierarchy: []\nrules: {}\n", "line 1: hierarchy: expected a non-empty list"),
    ("CALLRADAR_PLAYBOOK", "prompts:\n  negative_sentiment:\n    - id: a\n      acknowledge: Sorry.\n",
     r"line 3: prompts.negative_sentiment\[0\]: 'summarise' is required"),
])
def test_worker_refuses_a_bad_config_file_in_one_line_before_kafka_or_models(tmp_path, monkeypatch, capsys,
                                                                             env, content, message):
    import re

    import callradar.pipeline.kafka.clients as kafka_io
    from callradar.pipeline.cli.main import main

    def no_broker(*args, **kwargs):
        raise AssertionError("the worker waited for the broker before checking its config files")

    monkeypatch.setattr(kafka_io, "wait_for_broker", no_broker)
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    monkeypatch.setenv(env, str(bad))
    assert main(["worker", "--stages", "trigger"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"callradar worker: error: {bad}: ") and re.search(message, err), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# ---------------------------------------------------------------- confirmation (CALLRADAR_ALERT_CONFIRM_UTTERANCES)

CONFIRM2 = SimpleNamespace(**vars(SETTINGS), alert_confirm_utterances=2)
WORDS = "it is not making any noise yet"


def say(triggers, i, speaker, risk, text=WORDS, reasons=NEG, categories=()):
    """One scored utterance; returns the kinds of alert it fired."""
    out = triggers.on_score("c1", f"c1/{speaker}/{i}", float(i), risk, reasons, categories, speaker=speaker, text=text)
    return [a["trigger"] for a in out if a["alert_type"] == "escalation_risk"]


def test_one_misread_customer_utterance_pages_nobody_when_confirmation_is_two():
    t = Triggers(CONFIRM2)
    assert say(t, 1, "customer", 0.85) == []  # the spike
    assert say(t, 2, "agent", 0.85) == []  # the agent's reply carries the same risk: it does not confirm
    assert say(t, 3, "customer", 0.85, text="um") == []  # nor does a noise fragment
    assert say(t, 4, "customer", 0.32) == []  # the next real words bring the risk down
    assert say(t, 5, "customer", 0.7) == []  # a new spike starts counting again


def test_risk_held_on_two_customer_utterances_fires_on_the_second():
    t = Triggers(CONFIRM2)
    assert say(t, 1, "customer", 0.7) == []
    assert say(t, 2, "agent", 0.7) == []
    assert say(t, 3, "customer", 0.75) == ["negative_sentiment"]


def test_a_keyword_fires_at_once_whatever_the_confirmation():
    t = Triggers(CONFIRM2)
    assert say(t, 1, "customer", 0.9, text="get me a manager", reasons=SUP,
               categories=["supervisor_request"]) == ["supervisor_request"]
    t = Triggers(CONFIRM2)  # a keyword earlier in the call, named in the reasons, counts too
    assert say(t, 1, "customer", 0.9, reasons=SUP) == ["supervisor_request"]


def test_the_agents_keywords_neither_skip_confirmation_nor_name_the_alert():
    """An agent offering "my supervisor" or asking "you want to cancel?" is not the customer asking."""
    t = Triggers(CONFIRM2)
    assert say(t, 1, "customer", 0.85) == []  # a sentiment-only crossing, not yet confirmed
    assert say(t, 2, "agent", 0.85, text="i can get my supervisor for you",
               categories=["supervisor_request"]) == []
    assert say(t, 3, "customer", 0.85) == ["negative_sentiment"]  # confirmed by the customer, named by sentiment
    assert say(t, 4, "agent", 0.9, text="so you want to cancel the account", categories=["cancellation"]) == []
    assert say(t, 5, "customer", 0.9, text="yes cancel it", categories=["cancellation"]) == ["cancellation"]


def test_confirmation_of_one_fires_on_the_first_crossing_even_on_an_agent_utterance():
    t = Triggers(SimpleNamespace(**vars(SETTINGS), alert_confirm_utterances=1))
    assert say(t, 1, "agent", 0.85) == ["negative_sentiment"]


def test_confirmation_below_one_is_refused():
    with pytest.raises(ValueError, match="confirmation"):
        Triggers(SimpleNamespace(**vars(SETTINGS), alert_confirm_utterances=0))


def test_the_confirmation_count_survives_a_restart():
    t = Triggers(CONFIRM2)
    assert say(t, 1, "customer", 0.8) == []
    restored = Triggers(CONFIRM2)
    restored.restore("c1", t.snapshot("c1"))
    assert say(restored, 2, "customer", 0.8) == ["negative_sentiment"]


def test_the_shipped_default_confirms_on_two_customer_utterances():
    assert load_settings().alert_confirm_utterances == 2
    assert Triggers(load_settings()).confirm_utterances == 2


def test_the_intent_head_reading_a_request_fires_at_once():
    t = Triggers(CONFIRM2)
    out = t.on_score("c1", "c1/customer/1", 1.0, 0.9, NEG, [], speaker="customer",
                     text="you aren't helping help me speak with a person", intent=0.8)
    assert [a["trigger"] for a in out if a["alert_type"] == "escalation_risk"] == ["negative_sentiment"]
    t = Triggers(CONFIRM2)  # not on a noise fragment, nor on the agent's words
    assert t.on_score("c1", "c1/customer/1", 1.0, 0.9, NEG, [], speaker="customer", text="Bye", intent=0.8) == []
    assert t.on_score("c1", "c1/agent/1", 2.0, 0.9, NEG, [], speaker="agent",
                      text="let me transfer you to my supervisor", intent=0.8) == []
