"""The assist playbook and the trigger categories it is keyed by.

Below triggers, assist and routing, which all use the categories and the
prompts, so none of them has to import another for these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from callradar.agents.yaml_lines import Checker, ConfigError, load_yaml
from callradar.models.call_features import KEYWORD_CATEGORIES

FALLBACK_CATEGORY = "negative_sentiment"
# Priority when one utterance hits several categories: the most serious first.
TRIGGER_CATEGORIES = ("legal_threat", "supervisor_request", "cancellation", "complaint",
                      "repeat_contact", FALLBACK_CATEGORY)
assert set(TRIGGER_CATEGORIES) == {*KEYWORD_CATEGORIES, FALLBACK_CATEGORY}

DEFAULT_PLAYBOOK = Path(__file__).resolve().parent / "playbook.yaml"
PLAYBOOK_VERSION = 2  # 2: each prompt in its good-practice parts (1 had one free-text 'text')
# Good practice, one required part each (agents/playbook.yaml): what each part is for, in the words
# of the errors. The spoken parts go in quotes, in this order; then the note and the hand-over.
PRACTICE = {
    "acknowledge": "words to acknowledge the customer and empathise",
    "summarise": "the issue summarised back, in the customer's words",
    "offer": "what you can do (positive language), with the options within your authority",
    "follow_up": "a follow-up time: when the customer will hear next",
    "hand_over": "when to hand over, and to whom",
}
SPOKEN = ("acknowledge", "summarise", "offer", "follow_up")
PROMPT_KEYS = {"id", "cues", "note", *PRACTICE}


class PlaybookError(ConfigError):
    """A playbook file that cannot be used; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Prompt:
    """One playbook prompt, in its good-practice parts (see PRACTICE)."""

    id: str
    acknowledge: str
    summarise: str
    offer: str
    follow_up: str
    hand_over: str
    cues: tuple[str, ...] = ()  # what a customer says when this prompt fits (semantic match)
    note: str = ""  # how to say it, what not to say

    @property
    def text(self) -> str:
        """What the agent sees (the alert's ``message``): the words to say in quotes, then what to do."""
        said = " ".join(getattr(self, part) for part in SPOKEN)
        return " ".join(part for part in (f'"{said}"', self.note, self.hand_over) if part)


class Playbook:
    """Prompts per trigger category, validated on load."""

    def __init__(self, prompts: dict[str, tuple[Prompt, ...]]):
        self.prompts = prompts

    @classmethod
    def load(cls, path: str | Path | None = None) -> Playbook:
        path = Path(path) if path is not None else DEFAULT_PLAYBOOK
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PlaybookError(f"cannot read playbook {path}: {exc}") from None
        return cls.from_yaml(text, source=str(path))

    @classmethod
    def from_yaml(cls, text: str, source: str = "playbook") -> Playbook:
        try:
            doc = load_yaml(text, source)
        except ConfigError as exc:
            raise PlaybookError(str(exc)) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("prompts"), dict):
            raise PlaybookError(f"{source}: expected a mapping with a 'prompts' mapping (category -> list of prompts)")
        check = Checker(source, PlaybookError)
        doc = check.top(doc, allowed={"version", "prompts"}, required=("prompts",))
        version = doc.get("version", PLAYBOOK_VERSION)
        if version == 1:
            check.fail(doc, "version", "version 1 (one 'text' per prompt) is no longer read: give each prompt "
                       f"{', '.join(PRACTICE)} (and optionally note) and set version: {PLAYBOOK_VERSION}; "
                       "see agents/playbook.yaml")
        if version != PLAYBOOK_VERSION:
            check.fail(doc, "version", f"version {version!r} is not supported (expected {PLAYBOOK_VERSION})")
        categories = doc["prompts"]
        prompts: dict[str, tuple[Prompt, ...]] = {}
        seen_ids: set[str] = set()
        for category, items in categories.items():
            where = f"prompts.{category}"
            if category not in TRIGGER_CATEGORIES:
                check.fail(categories, category,
                           f"{where}: unknown trigger category; expected one of {', '.join(TRIGGER_CATEGORIES)}")
            if not isinstance(items, list) or not items:
                check.fail(categories, category, f"{where}: expected a non-empty list of prompts")
            prompts[category] = tuple(_prompt(check, items, i, f"{where}[{i}]", seen_ids) for i in range(len(items)))
        if FALLBACK_CATEGORY not in prompts:
            check.fail(doc, "prompts", f"prompts.{FALLBACK_CATEGORY} is required: it is the fallback for every trigger")
        return cls(prompts)

    def prompts_for(self, category: str) -> tuple[Prompt, ...]:
        return self.prompts.get(category) or self.prompts[FALLBACK_CATEGORY]


def _prompt(check: Checker, items: list, i: int, where: str, seen_ids: set[str]) -> Prompt:
    item = items[i]
    if not isinstance(item, dict):
        check.fail(items, i, f"{where}: expected a mapping with 'id' and the parts {', '.join(PRACTICE)}")
    extra = sorted(map(str, set(item) - PROMPT_KEYS))
    if extra:
        hint = (f"; 'text' is split into {', '.join(PRACTICE)} since playbook version 2" if "text" in extra
                else f"; a prompt has id, {', '.join(PRACTICE)}, and optionally note and cues")
        check.fail(item, extra[0], f"{where}: unknown key(s) {', '.join(extra)}{hint}")
    if not isinstance(item.get("id"), str) or not item["id"].strip():
        check.fail(item, "id", f"{where}: 'id' must be a non-empty string")
    for part, meaning in PRACTICE.items():
        if part not in item:
            check.fail(items, i, f"{where}: '{part}' is required: {meaning}")
        if not isinstance(item[part], str) or not item[part].strip():
            check.fail(item, part, f"{where}.{part}: expected {meaning}, as a non-empty string")
    note = item.get("note", "")
    if not isinstance(note, str):
        check.fail(item, "note", f"{where}.note: expected a string")
    if item["id"] in seen_ids:
        check.fail(item, "id", f"{where}: prompt id {item['id']!r} is used twice")
    seen_ids.add(item["id"])
    cues = item.get("cues", [])
    if not isinstance(cues, list) or not all(isinstance(c, str) and c.strip() for c in cues):
        check.fail(item, "cues", f"{where}.cues: expected a list of things a customer might say")
    parts = {part: " ".join(item[part].split()) for part in PRACTICE}
    return Prompt(item["id"].strip(), **parts, cues=tuple(c.strip() for c in cues), note=" ".join(note.split()))
