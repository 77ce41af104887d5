"""The report of one ``callradar analyze --report DIR`` run: what a data scientist looks at before trusting a model.

``index.html`` with PNG charts next to it, and ``calls.csv`` (one row per call):

- summary: calls, audio hours, utterances, alerts by type and trigger, calls alerted;
- agreement with the outcomes, when some calls are labelled: alerted against escalated
  (a 2x2 table), precision and recall of "alerted" for "escalated", calm calls alerted,
  lead time of the first supervisor alert (the table ``callradar report`` computes), call
  AUROC of the highest risk, and per risk threshold the calls you would alert per 100
  calls against recall; without outcomes the page says so and shows the rest;
- charts: the highest risk per call by outcome, supervisor alerts per call;
- per call a timeline (risk over call time as a step line, each speaker's utterances,
  alerts, the escalation) with the transcript as a table under it, for at most
  ``max_timelines`` calls: alerted or escalated calls first, then the rest by highest risk.

"Alerted" means at least one supervisor alert (``escalation_risk``), as in ``callradar report``.
Every file is written under a temporary name and renamed into place once all are
written, index.html last, so a run that crashes leaves no half-written report.
1,000 calls of 60 utterances took 8 s on the 2-core machine while it was busy (load 9):
half a second for the numbers, the rest drawing the 50 timelines; hence ``max_timelines``.
"""

from __future__ import annotations

import csv
import html
import math
import os
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from callradar.pipeline.errors import UserError
from callradar.training.insights import PROMPT, SUPERVISOR, Table, insights
from callradar.training.labelled_calls import CallUtterance, LabelledCall

MAX_TIMELINES = 50
THRESHOLDS = tuple(round(0.1 * k, 1) for k in range(1, 10))
OUTCOME_COLOURS = {"escalated": "tab:red", "calm": "tab:green", "": "tab:grey"}
SPEAKER_COLOURS = {"customer": "tab:blue", "agent": "tab:olive"}
MAX_ALERTS_BIN = 10  # the alerts-per-call chart puts 10 and more in one bar
NO_OUTCOMES = ("no outcomes: none of these calls is labelled escalated or calm, so there is no agreement to "
               "measure (pass --labels outcomes.csv to join them)")


# ---------------------------------------------------------------- the numbers


@dataclass
class CallRow:
    """One call as the report sees it: a row of calls.csv."""

    call: LabelledCall
    duration_s: float  # the metadata's duration_s when given, else the last utterance's end
    highest_risk: float | None  # None: no utterance carries a risk score
    supervisor_alerts: int
    assist_prompts: int
    first_alert_time: float | None  # call time of the first supervisor alert
    alert_level: float | None = None  # the highest threshold at which the trigger's rules would alert (alert_level)

    @property
    def outcome(self) -> str:
        return self.call.outcome or ""

    @property
    def alerted(self) -> bool:
        return self.supervisor_alerts > 0

    @property
    def lead_time_s(self) -> float | None:
        """Escalation time minus the first supervisor alert: > 0 means the supervisor was warned first."""
        if self.first_alert_time is None or self.call.escalation_time is None:
            return None
        return round(self.call.escalation_time - self.first_alert_time, 2)


def call_rows(calls: list[LabelledCall], confirm_utterances: int = 1, keywords: Path | None = None) -> list[CallRow]:
    """The per-call numbers every table, chart and calls.csv start from.

    For the threshold table: ``confirm_utterances``, the live trigger's CALLRADAR_ALERT_CONFIRM_UTTERANCES;
    ``keywords``, the keyword rules the score stage ran (default: the bundled models/keywords.yaml).
    """
    from callradar.models.keywords import DEFAULT_RULES, KeywordRules

    rules = KeywordRules.from_yaml(keywords or DEFAULT_RULES)
    rows = []
    for call in calls:
        risks = [u.risk for u in call.utterances if u.risk is not None]
        sup_times = [a.call_time for a in call.alerts if a.alert_type == SUPERVISOR and a.call_time is not None]
        rows.append(CallRow(
            call=call, duration_s=_duration(call), highest_risk=max(risks) if risks else None,
            supervisor_alerts=sum(a.alert_type == SUPERVISOR for a in call.alerts),
            assist_prompts=sum(a.alert_type == PROMPT for a in call.alerts),
            first_alert_time=min(sup_times) if sup_times else None,
            alert_level=alert_level(call, confirm_utterances, rules),
        ))
    return rows


def alert_level(call: LabelledCall, confirm_utterances: int, rules) -> float | None:
    """The highest alert threshold at which the live trigger's rules would have alerted on this call.

    Per utterance: its risk when a customer's keyword or the intent head's reading of a request is behind the
    crossing (those fire at once), else the lowest risk over the last ``confirm_utterances`` customer
    utterances that confirm it (agents/triggers.py, ``confirmed``); the call's level is the highest.
    With 1 it is the call's highest risk. Keywords come from the rules run on the archived words; one
    the customer said earlier counts as behind a crossing (live: while the risk model names it among
    its reasons).
    """
    from callradar.agents.triggers import (
        asked_to_escalate,
        confirmed,
        counts_for_confirmation,
        customer_keywords,
        trigger_category,
    )

    level, confirming, said = None, deque(maxlen=max(confirm_utterances, 1)), set()
    for u in call.utterances:
        if u.risk is None:
            continue
        heard = {hit.category for hit in rules.match(u.text)}
        if u.speaker == "customer":
            said |= heard
        if counts_for_confirmation(u.speaker, u.text):
            confirming.append(u.risk)
        earlier = [{"feature": f"kw_{c}"} for c in sorted(said)]
        asked = asked_to_escalate(u.speaker, u.text, u.intent or 0.0)
        named = customer_keywords(u.speaker, heard)
        if confirmed(trigger_category(named, earlier), 0, confirm_utterances, asked):  # fires with no confirmation
            here = u.risk
        elif len(confirming) == confirm_utterances:
            here = min(u.risk, *confirming)
        else:
            continue
        level = here if level is None else max(level, here)
    return level


def _duration(call: LabelledCall) -> float:
    try:
        given = float(call.metadata.get("duration_s", "nan"))
    except ValueError:
        given = math.nan
    return given if math.isfinite(given) and given >= 0 else call.end


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _of(num: int, den: int, what: str) -> str:
    return f"{num} of {den} {what}"


def run_tables(rows: list[CallRow], alert_threshold: float | None = None) -> dict[str, Table]:
    """Every table of the page by name; the agreement tables only when some calls are labelled."""
    tables = {"summary": _summary(rows), "alerts_by_trigger": _alerts_by_trigger(rows)}
    labelled = [r for r in rows if r.outcome in ("escalated", "calm")]
    if labelled:
        tables["alerted_vs_escalated"] = _two_by_two(labelled)
        lead = insights([r.call for r in labelled])["lead_time"]
        tables["agreement"] = _agreement(rows, labelled, lead)
        tables["lead_time"] = lead
        tables["thresholds"] = _thresholds(rows, alert_threshold)
    return tables


def _summary(rows: list[CallRow]) -> Table:
    utterances = [u for r in rows for u in r.call.utterances]
    alerts = Counter(a.alert_type for r in rows for a in r.call.alerts)
    outcomes = Counter(r.outcome for r in rows)
    versions = sorted({u.model_version for u in utterances if u.model_version})
    alerted = sum(r.alerted for r in rows)
    table = Table("Summary", ["what", "value", "detail"], [
        ["calls", len(rows), ""],
        ["audio hours", round(sum(r.duration_s for r in rows) / 3600.0, 2), "each call's duration_s, else its last utterance's end"],
        ["utterances", len(utterances), ""],
        ["customer utterances", sum(u.speaker == "customer" for u in utterances), ""],
        ["agent utterances", sum(u.speaker == "agent" for u in utterances), ""],
        ["calls without risk scores", sum(r.highest_risk is None for r in rows), "no utterance carries a risk"],
        ["supervisor alerts", alerts[SUPERVISOR], SUPERVISOR],
        ["assist prompts", alerts[PROMPT], PROMPT],
        ["calls alerted", alerted, f"{_ratio(alerted, len(rows)) or 0:.1%} of the calls have a supervisor alert"],
        ["escalated", outcomes["escalated"], "outcome"],
        ["calm", outcomes["calm"], "outcome"],
        ["not labelled", len(rows) - outcomes["escalated"] - outcomes["calm"], "outcome"],
    ])
    if versions:
        table.rows.append(["risk model versions", len(versions), ", ".join(versions)])
    return table


def _alerts_by_trigger(rows: list[CallRow]) -> Table:
    alerts: Counter = Counter()
    calls: dict[tuple[str, str], set[int]] = {}
    for i, r in enumerate(rows):
        for a in r.call.alerts:
            key = (a.alert_type, a.trigger or "(none)")
            alerts[key] += 1
            calls.setdefault(key, set()).add(i)
    type_order = {SUPERVISOR: 0, PROMPT: 1}
    table_rows = []
    for key in sorted(alerts, key=lambda k: (type_order.get(k[0], 2), k[0], -alerts[k], k[1])):
        outcomes = Counter(rows[i].outcome for i in calls[key])
        table_rows.append([*key, alerts[key], len(calls[key]), outcomes["escalated"], outcomes["calm"],
                           _ratio(outcomes["escalated"], outcomes["escalated"] + outcomes["calm"])])
    return Table("Alerts by type and trigger",
                 ["alert_type", "trigger", "alerts", "calls", "escalated_calls", "calm_calls", "escalated_share"],
                 table_rows, "calls: calls with at least one such alert; escalated share: escalated / labelled among them")


def _two_by_two(labelled: list[CallRow]) -> Table:
    def n(alerted: bool | None, outcome: str | None) -> int:
        return sum((alerted is None or r.alerted == alerted) and (outcome is None or r.outcome == outcome)
                   for r in labelled)

    return Table("Calls alerted against calls escalated", ["", "escalated", "calm", "total"],
                 [[name, n(a, "escalated"), n(a, "calm"), n(a, None)]
                  for name, a in (("alerted", True), ("not alerted", False), ("total", None))],
                 "labelled calls only; alerted: at least one supervisor alert")


def _agreement(rows: list[CallRow], labelled: list[CallRow], lead: Table) -> Table:
    esc = [r for r in labelled if r.outcome == "escalated"]
    calm = [r for r in labelled if r.outcome == "calm"]
    alerted = [r for r in labelled if r.alerted]
    hits = sum(r.alerted for r in esc)
    false_alarms = sum(r.alerted for r in calm)
    lead_all = lead.rows[0]  # "(all)": trigger, escalated_calls_alerted, warned_before, share, median_s, p25, p75
    timed, before = lead_all[1], lead_all[2]
    untimed = sum(r.alerted and r.call.escalation_time is None for r in esc)
    scored = [r for r in labelled if r.highest_risk is not None]
    auroc = _auroc([r.outcome == "escalated" for r in scored], [r.highest_risk for r in scored])
    return Table("Agreement with the outcomes", ["figure", "value", "detail"], [
        ["labelled calls", len(labelled), f"{len(rows) - len(labelled)} not labelled, left out of this section"],
        ["precision of alerted for escalated", _ratio(hits, len(alerted)), _of(hits, len(alerted), "alerted calls escalated")],
        ["recall of alerted for escalated", _ratio(hits, len(esc)), _of(hits, len(esc), "escalated calls alerted")],
        ["calm calls alerted", _ratio(false_alarms, len(calm)), _of(false_alarms, len(calm), "calm calls alerted")],
        ["median lead time, s", lead_all[4],
         "escalation time - first supervisor alert, over escalated calls alerted that have an escalation time"],
        ["alerted before the escalation", before, _of(before, timed, "escalated calls alerted, with a time")],
        ["alerted at or after the escalation", timed - before, _of(timed - before, timed, "escalated calls alerted, with a time")],
        ["escalated calls alerted without an escalation time", untimed, "no lead time for these"],
        ["call AUROC of the highest risk", auroc,
         _of(len(scored), len(labelled), "labelled calls have risk scores")
         + ("" if auroc is not None else "; needs escalated and calm calls among them")],
    ])


def _auroc(escalated: list[bool], score: list[float]) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(set(escalated)) < 2:
        return None
    return round(float(roc_auc_score(escalated, score)), 4)


def _thresholds(rows: list[CallRow], alert_threshold: float | None) -> Table:
    """Per threshold: the calls the trigger's rules would alert at it, as if it were the alert threshold."""
    scored = [r for r in rows if r.highest_risk is not None]
    risk = np.array([-np.inf if r.alert_level is None else r.alert_level for r in scored], dtype=float)
    outcome = np.array([r.outcome for r in scored], dtype=object)
    esc, calm = outcome == "escalated", outcome == "calm"
    levels = sorted(set(THRESHOLDS) | ({round(alert_threshold, 4)} if alert_threshold is not None else set()))
    table_rows = []
    for t in levels:
        hit = risk >= t
        table_rows.append([t, round(100.0 * hit.sum() / len(scored), 1) if scored else None,
                           _ratio(int((hit & esc).sum()), int(esc.sum())),
                           _ratio(int((hit & esc).sum()), int((hit & (esc | calm)).sum())),
                           _ratio(int((hit & calm).sum()), int(calm.sum()))])
    live = f"; the live alert threshold is {alert_threshold:g}" if alert_threshold is not None else ""
    return Table("Risk thresholds: calls alerted per 100 calls against recall",
                 ["threshold", "calls_alerted_per_100", "recall", "precision", "calm_calls_alerted"], table_rows,
                 "a call counts as alerted at a threshold when the live trigger's rules would fire there at least once "
                 "(its risk reaches it; on sentiment alone, held over the confirming customer utterances; the re-arm "
                 "can add more alerts); per 100 calls with risk scores, labelled or not; "
                 f"recall, precision and calm calls alerted over the labelled ones{live}")


def timeline_order(rows: list[CallRow], max_timelines: int = MAX_TIMELINES) -> tuple[list[int], list[int]]:
    """Which calls get a timeline (row indexes, in page order) and which do not.

    Alerted or escalated calls first, those where the two disagree (missed escalations,
    then calm calls alerted) ahead of the rest; then the other calls; each by highest risk.
    """
    def key(i: int):
        r = rows[i]
        interesting = r.alerted or r.outcome == "escalated"
        disagreement = 0 if r.outcome == "escalated" and not r.alerted else 1 if r.outcome == "calm" and r.alerted else 2
        return (not interesting, disagreement, -(r.highest_risk if r.highest_risk is not None else -1.0), r.call.call_id)

    order = sorted(range(len(rows)), key=key)
    return order[:max_timelines], order[max_timelines:]


# ---------------------------------------------------------------- charts


def _figure(width: float, height: float):
    """A figure drawn by Agg without pyplot: no global state, nothing to close."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _risk_by_outcome_chart(rows: list[CallRow], path: Path, alert_threshold: float | None) -> None:
    scored = [r for r in rows if r.highest_risk is not None]
    fig = _figure(7.5, 3.6)
    ax = fig.subplots()
    groups = [(name, [r.highest_risk for r in scored if r.outcome == key], OUTCOME_COLOURS[key])
              for key, name in (("escalated", "escalated"), ("calm", "calm"), ("", "not labelled"))]
    groups = [g for g in groups if g[1]]
    ax.hist([g[1] for g in groups], bins=np.linspace(0.0, 1.0, 21), color=[g[2] for g in groups],
            label=[f"{g[0]} ({len(g[1])})" for g in groups])
    if alert_threshold is not None:
        ax.axvline(alert_threshold, color="black", ls=":", lw=1, label=f"live alert threshold {alert_threshold:g}")
    ax.set(xlabel="highest risk over the call", ylabel="calls", xlim=(0, 1), title="Highest risk per call, by outcome")
    ax.legend(fontsize=8, loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def _alerts_per_call_chart(rows: list[CallRow], path: Path) -> None:
    fig = _figure(7.5, 3.4)
    ax = fig.subplots()
    x = np.arange(MAX_ALERTS_BIN + 1)
    bottom = np.zeros(len(x))
    for key, name in (("escalated", "escalated"), ("calm", "calm"), ("", "not labelled")):
        counts = np.bincount([min(r.supervisor_alerts, MAX_ALERTS_BIN) for r in rows if r.outcome == key],
                             minlength=len(x))
        if counts.any():
            ax.bar(x, counts, bottom=bottom, color=OUTCOME_COLOURS[key], label=name)
            bottom += counts
    last = max(min(r.supervisor_alerts, MAX_ALERTS_BIN) for r in rows)
    ax.set_xticks(x[: last + 1], [str(k) for k in range(last)] + [f"{last}+" if last == MAX_ALERTS_BIN else str(last)])
    ax.set_xlim(-0.6, last + 0.6)
    ax.set(xlabel="supervisor alerts in the call", ylabel="calls", title="Supervisor alerts per call, by outcome")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


class _Timelines:
    """Draws the per-call timelines on one figure, swapping only what differs from call to call.

    Building the axes and their ticks once, labelling lines in place rather than with a
    legend (the page gives the key) and fast PNG compression make each PNG about twice as
    quick as a fresh figure with a legend.
    """

    def __init__(self, alert_threshold: float | None):
        self.fig = _figure(10, 3.8)
        self.ax, self.lanes = self.fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        self.fig.subplots_adjust(left=0.07, right=0.985, top=0.9, bottom=0.13, hspace=0.06)
        self.ax.set_autoscale_on(False)
        self.lanes.set_autoscale_on(False)
        self.ax.set_ylim(-0.02, 1.02)
        self.ax.set_ylabel("risk")
        self.ax.grid(alpha=0.25)
        self.lanes.set_yticks([0, 1], ["agent", "customer"], fontsize=8)
        self.lanes.set_ylim(-0.6, 1.6)
        self.lanes.set_xlabel("call time, s")
        self.threshold_note = ""
        if alert_threshold is not None:
            self.ax.axhline(alert_threshold, color="black", ls=":", lw=0.8)
            self.threshold_note = f"; dotted: alert threshold {alert_threshold:g}"
        # a figure text, not the axes title: a title is placed anew on every draw
        self.title = self.fig.text(0.07, 0.925, "", fontsize=9, parse_math=False)
        self.drawn: list = []  # the artists of the call drawn last

    def draw(self, row: CallRow, path: Path) -> None:
        """Risk after each utterance as a step line; utterances per speaker in lanes below; alerts; the escalation."""
        for artist in self.drawn:
            artist.remove()
        ax, lanes, call = self.ax, self.lanes, row.call
        drawn = self.drawn = []
        times = [a.call_time for a in call.alerts if a.call_time is not None]
        end = max([row.duration_s, call.escalation_time or 0.0, *times, 1.0])
        scored = sorted((u for u in call.utterances if u.risk is not None), key=lambda u: u.end)
        if scored:
            xs, ys = [u.end for u in scored], [u.risk for u in scored]
            drawn += ax.step(xs + [end], ys + [ys[-1]], where="post", color="black", lw=1.2)
            drawn.append(ax.scatter(xs, ys, s=14, zorder=3, c=[SPEAKER_COLOURS.get(u.speaker, "black") for u in scored]))
        else:
            drawn.append(ax.text(0.5, 0.5, "no risk scores in this call", ha="center", transform=ax.transAxes,
                                 color="grey"))
        for lane, speaker in enumerate(("agent", "customer")):
            spans = [(u.start, max(u.end - u.start, end * 0.002)) for u in call.utterances if u.speaker == speaker]
            drawn.append(lanes.broken_barh(spans, (lane - 0.35, 0.7), color=SPEAKER_COLOURS[speaker]))
        labelled_at = set()
        for a in sorted(call.alerts, key=lambda a: a.alert_type != SUPERVISOR):  # supervisor alerts take the labels
            if a.call_time is None:
                continue
            supervisor = a.alert_type == SUPERVISOR
            style = {"color": "tab:red" if supervisor else "tab:purple", "lw": 1.0, "ls": "-" if supervisor else ":"}
            drawn += [ax.axvline(a.call_time, **style), lanes.axvline(a.call_time, **style)]
            if (a.call_time, a.trigger) not in labelled_at:
                labelled_at.add((a.call_time, a.trigger))
                drawn.append(ax.text(a.call_time, 0.97, f"{a.trigger or a.alert_type} ", rotation=90, va="top",
                                     ha="right", fontsize=7, color=style["color"], transform=ax.get_xaxis_transform(),
                                     parse_math=False))
        if call.escalation_time is not None:
            drawn += [axis.axvline(call.escalation_time, color="darkred", lw=2.2, ls="--") for axis in (ax, lanes)]
            drawn.append(ax.text(call.escalation_time, 0.03, " escalation", rotation=90, va="bottom", ha="left",
                                 fontsize=7, color="darkred", transform=ax.get_xaxis_transform()))
        lanes.set_xlim(0, end * 1.01)
        risk = "no risk scores" if row.highest_risk is None else f"highest risk {row.highest_risk:.2f}"
        self.title.set_text(f"{call.call_id}: {row.outcome or 'not labelled'}, {risk}, "
                            f"{row.supervisor_alerts} supervisor alert(s){self.threshold_note}")
        self.fig.savefig(path, format="png", pil_kwargs={"compress_level": 1})


# ---------------------------------------------------------------- the page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 72rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
td.text { text-align: left; max-width: 40rem; }
tr.alert td { background: #fde8e8; }
img { display: block; max-width: 100%; margin: 0.5rem 0; }
.note { color: #555; font-size: 0.85rem; }
section { margin-bottom: 2rem; }
section.call { border-top: 1px solid #ddd; padding-top: 0.5rem; }
"""


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _table_html(t: Table, heading: str = "h2") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r) + "</tr>" for r in t.rows)
    note = f"<p class=note>{html.escape(t.note)}</p>" if t.note else ""
    return f"<{heading}>{html.escape(t.title)}</{heading}>{note}<table><tr>{head}</tr>{body}</table>"


def _seconds(t: float | None) -> str:
    return "" if t is None else f"{t:.1f}"


def _transcript_html(call: LabelledCall) -> str:
    """The utterances in call-time order, with each alert as a row at its call time."""
    entries: list[tuple[float, int, str]] = []
    for u in call.utterances:
        entries.append((u.start, 0, _utterance_row(u)))
    for a in call.alerts:
        t = a.call_time
        what = f"{a.alert_type}: {a.trigger}" if a.trigger else a.alert_type
        entries.append((math.inf if t is None else t, 1,
                        f"<tr class=alert><td>{_seconds(t)}</td><td>alert</td><td class=text>{html.escape(what)}</td>"
                        f"<td></td><td></td><td></td><td>{html.escape(_cell(a.risk))}</td></tr>"))
    if call.escalation_time is not None:
        entries.append((call.escalation_time, 2, f"<tr class=alert><td>{_seconds(call.escalation_time)}</td>"
                                                 "<td>outcome</td><td class=text>escalated</td>"
                                                 "<td></td><td></td><td></td><td></td></tr>"))
    entries.sort(key=lambda e: (e[0], e[1]))
    head = "".join(f"<th>{c}</th>" for c in ("time, s", "speaker", "text", "sentiment", "frustration", "intent", "risk"))
    return f"<table><tr>{head}</tr>{''.join(e[2] for e in entries)}</table>"


def _utterance_row(u: CallUtterance) -> str:
    cells = [f"{u.start:.1f}-{u.end:.1f}", u.speaker]
    rest = [u.sentiment or "", _cell(u.frustration), _cell(u.intent), _cell(u.risk)]
    return ("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + f"<td class=text>{html.escape(u.text)}</td>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in rest) + "</tr>")


def _call_html(n: int, row: CallRow, image: str) -> str:
    call = row.call
    facts = [f"outcome: {row.outcome or 'not labelled'}",
             f"highest risk: {_cell(row.highest_risk) or 'none'}",
             f"supervisor alerts: {row.supervisor_alerts}"
             + (f" (first at {row.first_alert_time:.1f} s)" if row.first_alert_time is not None else ""),
             f"assist prompts: {row.assist_prompts}"]
    if call.escalation_time is not None:
        facts.append(f"escalated at {call.escalation_time:.1f} s")
    if row.lead_time_s is not None:
        facts.append(f"lead time {row.lead_time_s:g} s")
    return (f"<section class=call id='call-{n}'><h3>{n}. {html.escape(call.call_id)}</h3>"
            f"<p class=note>{html.escape('; '.join(facts))}</p>"
            f"<img src='{image}' alt='risk timeline of call {html.escape(call.call_id, quote=True)}'>"
            f"<details><summary>transcript: {len(call.utterances)} utterances, {len(call.alerts)} alerts</summary>"
            f"{_transcript_html(call)}</details></section>")


TIMELINE_KEY = ("Each chart: the risk after each utterance (black steps; the dot is blue where the customer spoke, "
                "olive where the agent did), the utterances of each side as bars below, supervisor alerts as red "
                "lines and assist prompts as dotted purple lines, labelled with their trigger, the escalation as a "
                "dashed dark red line, the live alert threshold (when known) as a dotted line. The transcript, "
                "alerts and escalation are in the table under each chart.")


def _page(title: str, rows: list[CallRow], tables: dict[str, Table], charts: dict[str, str],
          shown: list[int], images: dict[int, str], not_shown: list[int]) -> str:
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts = [f"<section id=summary>{_table_html(tables['summary'])}</section>"]
    if "agreement" in tables:
        parts.append("<section id=agreement>" + _table_html(tables["agreement"])
                     + _table_html(tables["alerted_vs_escalated"], "h3") + _table_html(tables["lead_time"], "h3")
                     + "</section>")
        parts.append(f"<section id=thresholds>{_table_html(tables['thresholds'])}</section>")
    else:
        parts.append(f"<section id=agreement><h2>Agreement with the outcomes</h2><p>{html.escape(NO_OUTCOMES)}</p></section>")
    parts.append(f"<section id=alerts>{_table_html(tables['alerts_by_trigger'])}</section>")
    for name, alt in (("risk_by_outcome", "highest risk per call, by outcome"), ("alerts_per_call", "supervisor alerts per call")):
        if name in charts:
            parts.append(f"<section id={name}><img src='{charts[name]}' alt='{alt}'></section>")
    order = ("alerted or escalated calls first (missed escalations, then calm calls alerted, ahead of the rest), "
             "then the other calls, each by highest risk")
    missing = ""
    if not_shown:
        ids = ", ".join(html.escape(rows[i].call.call_id) for i in not_shown)
        missing = (f"<details><summary>{len(not_shown)} calls without a timeline</summary><p>{ids}</p></details>")
    toc = "".join(f"<li><a href='#call-{n}'>{html.escape(rows[i].call.call_id)}</a></li>" for n, i in enumerate(shown, 1))
    parts.append(f"<section id=timelines><h2>Per-call timelines</h2>"
                 f"<p class=note>{len(shown)} of {len(rows)} calls shown: {order}. Every call is in "
                 f"<a href='calls.csv'>calls.csv</a>.</p>{missing}<p class=note>{TIMELINE_KEY}</p><ol>{toc}</ol>"
                 + "".join(_call_html(n, rows[i], images[i]) for n, i in enumerate(shown, 1)) + "</section>")
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
            f"<p class=note>written {written}; {len(rows)} calls; <a href='calls.csv'>calls.csv</a></p>\n"
            + "\n".join(parts) + "\n</body></html>\n")


CSV_COLUMNS = ["call_id", "outcome", "highest_risk", "supervisor_alerts", "assist_prompts", "first_alert_time",
               "escalation_time", "lead_time_s", "utterances", "duration_s", "timeline"]


def _write_csv(rows: list[CallRow], images: dict[int, str], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for i, r in enumerate(rows):
            w.writerow([r.call.call_id, r.outcome, _plain(r.highest_risk), r.supervisor_alerts, r.assist_prompts,
                        _plain(r.first_alert_time), _plain(r.call.escalation_time), _plain(r.lead_time_s),
                        len(r.call.utterances), round(r.duration_s, 2), images.get(i, "")])


def _plain(v: float | None):
    return "" if v is None else round(v, 4)


# ---------------------------------------------------------------- writing


class _Staged:
    """Files written under temporary names in one folder, renamed into place together (in order) at the end."""

    def __init__(self, folder: Path):
        self.folder, self.pending = folder, []

    def path(self, name: str) -> Path:
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        self.pending.append((tmp, self.folder / name))
        return tmp

    def commit(self) -> None:
        for tmp, final in self.pending:
            os.replace(tmp, final)

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)


def write_run_report(calls: list[LabelledCall], out_dir: Path, title: str, *, max_timelines: int = MAX_TIMELINES,
                     alert_threshold: float | None = None, confirm_utterances: int = 1,
                     keywords: Path | None = None) -> Path:
    """Write the run's report into ``out_dir`` and return its index.html.

    ``alert_threshold``: the live risk alert threshold, drawn on the charts and added to
    the threshold table when given. ``confirm_utterances``: the live trigger's confirmation
    (CALLRADAR_ALERT_CONFIRM_UTTERANCES) and ``keywords`` (its keyword rules), applied in the threshold table.
    """
    if max_timelines < 0:
        raise ValueError(f"max_timelines must be 0 or more, got {max_timelines}")
    out_dir = Path(out_dir)
    rows = call_rows(calls, confirm_utterances, keywords)
    tables = run_tables(rows, alert_threshold)
    shown, not_shown = timeline_order(rows, max_timelines)
    images = {i: f"timeline-{n:03d}.png" for n, i in enumerate(shown, 1)}
    staged = _Staged(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        charts = {}
        if any(r.highest_risk is not None for r in rows):
            charts["risk_by_outcome"] = "risk_by_outcome.png"
            _risk_by_outcome_chart(rows, staged.path(charts["risk_by_outcome"]), alert_threshold)
        if rows:
            charts["alerts_per_call"] = "alerts_per_call.png"
            _alerts_per_call_chart(rows, staged.path(charts["alerts_per_call"]))
        if shown:
            timelines = _Timelines(alert_threshold)
            for i in shown:
                timelines.draw(rows[i], staged.path(images[i]))
        _write_csv(rows, images, staged.path("calls.csv"))
        staged.path("index.html").write_text(_page(title, rows, tables, charts, shown, images, not_shown),
                                             encoding="utf-8")
        staged.commit()
    except OSError as exc:
        staged.discard()
        raise UserError(f"{out_dir}: cannot write the run report there ({exc.strerror or exc}); "
                        "choose a folder you can write to with --report DIR") from None
    except BaseException:
        staged.discard()
        raise
    return out_dir / "index.html"
