"""Assist playbook and knowledge snippets: semantic choice, no repeats within the window, retrieval.

The semantic tests use the real offline encoder (all-MiniLM-L6-v2 from its PyPI
package) with customer lines that share no cue words with the prompt they should
pick, so only meaning can match them.
"""

from __future__ import annotations

import re

import pytest

from callradar.agents.assist import Assist
from callradar.agents.knowledge import KnowledgeBase, KnowledgeError, parse_markdown
from callradar.agents.playbook import PRACTICE, Playbook, PlaybookError
from callradar.agents.triggers import Triggers
from callradar.models.encoder import load_encoder


class CountingEncoder:
    """The real encoder, counting the texts it embeds."""

    def __init__(self, encoder):
        self.encoder, self.calls, self.texts = encoder, 0, 0

    def encode(self, texts):
        self.calls += 1
        self.texts += len(texts)
        return self.encoder.encode(texts)


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def knowledge(encoder):
    return KnowledgeBase.load().embed(encoder)


@pytest.fixture
def assist(encoder, knowledge):
    return Assist(Playbook.load(), encoder, knowledge, repeat_window_s=300)


def say(assist, call_id, *lines):
    for line in lines:
        assist.hear(call_id, "customer", line)


@pytest.mark.parametrize("customer, expected", [
    ("You took my payment two times this month and I still haven't got that money back, so I'm off to a rival.",
     "cancellation-fix-the-money-first"),
    ("I've decided. No offers please, just end the service today.", "cancellation-respect-the-decision"),
])
def test_prompt_follows_what_the_customer_said(assist, customer, expected):
    say(assist, "c1", customer)
    suggestion = assist.suggest("c1", "cancellation", now=30.0)
    assert suggestion.prompt.id == expected
    assert suggestion.similarity is not None and suggestion.similarity > 0.3


def test_agent_words_are_not_what_the_prompt_follows(assist):
    say(assist, "c1", "I've decided. No offers please, just end the service today.")
    assist.hear("c1", "agent", "I can refund the double payment right away.")
    assert assist.suggest("c1", "cancellation", now=30.0).prompt.id == "cancellation-respect-the-decision"


def test_a_prompt_is_not_repeated_within_the_window(assist):
    say(assist, "c1", "I want to speak to your supervisor.")
    first = assist.suggest("c1", "supervisor_request", now=10.0).prompt.id
    seen = {first}
    for t in (40.0, 70.0):  # every supervisor prompt once, each the best of those left
        seen.add(assist.suggest("c1", "supervisor_request", now=t).prompt.id)
    assert seen == {p.id for p in assist.playbook.prompts["supervisor_request"]}
    # all three shown within the window: a fresh general de-escalation prompt beats a repeat
    general = assist.suggest("c1", "supervisor_request", now=100.0).prompt.id
    assert general in {p.id for p in assist.playbook.prompts["negative_sentiment"]}
    # the window is per call
    assert assist.suggest("c2", "supervisor_request", now=100.0).prompt.id in seen
    # once the window has passed, the best prompt may come back
    assert assist.suggest("c1", "supervisor_request", now=10.0 + 300.0).prompt.id == first


def test_when_everything_was_shown_the_least_recent_comes_back():
    parts = "acknowledge: Sorry., summarise: '[x]?', offer: 'I can [y].', follow_up: 'By [time].', hand_over: Supervisor."
    playbook = Playbook.from_yaml(f"prompts:\n  negative_sentiment:\n    - {{id: a, {parts}}}\n    - {{id: b, {parts}}}\n")
    assist = Assist(playbook, repeat_window_s=300)
    assert [assist.suggest("c1", "complaint", now=t).prompt.id for t in (1, 2, 3, 4)] == ["a", "b", "a", "b"]


def test_without_an_encoder_prompts_go_in_playbook_order_and_no_snippet():
    assist = Assist(Playbook.load(), encoder=None, knowledge=KnowledgeBase.load())
    assist.hear("c1", "customer", "My refund never arrived.")
    suggestion = assist.suggest("c1", "cancellation", now=5.0)
    assert suggestion.prompt.id == "cancellation-understand-why"
    assert suggestion.snippet == {} and suggestion.similarity is None


def test_cues_are_embedded_once_and_each_utterance_at_most_once(encoder, knowledge):
    counting = CountingEncoder(encoder)
    assist = Assist(Playbook.load(), counting, knowledge)
    assert counting.calls == 1  # every cue of every prompt in one pass, at start-up
    for i in range(50):
        assist.hear("c1", "customer", f"utterance number {i}")
    assert counting.calls == 1  # hearing is a deque append, no model
    assist.suggest("c1", "complaint", now=10.0)
    assert counting.calls == 2 and counting.texts - len(_all_cues(assist)) == 6  # the remembered context
    assist.hear("c1", "customer", "one more")
    assist.suggest("c1", "complaint", now=20.0)
    assert counting.calls == 3 and counting.texts - len(_all_cues(assist)) == 7  # only the new one


def _all_cues(assist):
    return [c for ps in assist.playbook.prompts.values() for p in ps for c in (p.cues or (p.text,))]


def test_triggers_attach_prompt_and_snippet_to_the_assist_alert(assist):
    triggers = Triggers(_Thresholds(), assist=assist)
    triggers.on_score("c9", "c9/customer/0", 5.0, 0.2, [], [], speaker="customer",
                      text="My internet keeps cutting out every single evening and I work from home.")
    out = triggers.on_score("c9", "c9/customer/1", 12.0, 0.9, [], ["supervisor_request"], speaker="customer",
                            text="Nobody ever fixes it. Put me through to your boss.")
    supervisor, prompt = out
    assert prompt["alert_type"] == "assist_prompt" and prompt["prompt_id"].startswith("supervisor-")
    assert prompt["snippet"]["id"].startswith("outages#") and prompt["snippet"]["score"] >= 0.4
    assert supervisor["snippet"] == {} and supervisor["prompt_id"] == prompt["prompt_id"]


class _Thresholds:
    risk_alert_threshold, risk_rearm_threshold, alert_cooldown_s = 0.6, 0.4, 30.0


# ---------------------------------------------------------------- knowledge snippets


@pytest.mark.parametrize("customer, expected", [
    ("The wifi keeps cutting out every night, I've switched the box off and on loads of times.",
     "outages#connection-drops-that-keep-coming-back"),
    ("I've been charged twice for my monthly plan, and I'd like the extra payment refunded.",
     "refunds#duplicate-or-double-charges"),
    ("My bill this month is about forty dollars higher than usual, and I want to know why.",
     "billing-disputes#a-bill-higher-than-usual"),
    ("Can the technician come on a different day? I won't be in on Thursday.",
     "appointment-changes#moving-an-engineer-visit-or-delivery"),
    ("How much notice do I have to give, and is there a fee to leave my contract early?",
     "cancellations#notice-periods-and-fees"),
])
def test_snippet_search_finds_the_section_by_meaning(encoder, knowledge, customer, expected):
    found = knowledge.search(encoder.encode([customer])[0], min_score=0.4)
    assert found is not None, f"no snippet for {customer!r}"
    assert found[0].id == expected, f"{customer!r} -> {found[0].id} ({found[1]:.2f})"


def test_off_topic_talk_gets_no_snippet(encoder, knowledge):
    assert knowledge.search(encoder.encode(["Lovely weather for the cricket this weekend."])[0], 0.4) is None


def test_users_drop_in_their_own_files(tmp_path, encoder):
    (tmp_path / "pets.md").write_text("# Pet insurance\n\n## Vet bills\nClaims for vet bills are paid in 5 days.\n\n"
                                      "## Pre-existing conditions\nNot covered in the first year.\n")
    (tmp_path / "notes.txt").write_text("not Markdown: ignored")
    kb = KnowledgeBase.load(tmp_path).embed(encoder)
    assert [s.id for s in kb.snippets] == ["pets#vet-bills", "pets#pre-existing-conditions"]
    assert kb.snippets[0].title == "Pet insurance: Vet bills" and kb.snippets[0].source == "pets.md"
    found = kb.search(encoder.encode(["When will you pay for my dog's vet treatment?"])[0])
    assert found[0].id == "pets#vet-bills"


def test_markdown_without_sections_is_one_snippet_and_editor_notes_are_dropped():
    [snippet] = parse_markdown("<!-- internal: update yearly -->\n# Opening hours\n\nWe are open 8 to 8.\n", "hours.md")
    assert (snippet.id, snippet.title, snippet.text) == ("hours", "Opening hours", "We are open 8 to 8.")


@pytest.mark.parametrize("files, problem", [
    ({}, "has no Markdown"),
    ({"a.md": "## Same\nx\n## Same\ny\n"}, "two sections are headed 'Same'"),
    ({"a.md": "## Long\n" + "word " * 400}, "section 'Long' is 1999 characters; keep a snippet under 1200"),
    ({"a.md": b"\xff\xfe not utf-8"}, "cannot read knowledge file"),
])
def test_bad_knowledge_folders_are_refused_clearly(tmp_path, files, problem):
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    with pytest.raises(KnowledgeError, match=problem):
        KnowledgeBase.load(tmp_path)


def test_missing_knowledge_folder_names_the_setting(tmp_path):
    with pytest.raises(KnowledgeError, match="CALLRADAR_KNOWLEDGE_DIR"):
        KnowledgeBase.load(tmp_path / "nope")


# ---------------------------------------------------------------- playbook format


PLACEHOLDER = re.compile(r"\[[^\]]+\]")  # what the agent fills in: [summary], [time], ...
# Per good-practice part, what each bundled prompt's text for it must show (the loader already
# refuses a prompt without the part; these catch a part that is there but does not do its job).
GOOD_PRACTICE = {
    "acknowledge": ("empathy", re.compile(r"\b(sorry|understand|hear|thank|frustrat|patient|of course)", re.I)),
    "summarise": ("the issue to read back, as a [placeholder]", PLACEHOLDER),
    "offer": ("positive language: what I can do", re.compile(r"\b(I can|I'll|I'm going to)\b")),
    "follow_up": ("a time: [time], [day], [date] or a fixed one",
                  re.compile(r"\[(time|day|date)\]|\bwithin \d+ (minutes|hours)\b")),
    "hand_over": ("who takes over", re.compile(r"supervisor|retention|specialist|transfer|another team", re.I)),
}


def all_prompts():
    return [p for prompts in Playbook.load().prompts.values() for p in prompts]


@pytest.mark.parametrize("prompt", all_prompts(), ids=lambda p: p.id)
def test_each_bundled_prompt_covers_every_good_practice_part(prompt):
    assert set(GOOD_PRACTICE) == set(PRACTICE)
    for part, (what, pattern) in GOOD_PRACTICE.items():
        assert pattern.search(getattr(prompt, part)), f"{prompt.id}.{part}: {what}: {getattr(prompt, part)!r}"
    options = PLACEHOLDER.findall(prompt.offer)
    assert any("within your authority" in o for o in options), f"{prompt.id}.offer: the options within your authority"
    assert prompt.text.startswith(f'"{prompt.acknowledge}') and prompt.text.endswith(prompt.hand_over)


def test_bundled_categories_give_the_semantic_match_a_choice():
    for category, prompts in Playbook.load().prompts.items():
        assert len(prompts) >= 2, f"{category}: give the semantic match a choice"


def test_a_prompt_without_a_follow_up_time_is_refused_with_the_line():
    text = ("prompts:\n  negative_sentiment:\n    - id: a\n      acknowledge: Sorry.\n      summarise: So [x]?\n"
            "      offer: I can [y].\n      hand_over: Offer your supervisor.\n")
    with pytest.raises(PlaybookError, match=r"pb.yaml: line 3: prompts.negative_sentiment\[0\]: 'follow_up' is "
                                            r"required: a follow-up time"):
        Playbook.from_yaml(text, source="pb.yaml")


def test_bad_cues_are_refused_with_the_line():
    text = ("prompts:\n  negative_sentiment:\n    - id: a\n      acknowledge: Sorry.\n      summarise: So [x]?\n"
            "      offer: I can [y].\n      follow_up: By [time].\n      hand_over: Offer your supervisor.\n"
            "      cues: just one string\n")
    with pytest.raises(PlaybookError, match=r"pb.yaml: line 9: prompts.negative_sentiment\[0\].cues: expected a list"):
        Playbook.from_yaml(text, source="pb.yaml")


def test_an_elevated_risk_embeds_ahead_so_the_firing_embeds_only_its_own_utterance(encoder, knowledge):
    counting = CountingEncoder(encoder)
    triggers = Triggers(_Thresholds(), assist=Assist(Playbook.load(), counting, knowledge))
    at_start = counting.texts
    triggers.on_score("c1", "c1/customer/0", 5.0, 0.1, [], [], speaker="customer", text="Hello there.")
    assert counting.texts == at_start  # calm: no model
    triggers.on_score("c1", "c1/customer/1", 10.0, 0.5, [], [], speaker="customer", text="This is getting silly.")
    assert counting.texts == at_start + 2  # elevated: what was said so far
    out = triggers.on_score("c1", "c1/customer/2", 15.0, 0.9, [], ["supervisor_request"], speaker="customer",
                            text="Get me your manager.")
    assert out and counting.texts == at_start + 3  # the firing: its own utterance only
