"""``callradar watch``: follow live transcripts (as scored) and alerts in a terminal.

Colour only on a TTY (and never with NO_COLOR set), so logs and pipes stay clean.
"""

from __future__ import annotations

import os
import sys
import threading

from callradar.pipeline.records import Alert, MalformedMessage, Score, Topics

COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "grey": "90", "bold": "1", "magenta": "35"}


class LiveView:
    """Turns score and alert records into one readable line each."""

    def __init__(self, colour: bool | None = None, width: int = 110):
        if colour is None:
            colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour
        self.width = width

    def paint(self, text: str, *styles: str) -> str:
        if not self.colour or not styles:
            return text
        codes = ";".join(COLOURS[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"

    def score_line(self, s: Score) -> str:
        mood = {"negative": "red", "positive": "green"}.get(s.sentiment, "grey")
        who = self.paint(f"{s.speaker:<8}", "blue" if s.speaker == "agent" else "magenta")
        risk_style = ("red", "bold") if s.risk >= 0.6 else ("yellow",) if s.risk >= 0.4 else ("grey",)
        text = s.text if len(s.text) <= 70 else s.text[:67] + "..."
        return (
            f"{self.paint(s.call_id, 'bold')} {self.paint(f'{s.start:6.1f}s', 'grey')} {who} "
            f"{self.paint(f'{text!r}', mood)}  {self.paint(f'risk {s.risk:.2f}', *risk_style)}"
        )

    def alert_line(self, a: Alert) -> str:
        if a.alert_type == "escalation_risk":
            reasons = ", ".join(str(r.get("text") or r.get("feature", r)) for r in a.reasons[:3]) if a.reasons else a.trigger
            route = f" -> {a.route.get('team', '')}" if a.route.get("team") else ""
            head = self.paint(f"!! ALERT {a.call_id}", "red", "bold")
            return f"{head} risk {a.risk:.2f} [{a.trigger}] {reasons}{route}"
        head = self.paint(f"   assist {a.call_id}", "yellow", "bold")
        return f"{head} ({a.prompt_id}) {a.message}"


def follow(settings, on_score, on_alert, stop: threading.Event, from_beginning: bool = False,
           ready: threading.Event | None = None) -> None:
    """Call back for every score and alert until ``stop`` is set."""
    from callradar.pipeline.kafka.clients import make_consumer

    topics = Topics(settings.topic_prefix)
    consumer = make_consumer(settings, [topics.scores, topics.alerts], group_id=None, from_beginning=from_beginning)
    try:
        consumer.poll(timeout_ms=100)  # join and position before anyone replays
        if ready:
            ready.set()
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=200).values():
                for rec in records:
                    try:
                        if rec.topic == topics.scores:
                            on_score(Score.decode(rec.value))
                        else:
                            on_alert(Alert.decode(rec.value))
                    except MalformedMessage:
                        continue  # not ours to judge here; the stages dead-letter bad input
    finally:
        consumer.close()
