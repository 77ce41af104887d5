"""Webhook notifications: a case's route can ping a chat channel when the case lands on it.

The escalation matrix names webhooks at its top level (``webhooks: {name: {url: ...}}``)
and a route refers to one by name (``webhook: name``); agents/routing.py checks both at
load through :func:`read_webhooks`, so a bad URL or an unknown name stops start-up
with the line to fix. :class:`Notifier` POSTs JSON in the shape chat tools' incoming
webhooks take (``{"text": ...}``; the structured fields go under ``callradar``, where
they cannot collide with names those tools read, such as ``channel`` or ``username``).

Sending happens on one background thread behind a bounded queue, so a slow or dead
receiver never slows the caller: ``notify()`` only appends, a full queue drops its
oldest message (counted), and each message gets a few tries with exponential backoff
before it is counted failed.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from callradar.agents.yaml_lines import Checker, LineDict

log = logging.getLogger(__name__)

RESULTS = ("sent", "failed", "dropped")
RETRY_STATUSES = (408, 425, 429)  # and every 5xx: the receiver may recover; other 4xx will not


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str

    def __repr__(self) -> str:  # incoming-webhook URLs are secrets: keep them out of logs
        return f"Webhook({self.name!r})"


def read_webhooks(check: Checker, doc: LineDict) -> dict[str, Webhook]:
    """The matrix's ``webhooks`` section (optional): name -> Webhook, every URL http(s)."""
    if "webhooks" not in doc or doc["webhooks"] is None:
        return {}
    section = check.mapping(doc, "webhooks", "webhooks")
    hooks = {}
    for name in section:
        path = f"webhooks.{name}"
        spec = check.mapping(section, name, path, allowed={"url"}, required=("url",))
        url = check.text(spec, "url", f"{path}.url")
        problem = url_problem(url)
        if problem:
            check.fail(spec, "url", f"{path}.url: {problem}")
        hooks[str(name)] = Webhook(str(name), url)
    return hooks


def check_webhook_name(check: Checker, node, key, path: str, webhooks: dict[str, Webhook]) -> str:
    """A route's ``webhook``: the name of one defined under ``webhooks``."""
    name = check.text(node, key, path)
    if name not in webhooks:
        known = ", ".join(sorted(webhooks)) or "none are defined"
        check.fail(node, key, f"{path}: no webhook named {name!r} under webhooks ({known})")
    return name


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook, or None. The URL itself is never quoted: it holds the secret."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return f"must be an http or https URL, not {parts.scheme + ':' if parts.scheme else 'one without a scheme'}"
    if not parts.hostname:
        return "the URL has no host"
    return None


def case_message(event, alert: dict | None = None) -> dict:
    """The webhook body for a case event that puts the case on a route (opened, handed over, breached)."""
    route = event.route or {}
    team = route.get("team", "?")
    where = f"{team} (tier {route.get('tier', '?')})"
    trigger = event.trigger.replace("_", " ") or "escalation"
    if event.kind == "opened":
        text = f"Escalation on call {event.call_id}: {trigger}, risk {event.risk:.2f}; {where}"
    elif event.kind == "handed_over":
        text = f"Call {event.call_id} handed over to {where} by {event.actor}: {trigger}"
    elif event.kind == "breached":
        text = f"Response time missed on call {event.call_id} ({trigger}); now with {where}"
    else:
        text = f"Case {event.case_id} on call {event.call_id}: {event.kind.replace('_', ' ')}"
    if event.due_ts:
        text += f", acknowledge by {time.strftime('%H:%M:%S', time.localtime(event.due_ts))}"
    if event.note:
        text += f". {event.note}"
    fields = {"case_id": event.case_id, "call_id": event.call_id, "kind": event.kind, "trigger": event.trigger,
              "route": route, "due_ts": event.due_ts, "ts": event.ts, "actor": event.actor}
    if alert:
        fields["alert"] = {k: alert.get(k) for k in ("alert_id", "risk", "message", "call_time")}
    return {"text": text, "callradar": fields}


class Notifier:
    """Posts JSON to webhooks from one background thread; ``notify`` never blocks.

    ``post(url, body, timeout_s)`` returns the HTTP status or raises OSError; the
    default uses urllib. Counts: ``sent``, ``failed`` (tries used up, or a 4xx that
    retrying cannot fix), ``dropped`` (pushed out of a full queue).
    """

    def __init__(self, queue_size: int = 1000, tries: int = 4, backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 timeout_s: float = 5.0, post: Callable[[str, bytes, float], int] | None = None):
        if queue_size < 1 or tries < 1 or backoff_s < 0 or timeout_s <= 0:
            raise ValueError("need queue_size >= 1, tries >= 1, backoff_s >= 0 and timeout_s > 0")
        self.tries, self.backoff_s, self.max_backoff_s, self.timeout_s = tries, backoff_s, max_backoff_s, timeout_s
        self._post = post or _post
        self._queue: deque[tuple[Webhook, bytes]] = deque()
        self._queue_size = queue_size
        self._counts = dict.fromkeys(RESULTS, 0)
        self._busy = False
        self._wake = threading.Condition()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callradar-webhooks", daemon=True)
        self._thread.start()

    def notify(self, webhook: Webhook, body: dict) -> None:
        """Queue ``body`` for ``webhook``; a full queue drops its oldest message. Returns at once."""
        data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        with self._wake:
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._counts["dropped"] += 1
            self._queue.append((webhook, data))
            self._wake.notify()

    def notify_case(self, matrix, event, alert: dict | None = None) -> bool:
        """Notify the webhook of the event's route, if the matrix names one; True when one was queued."""
        webhook = matrix.webhook_for(event.route) if event.route else None
        if webhook is None:
            return False
        self.notify(webhook, case_message(event, alert))
        return True

    def count(self, result: str) -> int:
        with self._wake:
            return self._counts[result]

    def counts(self) -> dict[str, int]:
        with self._wake:
            return dict(self._counts)

    def reads(self) -> dict[str, Callable[[], int]]:
        """Result -> read function, for a Prometheus counter labelled by ``result`` read at scrape time."""
        return {result: (lambda r=result: self.count(r)) for result in RESULTS}

    def pending(self) -> int:
        """Messages queued or being sent."""
        with self._wake:
            return len(self._queue) + self._busy

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued has been sent or given up on; False on timeout (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.pending():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; what is still queued is left unsent (counted neither way)."""
        self._closed.set()
        with self._wake:
            self._wake.notify_all()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._closed.is_set():
            with self._wake:
                while not self._queue and not self._closed.is_set():
                    self._wake.wait()
                if self._closed.is_set():
                    return
                webhook, data = self._queue.popleft()
                self._busy = True
            try:
                result = self._deliver(webhook, data)
            finally:
                with self._wake:
                    self._busy = False
            if result:
                with self._wake:
                    self._counts[result] += 1

    def _deliver(self, webhook: Webhook, data: bytes) -> str | None:
        """'sent' or 'failed' after up to ``tries`` attempts; None when closed meanwhile."""
        delay = self.backoff_s
        for attempt in range(1, self.tries + 1):
            try:
                status = self._post(webhook.url, data, self.timeout_s)
                problem = None if 200 <= status < 300 else f"HTTP {status}"
                retry = status >= 500 or status in RETRY_STATUSES
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, DNS, garbled
                problem, retry = type(exc).__name__, True
            if problem is None:
                return "sent"
            if not retry or attempt == self.tries:
                log.warning("webhook %s: giving up after %d tries (%s)", webhook.name, attempt, problem)
                return "failed"
            if self._closed.wait(delay):
                return None
            delay = min(delay * 2, self.max_backoff_s)
        return "failed"


def _post(url: str, data: bytes, timeout_s: float) -> int:
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "callradar"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - http(s) checked at load
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
