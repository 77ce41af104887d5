"""Keyword rules: ASR-garbled phrases still hit, ordinary sentences stay quiet, bad YAML is refused."""

import pytest

from models.keywords import KeywordRules, KeywordRulesError, edit_distance, normalise, phonetic_key


@pytest.fixture(scope="module")
def rules():
    return KeywordRules.from_yaml()


@pytest.mark.parametrize(
    "text, category",
    [
        ("I want to speak to your supervisor right now", "supervisor_request"),
        ("can i speak to the super visor", "supervisor_request"),
        ("give me your supervisors name", "supervisor_request"),
        ("let me talk to the manger", "supervisor_request"),
        ("this needs to be escalated", "supervisor_request"),
        ("get me someone in charge", "supervisor_request"),
        ("i want to cancel my a count", "cancellation"),
        ("I'm switching providers", "cancellation"),
        ("i'll take my business elsewhere", "cancellation"),
        ("i'm calling my lawyers", "legal_threat"),
        ("i'll get a tourney involved", "legal_threat"),
        ("I'm going to sue you", "legal_threat"),
        ("i want to file a complaint", "complaint"),
        ("i'll go to the ombudsman", "complaint"),
        ("this is the 3rd time calling", "repeat_contact"),
        ("i keep calling and nobody calls back", "repeat_contact"),
        ("this is unacceptable", "anger"),
    ],
)
def test_hits_survive_asr_errors(rules, text, category):
    assert category in {h.category for h in rules.match(text)}


def test_fuzzy_scores_below_exact(rules):
    exact = rules.match("put your manager on")[0]
    fuzzy = rules.match("put your manger on")[0]
    assert exact.score == 1.0 and 0.5 < fuzzy.score < 1.0
    assert fuzzy.phrase == "manager" and fuzzy.matched == "manger"


@pytest.mark.parametrize(
    "text",
    [
        "can you check my order status",
        "I can manage that for you",
        "we managed to fix the issue",
        "we are fully compliant with the regulations",
        "there is another layer of protection",
        "I'll see you on Tuesday",
        "is that acceptable to you",
        "unless you want the premium plan",
        "thank you for calling, how can I help you today",
        "my account number is 4 5 6 7",
        "I'll cancel the appointment for Friday then",
        "I used the app yesterday and it was fine",
        "it's a regular service appointment",
        "let me look at your order history",
        "can I pay with a different card",
        "the car needs an oil change and the tires rotated",
        "we were singing along in the car",
        "the swing set arrived broken",
        "I think he was faking it",
        "we could see you on Monday at ten",
    ],
)
def test_ordinary_sentences_do_not_hit(rules, text):
    assert rules.match(text) == ()


def test_one_hit_per_overlapping_span(rules):
    hits = rules.match("i want to file a complaint")
    assert [h.category for h in hits] == ["complaint"]


def test_empathy(rules):
    assert rules.empathy("your order shipped on Monday") == 0.0
    assert rules.empathy("I don't understand") == 0.0
    one = rules.empathy("I'm sorry about that")
    two = rules.empathy("I understand, and I'm so sorry to hear that")
    assert 0.4 < one < two <= 1.0


def test_helpers():
    assert normalise("I'm SORRY, can't do 3rd") == ["i", "am", "sorry", "cannot", "do", "third"]
    assert normalise("I\u2019m caf\u00e9") == ["i", "am", "cafe"]
    assert edit_distance("manager", "manger", 2) == 1
    assert edit_distance("abcdef", "uvwxyz", 2) == 3  # gives up past the limit
    assert phonetic_key("attorney") == phonetic_key("atourney")


@pytest.mark.parametrize(
    "content, message",
    [
        ("categories: [1, 2", "not valid YAML"),
        ("just a string", "categories"),
        ("categories:\n  x:\n    phrases: []\n", "empty"),
        ("categories:\n  x:\n    phrases: [a b]\n    intent_weight: 3\n", "intent_weight"),
        ("categories:\n  x:\n    phrase: [a]\n", "unknown keys"),
        ("categories:\n  x:\n    phrases: [ok]\nextra: 1\n", "unknown top-level"),
    ],
)
def test_bad_yaml_is_refused_clearly(tmp_path, content, message):
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    with pytest.raises(KeywordRulesError, match=message):
        KeywordRules.from_yaml(path)


def test_missing_file(tmp_path):
    with pytest.raises(KeywordRulesError, match="cannot read"):
        KeywordRules.from_yaml(tmp_path / "nope.yaml")
