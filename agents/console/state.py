"""What the console knows about live calls, built only from the topics it reads.

calls.events says who the agent is (which decides who may see the call),
calls.scores carries the transcript with sentiment and the running risk,
calls.transcripts how far behind each call's agent side is (its texts come with their scores),
calls.alerts the supervisor alerts and agent prompts, calls.feedback the agents'
marks, calls.cases the escalation cases (applied to a CaseBook in topic order, so
every console and worker agrees on who won a race). Records may arrive in any order across topics (a score before its call's
'started' event), so every apply is an upsert. Each apply returns the updates
to push to browsers; who receives which is decided in the server.

Pure Python with no I/O, so it is unit-tested without Kafka or a browser.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from callradar.agents.cases import Case, CaseBook
from callradar.agents.routing import EscalationMatrix
from callradar.pipeline.records import AGENT_BEHIND_NOTICE_S, Alert, CallEvent, CaseEvent, Feedback, Score, Utterance

MAX_UTTERANCES = 400  # per call: a long call keeps its latest utterances
RISK_POINTS = 120  # per call, for the sparkline
ALERT_FEED = 200  # supervisor alerts kept for the feed
KEEP_ENDED_S = 1800.0  # an ended call stays on the supervisor's list this long
FORGET_IDLE_S = 4 * 3600.0  # a call with no end event and no news this long is dropped
COACHING_KEEP = 50  # coaching messages kept per agent
COACHING_SHOW_S = 12 * 3600.0  # an agent's page lists the coaching of about one shift
CASE_RESULTS = 5000  # recent case events' outcomes (applied or not), for the requests waiting on them


@dataclass
class Update:
    """One thing that changed, for the browsers allowed to see ``call_id``."""

    kind: str  # call | utterance | alert | feedback | case (supervisors) | coaching, coaching_read (its agent)
    call_id: str
    data: dict


@dataclass
class CallView:
    call_id: str
    agent_id: str = ""
    queue: str = ""
    customer_tier: str = ""
    started_ts: float | None = None
    ended_ts: float | None = None
    last_seen_ts: float = 0.0
    duration_s: float = 0.0  # call time of the latest utterance
    risk: float = 0.0
    peak_risk: float = 0.0
    risks: deque = field(default_factory=lambda: deque(maxlen=RISK_POINTS))  # [call_time, risk]
    utterances: dict = field(default_factory=dict)  # utterance_id -> dict, in arrival order
    alert_ids: list = field(default_factory=list)
    escalations: int = 0  # supervisor alerts (each comes with an assist prompt, not counted)
    last_trigger: str = ""
    agent_behind_s: float = 0.0  # the agent side's lag from the latest transcript, whole seconds; 0 below the notice

    @property
    def status(self) -> str:
        return "ended" if self.ended_ts is not None else "live"

    def summary(self) -> dict:
        return {
            "call_id": self.call_id, "agent_id": self.agent_id, "queue": self.queue,
            "customer_tier": self.customer_tier, "status": self.status, "started_ts": self.started_ts,
            "ended_ts": self.ended_ts, "duration_s": self.duration_s, "risk": self.risk,
            "peak_risk": self.peak_risk, "risks": [r for _, r in self.risks], "alerts": self.escalations,
            "last_trigger": self.last_trigger, "agent_behind_s": self.agent_behind_s,
        }


class ConsoleState:
    def __init__(self, keep_ended_s: float = KEEP_ENDED_S, matrix: EscalationMatrix | None = None):
        self.keep_ended_s = keep_ended_s
        self.calls: dict[str, CallView] = {}
        self.alerts: dict[str, dict] = {}  # alert_id -> alert dict (with "feedback" for prompts)
        self.feed: deque = deque(maxlen=ALERT_FEED)  # escalation_risk alert ids, oldest first
        self.book = CaseBook(matrix)  # every case on calls.cases (read from its beginning)
        self.case_results: OrderedDict[str, bool] = OrderedDict()  # event_id -> did it change its case
        self.coaching: dict[str, deque] = {}  # agent_id -> their coaching messages, oldest first
        # Marked read by their agent. Console-side only: agents may not act on cases, so
        # this is no case event; a restarted console shows the shift's coaching unread again.
        self.coaching_read: set[str] = set()

    def _call(self, call_id: str, ts: float) -> CallView:
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = CallView(call_id)
        call.last_seen_ts = max(call.last_seen_ts, ts)
        return call

    # ------------------------------------------------------------ applying records

    def apply(self, record, now: float) -> list[Update]:
        """Fold one decoded record in; ``now`` is the wall time it was read."""
        if isinstance(record, Score):
            return self.on_score(record, now)
        if isinstance(record, Utterance):
            return self.on_utterance(record, now)
        if isinstance(record, Alert):
            return self.on_alert(record, now)
        if isinstance(record, CallEvent):
            return self.on_event(record, now)
        if isinstance(record, Feedback):
            return self.on_feedback(record)
        if isinstance(record, CaseEvent):
            return self.on_case_event(record)
        raise TypeError(f"the console does not read {type(record).__name__} records")

    def on_event(self, event: CallEvent, now: float) -> list[Update]:
        call = self._call(event.call_id, now)
        call.agent_id = event.agent_id or call.agent_id
        call.queue = event.queue or call.queue
        call.customer_tier = event.customer_tier or call.customer_tier
        if event.event == "started":
            call.started_ts = event.ts
        else:
            call.ended_ts = event.ts
            call.started_ts = call.started_ts if call.started_ts is not None else event.ts
        return [Update("call", call.call_id, call.summary())]

    def on_score(self, score: Score, now: float) -> list[Update]:
        call = self._call(score.call_id, now)
        negative = float(score.sentiment_scores.get("negative", 0.0)) if isinstance(score.sentiment_scores, dict) else 0.0
        utterance = {
            "utterance_id": score.utterance_id, "call_id": score.call_id, "speaker": score.speaker,
            "start": score.start, "end": score.end, "text": score.text, "sentiment": score.sentiment,
            "negative": round(negative, 3), "risk": score.risk,
            "keywords": sorted({k.get("category", "") for k in score.keywords if isinstance(k, dict)} - {""}),
        }
        is_new = score.utterance_id not in call.utterances
        call.utterances[score.utterance_id] = utterance
        while len(call.utterances) > MAX_UTTERANCES:
            call.utterances.pop(next(iter(call.utterances)))
        if is_new:
            call.risks.append((score.end, score.risk))
            call.risk = score.risk
            call.peak_risk = max(call.peak_risk, score.risk)
            call.duration_s = max(call.duration_s, score.end)
        return [Update("utterance", call.call_id, utterance), Update("call", call.call_id, call.summary())]

    def on_utterance(self, utterance: Utterance, now: float) -> list[Update]:
        """A transcript says how far behind its call's agent side is; the call is updated when what is shown
        changes: a lag over AGENT_BEHIND_NOTICE_S (in whole seconds), or none (caught up)."""
        lag = utterance.agent_behind_s
        if lag is None:  # a producer from before the field: it says nothing about the agent side
            return []
        shown = float(round(lag)) if lag > AGENT_BEHIND_NOTICE_S else 0.0
        known = self.calls.get(utterance.call_id)
        if (known.agent_behind_s if known else 0.0) == shown:
            return []
        call = self._call(utterance.call_id, now)
        call.agent_behind_s = shown
        return [Update("call", call.call_id, call.summary())]

    def on_alert(self, alert: Alert, now: float) -> list[Update]:
        if alert.alert_id in self.alerts:  # alert ids are stable: a replayed alert is the same alert
            return []
        call = self._call(alert.call_id, now)
        doc = alert.to_dict()
        doc.pop("v", None)
        doc.pop("type", None)
        if alert.alert_type == "assist_prompt":
            doc["feedback"] = None
        else:
            self.feed.append(alert.alert_id)
            call.last_trigger = alert.trigger
            call.escalations += 1
        self.alerts[alert.alert_id] = doc
        call.alert_ids.append(alert.alert_id)
        return [Update("alert", call.call_id, doc), Update("call", call.call_id, call.summary())]

    def on_feedback(self, feedback: Feedback) -> list[Update]:
        alert = self.alerts.get(feedback.alert_id)
        if alert is None:
            return []
        alert["feedback"] = feedback.helpful
        return [Update("feedback", feedback.call_id, {"alert_id": feedback.alert_id, "helpful": feedback.helpful})]

    def on_case_event(self, event: CaseEvent) -> list[Update]:
        """Apply a case event as it came back from calls.cases; a lost race or a redelivery changes nothing."""
        applied = self.book.apply(event)
        if event.event_id not in self.case_results:  # the first delivery says what happened
            self.case_results[event.event_id] = applied
            while len(self.case_results) > CASE_RESULTS:
                self.case_results.popitem(last=False)
        if not applied:
            return []
        case = self.book.cases[event.case_id]
        updates = [Update("case", case.call_id, self.case_view(case))]
        if event.kind == "coaching_sent":
            note = {"event_id": event.event_id, "case_id": case.case_id, "call_id": case.call_id,
                    "agent_id": event.agent_id, "from": event.actor, "message": event.message, "ts": event.ts,
                    "trigger": case.trigger}
            self.coaching.setdefault(event.agent_id, deque(maxlen=COACHING_KEEP)).append(note)
            updates.append(Update("coaching", case.call_id, {**note, "read": False}))
        return updates

    def mark_coaching_read(self, agent_id: str, event_id: str) -> list[Update] | None:
        """The agent read a coaching message sent to them; None when no such message is theirs."""
        note = next((n for n in self.coaching.get(agent_id, ()) if n["event_id"] == event_id), None)
        if note is None:
            return None
        if event_id in self.coaching_read:
            return []
        self.coaching_read.add(event_id)
        case = self.book.cases[note["case_id"]]
        return [Update("coaching_read", note["call_id"], {"event_id": event_id, "agent_id": agent_id}),
                Update("case", case.call_id, self.case_view(case))]

    # ------------------------------------------------------------ reading

    def ranked(self, can_see) -> list[dict]:
        """Summaries of the calls ``can_see(agent_id)`` allows: live by risk, highest first, then ended."""
        calls = [c for c in self.calls.values() if can_see(c.agent_id)]
        calls.sort(key=lambda c: (c.status != "live", -c.risk if c.status == "live" else -(c.ended_ts or 0)))
        return [c.summary() for c in calls]

    def detail(self, call_id: str, prompts_only: bool = False) -> dict:
        """The call with its transcript and alerts; ``prompts_only`` (an agent's view) keeps just the
        assist prompts: the supervisor's risk alert about the agent's own call is not theirs to see."""
        call = self.calls[call_id]
        utterances = sorted(call.utterances.values(), key=lambda u: (u["start"], u["speaker"]))
        alerts = [self.alerts[a] for a in call.alert_ids if a in self.alerts]
        if prompts_only:
            alerts = [a for a in alerts if a["alert_type"] == "assist_prompt"]
        return {**call.summary(), "utterances": utterances, "alerts": alerts}

    def alert_feed(self, limit: int = 50) -> list[dict]:
        """Newest supervisor alerts first."""
        out = []
        for alert_id in reversed(self.feed):
            if alert_id in self.alerts:
                out.append(self.alerts[alert_id])
                if len(out) >= limit:
                    break
        return out

    def case_view(self, case: Case) -> dict:
        """A case for supervisors: its state and history, the hand-over route to prefill, the coaching read."""
        return {**case.to_dict(), "default_handover": None if case.closed else self.book.default_handover(case),
                "coaching_read": [e.event_id for e in case.events if e.event_id in self.coaching_read]}

    def case_list(self, status: str = "", limit: int = 200) -> list[dict]:
        """Cases, open ones first (the longest waiting first), then the rest, latest news first.

        ``status``: "open" (not resolved), "resolved", or "" for both.
        """
        cases = [c for c in self.book.cases.values()
                 if not status or (status == "resolved") == c.closed]
        cases.sort(key=lambda c: (c.closed, c.opened_ts if not c.closed else -c.events[-1].ts))
        return [self.case_view(c) for c in cases[:limit]]

    def feed_cases(self) -> list[dict]:
        """What the supervisor page shows: every open case, and the closed ones of the alerts it lists."""
        return [self.case_view(c) for c in self.book.cases.values()
                if not c.closed or any(a in self.alerts for a in c.alert_ids)]

    def coaching_for(self, agent_id: str, now: float) -> list[dict]:
        """An agent's coaching of the last shift, newest first, each saying whether they marked it read."""
        notes = [n for n in self.coaching.get(agent_id, ()) if now - n["ts"] <= COACHING_SHOW_S]
        return [{**n, "read": n["event_id"] in self.coaching_read} for n in reversed(notes)]

    def current_call(self, agent_id: str) -> str | None:
        """An agent's call to show: the latest started live one, else their latest."""
        mine = [c for c in self.calls.values() if agent_id and c.agent_id == agent_id]
        if not mine:
            return None
        return max(mine, key=lambda c: (c.status == "live", c.started_ts or 0.0, c.last_seen_ts)).call_id

    def prune(self, now: float) -> list[str]:
        """Drop calls that ended KEEP_ENDED_S ago or went quiet FORGET_IDLE_S ago; returns their ids."""
        gone = [c.call_id for c in self.calls.values()
                if (c.ended_ts is not None and now - c.ended_ts > self.keep_ended_s)
                or (c.ended_ts is None and now - c.last_seen_ts > FORGET_IDLE_S)]
        for call_id in gone:
            for alert_id in self.calls.pop(call_id).alert_ids:
                self.alerts.pop(alert_id, None)
        return gone
