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
  ``negative_sentiment`` never bypasses the hysteresis;
- confirmation (``confirm_utterances``, CALLRADAR_ALERT_CONFIRM_UTTERANCES, default 2):
  a crossing driven by sentiment alone fires only once the risk has been at or
  above the threshold on that many customer utterances in a row. One utterance the
  sentiment head misreads (a calm fault description full of negations, "not
  making any noise ... not terrified") then pages nobody, at the cost of one
  customer utterance of lead time. A crossing with a request behind it fires at
  once: a keyword category, or the escalation-intent head reading this utterance
  as a request, complaint or threat to leave ("can you talk to a human").
  :func:`confirmed` is the rule; ``callradar evaluate`` and ``train risk`` apply it
  the same way.

Time is call time from the utterances' end times (the latest seen, so channel
interleaving cannot move it backwards), never the wall clock: replaying the same
scores gives the same alerts with the same ids.

Each firing carries the escalation route for the call's queue, customer tier
and how many times it has escalated (agents/routing.py), and the agent's prompt
and knowledge snippet, chosen by the category and the customer's last words
(agents/assist.py). Call metadata comes from calls.events via :meth:`on_call_event`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from callradar.agents.assist import Assist
from callradar.agents.knowledge import KnowledgeBase
from callradar.agents.playbook import FALLBACK_CATEGORY, TRIGGER_CATEGORIES, Playbook
from callradar.agents.routing import EscalationMatrix, load_matrix
from callradar.models.call_features import INTENT_THRESHOLD, KEYWORD_CATEGORIES, is_noise

FORGET_ENDED_AFTER_S = 600.0  # late scores of an ended call still find its state until then


def alert_id(call_id: str, alert_type: str, utterance_id: str, trigger: str) -> str:
    """Stable id: the same input always gives the same id, so replays can be deduplicated."""
    return hashlib.sha1(f"{call_id}|{alert_type}|{utterance_id}|{trigger}".encode()).hexdigest()[:16]


def trigger_category(keyword_categories, reasons, alerted=()) -> str:
    """The category an alert is about: this customer utterance's keywords, else the call's, else sentiment.

    A keyword heard earlier in the call shows up in the reasons as ``kw_<category>``
    when it is what keeps the risk high. Categories ``alerted`` on already (since the last
    re-arm) are passed over: in "I already complained, this is the third time I'm calling"
    the repeat contact is the news, though a complaint ranks higher.
    """
    heard = set(keyword_categories or ()) - set(alerted)
    for category in TRIGGER_CATEGORIES:
        if category in heard:
            return category
    return next((c for c in _reason_categories(reasons) if c not in alerted), FALLBACK_CATEGORY)


def customer_keywords(speaker: str, keyword_categories) -> tuple[str, ...]:
    """The keyword categories that count as the customer asking: none from the agent's own words
    ("I can get my supervisor for you"). The kw_ features count customer hits alone, and
    ``callradar evaluate`` reads those, so live and evaluation agree."""
    return () if speaker == "agent" else tuple(keyword_categories or ())


def _reason_categories(reasons) -> list[str]:
    """Keyword categories the risk model names among its reasons (``kw_<category>``), in its order."""
    out = []
    for reason in reasons or ():
        feature = reason.get("feature", "") if isinstance(reason, dict) else ""
        if feature.startswith("kw_") and feature[3:] in KEYWORD_CATEGORIES:
            out.append(feature[3:])
    return out


def confirmed(category: str, over: int, confirm_utterances: int, asked: bool = False) -> bool:
    """Whether a crossing may fire: at once when a keyword category or the intent head (``asked``)
    is behind it, on sentiment alone once ``over`` (customer utterances in a row at or above the
    threshold, this one included) reaches ``confirm_utterances``."""
    return confirm_utterances <= 1 or asked or category != FALLBACK_CATEGORY or over >= confirm_utterances


def asked_to_escalate(speaker: str, text: str, intent: float) -> bool:
    """The intent head reads this customer utterance as a request, complaint or threat to leave
    (the ``intent_count`` feature's rule, judged by the words alone)."""
    return intent >= INTENT_THRESHOLD and counts_for_confirmation(speaker, text)


def counts_for_confirmation(speaker: str, text: str) -> bool:
    """Customer utterances of real words confirm a crossing (an unknown speaker counts as a customer).
    Neither the agent's reply nor a noise fragment ("um") can: they leave the risk where the misread
    utterance put it."""
    return speaker != "agent" and not is_noise(text)


# ---------------------------------------------------------------- triggers


@dataclass
class TriggerState:
    """One call's hysteresis state and metadata (plain fields, so a stage can persist it)."""

    armed: bool = True
    dropped: bool = False  # risk fell below the re-arm threshold since the last firing
    last_fired_at: float = 0.0  # call time
    now: float = 0.0  # latest utterance end seen
    fired: set[str] = field(default_factory=set)  # categories alerted since the last re-arm
    escalations: int = 0  # supervisor alerts so far: a repeat climbs the escalation matrix
    queue: str = ""  # from calls.events
    customer_tier: str = ""
    ended_ts: float | None = None  # wall time of the call's 'ended' event
    over: int = 0  # customer utterances in a row scored at or above the alert threshold (confirmation)


class Triggers:
    """Hysteresis, dedup, routing and prompt choice for every live call on this worker."""

    def __init__(self, thresholds, playbook: Playbook | None = None, assist=None, matrix=None):
        """``thresholds``: anything with risk_alert_threshold, risk_rearm_threshold, alert_cooldown_s
        and (optional, 1 when absent: no confirmation) alert_confirm_utterances.

        ``assist`` (callradar.agents.assist.Assist) defaults to the playbook in order, without
        an encoder; ``matrix`` (callradar.agents.routing.EscalationMatrix) to the bundled one.
        """
        self.alert_threshold = float(thresholds.risk_alert_threshold)
        self.rearm_threshold = float(thresholds.risk_rearm_threshold)
        self.cooldown_s = float(thresholds.alert_cooldown_s)
        self.confirm_utterances = int(getattr(thresholds, "alert_confirm_utterances", 1))
        if self.confirm_utterances < 1:
            raise ValueError("alert confirmation must be at least 1 utterance")
        if not 0 <= self.rearm_threshold <= self.alert_threshold <= 1:
            raise ValueError("need 0 <= rearm threshold <= alert threshold <= 1")
        if self.cooldown_s < 0:
            raise ValueError("alert cooldown must be >= 0 seconds")
        if playbook is None:
            playbook = assist.playbook if assist is not None else Playbook.load()
        self.playbook = playbook
        self.assist = assist if assist is not None else Assist(playbook)
        self.matrix = matrix if matrix is not None else EscalationMatrix.load()
        self.calls: dict[str, TriggerState] = {}

    def on_call_event(self, call_id: str, event: str, ts: float, queue: str = "", customer_tier: str = "") -> list[str]:
        """Call metadata from calls.events: queue and customer tier choose the route.

        An ended call's state is kept FORGET_ENDED_AFTER_S more (its last utterances
        are still being transcribed and scored), then dropped; returns the calls dropped.
        """
        st = self.calls.setdefault(call_id, TriggerState())
        st.queue = queue or st.queue
        st.customer_tier = customer_tier or st.customer_tier
        if event == "ended":
            st.ended_ts = float(ts)
        old = [c for c, s in self.calls.items() if s.ended_ts is not None and ts - s.ended_ts > FORGET_ENDED_AFTER_S]
        for c in old:
            self.end_call(c)
        return old

    def on_score(self, call_id: str, utterance_id: str, end_time: float, risk: float,
                 reasons: list, keyword_categories, speaker: str = "", text: str = "",
                 retrieve: bool = True, intent: float = 0.0) -> list[dict]:
        """Alerts (as callradar.pipeline.records.Alert fields) for one scored utterance; usually none.

        ``call_time`` is ``end_time``. The stage stamps ``audio_end_ts`` and
        ``created_ts``; they are 0.0 here so the output is a pure function of the input.
        ``speaker`` and ``text`` let the prompt follow what the customer is saying;
        ``retrieve=False`` (the stage is overloaded) skips that and the snippet search.
        ``intent``: the utterance's escalation-intent score (a request fires without confirmation).
        """
        self.assist.hear(call_id, speaker, text)
        st = self.calls.setdefault(call_id, TriggerState())
        st.now = max(st.now, float(end_time))
        if counts_for_confirmation(speaker, text):
            st.over = st.over + 1 if risk >= self.alert_threshold else 0
        if not st.armed:
            if risk < self.rearm_threshold:
                st.dropped = True
            if st.dropped and st.now - st.last_fired_at >= self.cooldown_s:
                st.armed, st.dropped = True, False
                st.fired.clear()
        if risk < self.alert_threshold:
            if risk >= self.rearm_threshold and retrieve:  # likely to fire soon: embed the words now, not then
                self.assist.warm(call_id)
            return []
        heard = customer_keywords(speaker, keyword_categories)
        category = trigger_category(heard, reasons, alerted=st.fired)  # st.fired is empty while armed
        if not confirmed(category, st.over, self.confirm_utterances, asked_to_escalate(speaker, text, intent)):
            return []
        if not st.armed and category == FALLBACK_CATEGORY:
            return []
        st.armed, st.dropped, st.last_fired_at = False, False, st.now
        # Every request behind this alert is alerted on: "third time calling, I want to make a formal complaint" is
        # one page, not a second one (and a tier higher on the matrix) at whatever utterance comes next.
        st.fired.update({category, *heard, *_reason_categories(reasons)})
        st.escalations += 1
        route = self.matrix.route(category, st.queue, st.customer_tier, st.escalations)
        suggestion = self.assist.suggest(call_id, category, st.now, retrieve=retrieve)
        reasons = list(reasons or [])
        base = {
            "call_id": call_id, "utterance_id": utterance_id, "risk": risk, "trigger": category,
            "prompt_id": suggestion.prompt.id, "call_time": float(end_time), "audio_end_ts": 0.0,
            "created_ts": 0.0, "route": route,
        }
        why = ", ".join(r["text"] if isinstance(r.get("text"), str) and r["text"] else f"{r['feature']}={r['value']:g}"
                        for r in reasons if isinstance(r, dict)
                        and "feature" in r and isinstance(r.get("value"), (int, float)))
        supervisor = f"Escalation risk {risk:.2f}: {category.replace('_', ' ')}"
        supervisor += f" ({why})" if why else ""
        supervisor += f"; route: {route['team']} (tier {route['tier']}), respond within {_duration(route['sla_s'])}"
        return [
            {**base, "alert_id": alert_id(call_id, "escalation_risk", utterance_id, category),
             "alert_type": "escalation_risk", "message": supervisor, "reasons": list(reasons), "snippet": {}},
            {**base, "alert_id": alert_id(call_id, "assist_prompt", utterance_id, category),
             "alert_type": "assist_prompt", "message": suggestion.prompt.text, "reasons": list(reasons),
             "snippet": suggestion.snippet},
        ]

    def end_call(self, call_id: str) -> None:
        """Forget a finished call (a later message for it starts a fresh, armed state)."""
        self.calls.pop(call_id, None)
        self.assist.end_call(call_id)

    def snapshot(self, call_id: str) -> dict:
        """One call's state as plain JSON (hysteresis, route metadata, prompts shown, words heard)."""
        st = self.calls.get(call_id) or TriggerState()
        return {**asdict(st), "fired": sorted(st.fired), "assist": self.assist.snapshot(call_id)}

    def restore(self, call_id: str, snapshot: dict) -> None:
        """Take back a call's state after a restart (from :meth:`snapshot`)."""
        fields = dict(snapshot)
        self.assist.restore(call_id, fields.pop("assist", {}))
        self.calls[call_id] = TriggerState(**{**fields, "fired": set(fields.get("fired", ()))})


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def check_config(settings) -> None:
    """Load the hand-edited files the trigger stage needs (playbook, escalation matrix, knowledge
    snippets) without models or Kafka: ``callradar worker`` runs this first, so a mistake is one
    line naming the file and the line at once, not a traceback after the broker wait and model loads.
    Raises the file's ConfigError."""
    Playbook.load(settings.playbook)
    load_matrix(settings)
    if settings.assist_semantic:
        KnowledgeBase.load(settings.knowledge_dir)


def load_triggers(settings, playbook_path: str | Path | None = None) -> Triggers:
    """The trigger stage's Triggers, from settings: thresholds, playbook, escalation matrix,
    and (unless CALLRADAR_ASSIST_SEMANTIC is off) the encoder and knowledge snippets."""
    playbook = Playbook.load(playbook_path or settings.playbook)
    encoder = knowledge = None
    if settings.assist_semantic:
        from callradar.models.encoder import load_encoder

        encoder = load_encoder(settings.encoder_model)
        knowledge = KnowledgeBase.load(settings.knowledge_dir)
    assist = Assist(playbook, encoder, knowledge, repeat_window_s=settings.assist_repeat_window_s,
                    min_snippet_score=settings.assist_min_snippet_score)
    return Triggers(settings, playbook, assist, load_matrix(settings))
