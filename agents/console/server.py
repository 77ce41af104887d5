"""The console's web server: pages, a JSON API, and server-sent events fed from Kafka.

One process: a reader thread of the Kafka layer (pipeline/kafka/readers.py) reads
calls.events, calls.scores, calls.alerts and calls.feedback and hands each batch
to the event loop, where :class:`Hub` folds it into the state and pushes
updates to the browsers allowed to see them. Feedback clicks go to
calls.feedback through a producer, and the browser hears back only once Kafka
has acknowledged the write.

Auth: a browser signs in with its token once (POST /api/login) and gets an
HttpOnly, SameSite=Strict session cookie; scripts may send the token as
``Authorization: Bearer``. Tokens never appear in URLs, so the access log
cannot record one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from callradar.agents.console.auth import Principal, TokenStore
from callradar.agents.console.state import ConsoleState, Update
from callradar.pipeline.records import Alert, CallEvent, Feedback, MalformedMessage, Score, Topics

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = "callradar_session"
SESSION_S = 12 * 3600
HEARTBEAT_S = 15.0
SUBSCRIBER_QUEUE = 2000  # a browser this far behind is cut off; it reconnects and gets a fresh snapshot
PRUNE_EVERY_S = 30.0
FAILED_LOGIN_DELAY_S = 0.5  # slows token guessing
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PRINCIPAL = web.RequestKey("principal", Principal)  # who sent the request, set by the guard

# ---------------------------------------------------------------- live state and listeners


@dataclass(eq=False)
class Subscriber:
    """One open event stream: who it is and which call's transcript it follows."""

    principal: Principal
    follow: str | None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))

    def push(self, item) -> bool:
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            return False

    def close(self) -> None:
        """End the stream: what is queued is dropped (the browser reconnects to a fresh snapshot)."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class Hub:
    """The state plus the open streams; used only from the event loop thread."""

    def __init__(self, state: ConsoleState, alert_threshold: float = 0.6):
        self.state = state
        self.alert_threshold = alert_threshold
        self.subscribers: set[Subscriber] = set()
        self.feed_connected = False

    def apply_batch(self, records: list) -> None:
        now = time.time()
        for record in records:
            for update in self.state.apply(record, now):
                self.publish(update)

    def publish(self, update: Update) -> None:
        call = self.state.calls.get(update.call_id)
        if call is None:
            return
        for sub in list(self.subscribers):
            if self._wants(sub, update, call.agent_id) and not sub.push(update):
                log.warning("a console stream fell %d updates behind; closing it", SUBSCRIBER_QUEUE)
                self.subscribers.discard(sub)
                sub.close()

    @staticmethod
    def _wants(sub: Subscriber, update: Update, call_agent_id: str) -> bool:
        if not sub.principal.can_see(call_agent_id):
            return False
        if update.kind == "utterance":
            return sub.follow == update.call_id
        if update.kind == "alert" and sub.principal.role == "agent":
            return update.data.get("alert_type") == "assist_prompt"
        return True

    def snapshot(self, principal: Principal, follow: str | None) -> dict:
        can_see = principal.can_see
        return {
            "now": time.time(),
            "me": principal.to_dict(),
            "alert_threshold": self.alert_threshold,
            "calls": self.state.ranked(can_see),
            "alerts": [a for a in self.state.alert_feed() if can_see(self.state.calls[a["call_id"]].agent_id)]
            if principal.role == "supervisor" else [],
            "follow": follow,
            "detail": self.detail(principal, follow) if follow in self.state.calls else None,
        }

    def detail(self, principal: Principal, call_id: str) -> dict:
        """A call as this viewer may see it: agents get their prompts, not the supervisor's alerts."""
        return self.state.detail(call_id, prompts_only=principal.role == "agent")

    def close(self) -> None:
        for sub in list(self.subscribers):
            sub.close()
        self.subscribers.clear()


# ---------------------------------------------------------------- the web app


FeedbackSender = Callable[[Feedback], Awaitable[None]]


def create_app(hub: Hub, tokens: TokenStore, send_feedback: FeedbackSender) -> web.Application:
    sessions: dict[str, tuple[Principal, float]] = {}

    def who(request: web.Request) -> Principal | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return tokens.authenticate(header[7:].strip())
        sid = request.cookies.get(COOKIE)
        entry = sessions.get(sid) if sid else None
        if entry and entry[1] > time.time():
            return entry[0]
        if entry:
            sessions.pop(sid, None)
        return None

    @web.middleware
    async def guard(request: web.Request, handler):
        if request.path.startswith("/api/") and request.path != "/api/login":
            principal = who(request)
            if principal is None:
                return _json({"error": "sign in first"}, 401)
            request[PRINCIPAL] = principal
        response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    async def index(request):
        return web.FileResponse(STATIC_DIR / "index.html")

    async def login(request):
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        token = body.get("token") if isinstance(body, dict) else None
        principal = tokens.authenticate(token if isinstance(token, str) else None)
        if principal is None:
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)
            return _json({"error": "unknown token"}, 401)
        sid = secrets.token_urlsafe(32)
        sessions[sid] = (principal, time.time() + SESSION_S)
        response = _json({"me": principal.to_dict()})
        response.set_cookie(COOKIE, sid, max_age=SESSION_S, httponly=True, samesite="Strict", path="/")
        return response

    async def logout(request):
        sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = _json({"signed_out": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def me(request):
        return _json({"me": request[PRINCIPAL].to_dict()})

    def visible_call(request, call_id: str):
        """The call, or the error response: 403 for an agent (whether or not it exists), 404 for a supervisor."""
        principal: Principal = request[PRINCIPAL]
        call = hub.state.calls.get(call_id)
        if call is None or not principal.can_see(call.agent_id):
            if principal.role == "agent":
                return None, _json({"error": "not your call"}, 403)
            return None, _json({"error": "no such call"}, 404)
        return call, None

    async def calls(request):
        principal: Principal = request[PRINCIPAL]
        return _json({"now": time.time(), "calls": hub.state.ranked(principal.can_see)})

    async def call_detail(request):
        call, error = visible_call(request, request.match_info["call_id"])
        return error or _json(hub.detail(request[PRINCIPAL], call.call_id))

    async def alerts(request):
        if request[PRINCIPAL].role != "supervisor":
            return _json({"error": "the alert feed is for supervisors"}, 403)
        return _json({"now": time.time(), "alerts": hub.state.alert_feed()})

    async def feedback(request):
        principal: Principal = request[PRINCIPAL]
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("alert_id"), str) \
                or not isinstance(body.get("helpful"), bool):
            return _json({"error": 'send {"alert_id": "...", "helpful": true|false}'}, 400)
        alert = hub.state.alerts.get(body["alert_id"])
        if alert is None or alert["alert_type"] != "assist_prompt":
            return _json({"error": "no such prompt"}, 404)
        call, error = visible_call(request, alert["call_id"])
        if error:
            return error
        if principal.role != "agent":
            return _json({"error": "only the call's agent rates its prompts"}, 403)
        record = Feedback(
            feedback_id=f"{alert['alert_id']}/{principal.agent_id}", call_id=call.call_id,
            alert_id=alert["alert_id"], prompt_id=alert["prompt_id"], trigger=alert["trigger"],
            helpful=body["helpful"], agent_id=principal.agent_id, ts=time.time(),
            utterance_id=alert["utterance_id"], call_time=alert["call_time"],
            snippet_id=(alert.get("snippet") or {}).get("id", ""),
        )
        try:
            await send_feedback(record)
        except Exception as exc:  # the agent's click must not vanish silently
            log.error("feedback for %s not written to Kafka: %s", record.alert_id, exc)
            return _json({"error": "could not record feedback; try again"}, 502)
        for update in hub.state.on_feedback(record):
            hub.publish(update)
        return _json({"feedback_id": record.feedback_id, "helpful": record.helpful})

    async def stream(request):
        principal: Principal = request[PRINCIPAL]
        follow = request.query.get("call") or None
        if follow:
            _, error = visible_call(request, follow)
            if error:
                return error
        elif principal.role == "agent":
            follow = hub.state.current_call(principal.agent_id)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
            **SECURITY_HEADERS})
        await response.prepare(request)
        sub = Subscriber(principal, follow)
        hub.subscribers.add(sub)
        try:
            await _send_event(response, "snapshot", hub.snapshot(principal, follow))
            while True:
                try:
                    update = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_S)
                except asyncio.TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if update is None:
                    break
                await _send_event(response, update.kind, update.data)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            hub.subscribers.discard(sub)
        return response

    async def healthz(request):
        return _json({"status": "ok", "kafka": hub.feed_connected, "streams": len(hub.subscribers)})

    app = web.Application(middlewares=[guard])
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/calls", calls)
    app.router.add_get("/api/calls/{call_id}", call_detail)
    app.router.add_get("/api/alerts", alerts)
    app.router.add_post("/api/feedback", feedback)
    app.router.add_get("/api/stream", stream)
    app.router.add_static("/static/", STATIC_DIR)
    return app


def _json(doc, status: int = 200) -> web.Response:
    return web.json_response(doc, status=status, dumps=lambda d: json.dumps(d, separators=(",", ":")))


async def _send_event(response: web.StreamResponse, kind: str, data) -> None:
    payload = json.dumps(data, separators=(",", ":"))
    await response.write(f"event: {kind}\ndata: {payload}\n\n".encode())


# ---------------------------------------------------------------- Kafka in and out


class KafkaFeed:
    """Reads the console's topics from ``history_s`` ago onwards and hands decoded batches to the loop.

    The reading (assignment, seeking by time, reconnects) is the Kafka layer's RecentReader;
    this decides what the records mean.
    """

    def __init__(self, settings, deliver: Callable[[list], None], on_connected: Callable[[], None],
                 history_s: float):
        from callradar.pipeline.kafka.readers import RecentReader

        self.deliver = deliver
        topics = Topics(settings.topic_prefix)
        self.kinds = {topics.events: CallEvent, topics.scores: Score, topics.alerts: Alert,
                      topics.feedback: Feedback}
        self.reader = RecentReader(settings, self.kinds, history_s, self.on_batch, on_connected, name="console-kafka")

    def on_batch(self, records) -> None:
        batch = []
        for rec in records:
            try:
                batch.append(self.kinds[rec.topic].decode(rec.value))
            except MalformedMessage as exc:  # the stages dead-letter bad input; here it is skipped
                log.debug("skipping a malformed %s record: %s", rec.topic, exc)
        if batch:
            self.deliver(batch)

    def start(self) -> None:
        self.reader.start()

    def stop(self) -> None:
        self.reader.stop()


class KafkaFeedbackSender:
    """Writes feedback to calls.feedback (key: call_id) and waits for the broker's acknowledgement."""

    def __init__(self, settings):
        from callradar.pipeline.kafka.clients import make_producer

        self.topic = Topics(settings.topic_prefix).feedback
        self.producer = make_producer(settings)

    async def __call__(self, record: Feedback) -> None:
        future = self.producer.send(self.topic, key=record.call_id, value=record.encode())
        await asyncio.get_running_loop().run_in_executor(None, lambda: future.get(timeout=10))

    def close(self) -> None:
        self.producer.close(timeout=5)


async def serve(settings, tokens: TokenStore, stop: asyncio.Event) -> None:
    """Run the console until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    hub = Hub(ConsoleState(), settings.risk_alert_threshold)
    feed = KafkaFeed(settings, lambda batch: loop.call_soon_threadsafe(hub.apply_batch, batch),
                     lambda: loop.call_soon_threadsafe(setattr, hub, "feed_connected", True),
                     settings.console_history_s)
    sender = KafkaFeedbackSender(settings)
    runner = web.AppRunner(create_app(hub, tokens, sender), shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.console_host, settings.console_port)
    try:
        await site.start()
        feed.start()
        log.info("console on http://%s:%d/ for %d token(s), reading Kafka at %s; Ctrl-C stops",
                 settings.console_host, settings.console_port, len(tokens), settings.bootstrap)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), PRUNE_EVERY_S)
            except asyncio.TimeoutError:
                hub.state.prune(time.time())
    finally:
        hub.close()
        await runner.cleanup()
        feed.stop()
        sender.close()
