"""Triggers: turn each scored utterance's call risk into supervisor alerts and agent prompts.

Per call, a small hysteresis state machine keeps one escalating call from
flooding the alerts topic:

- armed (the start): risk >= alert threshold fires an ``escalation_risk`` alert
  for the supervisor and an ``assist_prompt`` for the agent, then disarms;
- disarmed: nothing fires again until the risk has fallen below the re-arm
  threshold AND ``cooldown_s`` of call time has passed since the last firing;
- one exception: while disarmed and still above the threshold, an explicit
  keyword category not yet alerted in this episode (say a legal threat after a
  supervisor request) fires once, because it is news to the supervisor. So each
  (call, category) alerts at most once between re-arms, and the fallback
  ``negative_sentiment`` never bypasses the hysteresis.

Time is call time from the utterances' end times (the latest seen, so channel
interleaving cannot move it backwards), never the wall clock: replaying the same
scores gives the same alerts with the same ids.

The playbook (agents/playbook.yaml) supplies the prompt for the trigger
category. Later: an escalation matrix fills ``route``, and prompts are chosen by
the customer's last utterances too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from models.call_features import KEYWORD_CATEGORIES

FALLBACK_CATEGORY = "negative_sentiment"
# Priority when one utterance hits several categories: the most serious first.
TRIGGER_CATEGORIES = ("legal_threat", "supervisor_request", "cancellation", "complaint",
                      "repeat_contact", FALLBACK_CATEGORY)
assert set(TRIGGER_CATEGORIES) == {*KEYWORD_CATEGORIES, FALLBACK_CATEGORY}

DEFAULT_PLAYBOOK = Path(__file__).resolve().parent / "playbook.yaml"
PROMPT_KEYS = {"id", "text"}


def alert_id(call_id: str, alert_type: str, utterance_id: str, trigger: str) -> str:
    """Stable id: the same input always gives the same id, so replays can be deduplicated."""
    return hashlib.sha1(f"{call_id}|{alert_type}|{utterance_id}|{trigger}".encode()).hexdigest()[:16]


def trigger_category(keyword_categories, reasons) -> str:
    """The category an alert is about: this utterance's keywords, else the call's, else sentiment.

    A keyword heard earlier in the call shows up in the reasons as ``kw_<category>``
    when it is what keeps the risk high.
    """
    heard = set(keyword_categories or ())
    for category in TRIGGER_CATEGORIES:
        if category in heard:
            return category
    for reason in reasons or ():
        feature = reason.get("feature", "") if isinstance(reason, dict) else ""
        if feature.startswith("kw_") and feature[3:] in KEYWORD_CATEGORIES:
            return feature[3:]
    return FALLBACK_CATEGORY


# ---------------------------------------------------------------- playbook


class PlaybookError(ValueError):
    """A playbook file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str


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
        def fail(problem: str):
            raise PlaybookError(f"{source}: {problem}")

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            fail(f"{where}not valid YAML: {getattr(exc, 'problem', None) or exc}")
        if not isinstance(doc, dict) or not isinstance(doc.get("prompts"), dict):
            fail("expected a mapping with a 'prompts' mapping (category -> list of prompts)")
        if doc.get("version", 1) != 1:
            fail(f"version {doc.get('version')!r} is not supported (expected 1)")
        prompts: dict[str, tuple[Prompt, ...]] = {}
        seen_ids: set[str] = set()
        for category, items in doc["prompts"].items():
            where = f"prompts.{category}"
            if category not in TRIGGER_CATEGORIES:
                fail(f"{where}: unknown trigger category; expected one of {', '.join(TRIGGER_CATEGORIES)}")
            if not isinstance(items, list) or not items:
                fail(f"{where}: expected a non-empty list of prompts")
            out = []
            for i, item in enumerate(items):
                where_i = f"{where}[{i}]"
                if not isinstance(item, dict):
                    fail(f"{where_i}: expected a mapping with 'id' and 'text'")
                extra = sorted(map(str, set(item) - PROMPT_KEYS))
                if extra:
                    fail(f"{where_i}: unknown key(s) {', '.join(extra)}; a prompt has only id and text")
                for key in ("id", "text"):
                    if not isinstance(item.get(key), str) or not item[key].strip():
                        fail(f"{where_i}: '{key}' must be a non-empty string")
                if item["id"] in seen_ids:
                    fail(f"{where_i}: prompt id {item['id']!r} is used twice")
                seen_ids.add(item["id"])
                out.append(Prompt(item["id"], item["text"].strip()))
            prompts[category] = tuple(out)
        if FALLBACK_CATEGORY not in prompts:
            fail(f"prompts.{FALLBACK_CATEGORY} is required: it is the fallback for every trigger")
        return cls(prompts)

    def prompts_for(self, category: str) -> tuple[Prompt, ...]:
        return self.prompts.get(category) or self.prompts[FALLBACK_CATEGORY]


# ---------------------------------------------------------------- triggers


@dataclass
class TriggerState:
    """One call's hysteresis state (plain fields, so a stage can persist it)."""

    armed: bool = True
    dropped: bool = False  # risk fell below the re-arm threshold since the last firing
    last_fired_at: float = 0.0  # call time
    now: float = 0.0  # latest utterance end seen
    fired: set[str] = field(default_factory=set)  # categories alerted since the last re-arm
    prompts_shown: list[str] = field(default_factory=list)


class Triggers:
    """Hysteresis, dedup and prompt choice for every live call on this worker."""

    def __init__(self, thresholds, playbook: Playbook | None = None):
        """``thresholds``: anything with risk_alert_threshold, risk_rearm_threshold, alert_cooldown_s."""
        self.alert_threshold = float(thresholds.risk_alert_threshold)
        self.rearm_threshold = float(thresholds.risk_rearm_threshold)
        self.cooldown_s = float(thresholds.alert_cooldown_s)
        if not 0 <= self.rearm_threshold <= self.alert_threshold <= 1:
            raise ValueError("need 0 <= rearm threshold <= alert threshold <= 1")
        if self.cooldown_s < 0:
            raise ValueError("alert cooldown must be >= 0 seconds")
        self.playbook = playbook if playbook is not None else Playbook.load()
        self.calls: dict[str, TriggerState] = {}

    def on_score(self, call_id: str, utterance_id: str, end_time: float, risk: float,
                 reasons: list, keyword_categories) -> list[dict]:
        """Alerts (as pipeline.records.Alert fields) for one scored utterance; usually none.

        ``call_time`` is ``end_time``. The stage stamps ``audio_end_ts`` and
        ``created_ts``; they are 0.0 here so the output is a pure function of the input.
        """
        st = self.calls.setdefault(call_id, TriggerState())
        st.now = max(st.now, float(end_time))
        if not st.armed:
            if risk < self.rearm_threshold:
                st.dropped = True
            if st.dropped and st.now - st.last_fired_at >= self.cooldown_s:
                st.armed, st.dropped = True, False
                st.fired.clear()
        if risk < self.alert_threshold:
            return []
        category = trigger_category(keyword_categories, reasons)
        if not st.armed and (category == FALLBACK_CATEGORY or category in st.fired):
            return []
        st.armed, st.dropped, st.last_fired_at = False, False, st.now
        st.fired.add(category)
        prompt = self._choose_prompt(st, category)
        reasons = list(reasons or [])
        base = {
            "call_id": call_id, "utterance_id": utterance_id, "risk": risk, "trigger": category,
            "prompt_id": prompt.id, "call_time": float(end_time), "audio_end_ts": 0.0, "created_ts": 0.0,
        }
        why = ", ".join(f"{r['feature']}={r['value']:g}" for r in reasons if isinstance(r, dict)
                        and "feature" in r and isinstance(r.get("value"), (int, float)))
        supervisor = f"Escalation risk {risk:.2f}: {category.replace('_', ' ')}"
        supervisor += f" ({why})" if why else ""
        return [
            {**base, "alert_id": alert_id(call_id, "escalation_risk", utterance_id, category),
             "alert_type": "escalation_risk", "message": supervisor, "reasons": list(reasons), "route": {}},
            {**base, "alert_id": alert_id(call_id, "assist_prompt", utterance_id, category),
             "alert_type": "assist_prompt", "message": prompt.text, "reasons": list(reasons), "route": {}},
        ]

    def _choose_prompt(self, st: TriggerState, category: str) -> Prompt:
        """The category's first prompt not yet shown on this call; cycle when all were."""
        prompts = self.playbook.prompts_for(category)
        fresh = [p for p in prompts if p.id not in st.prompts_shown]
        if fresh:
            prompt = fresh[0]
        else:
            ids = {p.id for p in prompts}
            prompt = prompts[sum(pid in ids for pid in st.prompts_shown) % len(prompts)]
        st.prompts_shown.append(prompt.id)
        return prompt

    def end_call(self, call_id: str) -> None:
        """Forget a finished call (a later message for it starts a fresh, armed state)."""
        self.calls.pop(call_id, None)


def load_triggers(settings, playbook_path: str | Path | None = None) -> Triggers:
    """The trigger stage's Triggers from the settings' thresholds and the playbook."""
    return Triggers(settings, Playbook.load(playbook_path))
