"""The console's web server: pages, a JSON API, and server-sent events fed from Kafka.

One process: a reader thread of the Kafka layer (pipeline/kafka/readers.py) reads
calls.events, calls.transcripts, calls.scores, calls.alerts and calls.feedback from a while ago, and
calls.cases from its beginning, and hands each batch to the event loop, where
:class:`Hub` folds it into the state and pushes updates to the browsers allowed
to see them. Feedback clicks go to calls.feedback through a producer, and the
browser hears back only once Kafka has acknowledged the write.

A supervisor's case action is checked against the case book, published on
calls.cases, and answered once the event comes back from the topic (up to
CASE_CONFIRM_S): applied, or beaten by another supervisor's event, who is named.
The book is never changed on the side, so every console agrees on the winner.

The Insights page (GET /api/insights) reads the call archive, not the topics: insights.py.

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

from callradar.agents.cases import CaseRefused, handover_routes
from callradar.agents.console.auth import Principal, TokenStore
from callradar.agents.console.insights import ArchiveInsights, BadPeriod
from callradar.agents.console.state import ConsoleState, Update
from callradar.agents.routing import EscalationMatrix
from callradar.pipeline.errors import UserError
from callradar.pipeline.records import Alert, CallEvent, CaseEvent, Feedback, MalformedMessage, Score, Topics, Utterance

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
CASE_CONFIRM_S = 1.0  # how long a case action waits for its event to come back from calls.cases
CASE_ACTIONS = ("acknowledge", "claim", "coach", "handover", "resolve", "reopen")  # claim = acknowledge

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
        self.cases_ready = False  # calls.cases read up to where it was at start: the book is complete
        self.case_waiters: dict[str, list[asyncio.Future]] = {}  # event_id -> requests waiting for it

    def apply_batch(self, records: list) -> None:
        now = time.time()
        for record in records:
            for update in self.state.apply(record, now):
                self.publish(update)
            if isinstance(record, CaseEvent):
                for future in self.case_waiters.pop(record.event_id, ()):
                    if not future.done():
                        future.set_result(self.state.case_results[record.event_id])

    def expect_case_event(self, event_id: str) -> asyncio.Future:
        """A future for whether ``event_id`` changes its case, once it comes back from calls.cases."""
        future = asyncio.get_running_loop().create_future()
        if event_id in self.state.case_results:  # the same request made the same event, already back
            future.set_result(self.state.case_results[event_id])
        else:
            self.case_waiters.setdefault(event_id, []).append(future)
        return future

    def forget_case_event(self, event_id: str, future: asyncio.Future) -> None:
        waiting = self.case_waiters.get(event_id, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self.case_waiters.pop(event_id, None)

    def publish(self, update: Update) -> None:
        if update.kind in ("case", "coaching", "coaching_read"):
            self._publish_case(update)
            return
        call = self.state.calls.get(update.call_id)
        if call is None:
            return
        for sub in list(self.subscribers):
            if self._wants(sub, update, call.agent_id) and not sub.push(update):
                log.warning("a console stream fell %d updates behind; closing it", SUBSCRIBER_QUEUE)
                self.subscribers.discard(sub)
                sub.close()

    def _publish_case(self, update: Update) -> None:
        """Cases go to supervisors; coaching only to the agent it was sent to (whose call it may not be any more)."""
        for sub in list(self.subscribers):
            if update.kind == "case":
                wanted = sub.principal.role == "supervisor"
            else:
                wanted = sub.principal.role == "agent" and sub.principal.agent_id == update.data["agent_id"]
            if wanted and not sub.push(update):
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
        now = time.time()
        supervisor = principal.role == "supervisor"
        return {
            "now": now,
            "me": principal.to_dict(),
            "alert_threshold": self.alert_threshold,
            "calls": self.state.ranked(can_see),
            "alerts": [a for a in self.state.alert_feed() if can_see(self.state.calls[a["call_id"]].agent_id)]
            if supervisor else [],
            "cases": self.state.feed_cases() if supervisor else [],
            "routes": handover_routes(self.state.book.matrix) if supervisor else [],
            "coaching": [] if supervisor else self.state.coaching_for(principal.agent_id, now),
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
CaseSender = Callable[[CaseEvent], Awaitable[None]]


async def _no_case_sender(event: CaseEvent) -> None:
    raise ConnectionError("this console has no producer for calls.cases")


def create_app(hub: Hub, tokens: TokenStore, send_feedback: FeedbackSender,
               send_case: CaseSender = _no_case_sender, insights: ArchiveInsights | None = None) -> web.Application:
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

    # ------------------------------------------------------------ escalation cases

    book = hub.state.book

    def supervisor_only(request, what: str):
        if request[PRINCIPAL].role != "supervisor":
            return _json({"error": f"{what} is for supervisors"}, 403)
        return None

    async def cases(request):
        error = supervisor_only(request, "the case list")
        if error:
            return error
        status = request.query.get("status", "")
        limit = request.query.get("limit", "200")
        if status not in ("", "open", "resolved") or not limit.isdigit() or not 1 <= int(limit) <= 5000:
            return _json({"error": "status is open or resolved; limit is 1 to 5000"}, 400)
        return _json({"now": time.time(), "ready": hub.cases_ready, "cases": hub.state.case_list(status, int(limit))})

    async def case_routes(request):
        return supervisor_only(request, "handing over") or _json({"routes": handover_routes(book.matrix)})

    async def case_detail(request):
        error = supervisor_only(request, "a case")
        if error:
            return error
        try:
            return _json(hub.state.case_view(book.get(request.match_info["case_id"])))
        except CaseRefused as exc:
            return _refused(exc)

    def case_event(action: str, case_id: str, actor: str, body: dict, version: int | None) -> CaseEvent:
        """The event ``action`` makes, checked against the book as it is (CaseRefused if it may not)."""
        if action in ("acknowledge", "claim"):
            return book.acknowledge(case_id, actor, expected_version=version)
        if action == "coach":
            case = book.get(case_id)
            call = hub.state.calls.get(case.call_id)
            return book.coach(case_id, actor, body.get("message", ""), expected_version=version,
                              agent_id=case.agent_id or (call.agent_id if call else ""))
        if action == "handover":
            return book.hand_over(case_id, actor, route=_matrix_route(book.matrix, body.get("route")),
                                  note=body.get("note", ""), expected_version=version)
        if action == "resolve":
            return book.resolve(case_id, actor, body.get("outcome"), note=body.get("note", ""),
                                tier=body.get("tier"), call_time=body.get("call_time", 0.0), expected_version=version)
        return book.reopen(case_id, actor, note=body.get("note", ""), expected_version=version)

    async def case_action(request):
        principal: Principal = request[PRINCIPAL]
        action, case_id = request.match_info["action"], request.match_info["case_id"]
        if principal.role != "supervisor":
            return _json({"error": "only supervisors act on cases", "code": "forbidden"}, 403)
        if action not in CASE_ACTIONS:
            return _json({"error": f"no action {action!r:.40}; one of {', '.join(CASE_ACTIONS)}"}, 404)
        if not principal.name:
            return _json({"error": "a case records who acted: give this supervisor's token a name in the "
                                   "tokens file", "code": "forbidden"}, 403)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        version = body.get("expected_version") if isinstance(body, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            return _json({"error": 'send a JSON object with "expected_version": the case version you acted on',
                          "code": "invalid"}, 400)
        if not hub.cases_ready:
            return _json({"error": "the console is still reading the case history; try again in a moment",
                          "code": "loading"}, 503)
        try:
            event = case_event(action, case_id, principal.name, body, version)
        except CaseRefused as exc:
            return _refused(exc)
        future = hub.expect_case_event(event.event_id)
        try:
            await send_case(event)
        except Exception as exc:  # the supervisor's action must not vanish silently
            hub.forget_case_event(event.event_id, future)
            log.error("case event %s not written to Kafka: %s", event.event_id, exc)
            return _json({"error": "could not record that; try again", "code": "unavailable"}, 502)
        try:
            applied = await asyncio.wait_for(asyncio.shield(future), CASE_CONFIRM_S)
        except asyncio.TimeoutError:
            hub.forget_case_event(event.event_id, future)
            return _json({"pending": True, "event_id": event.event_id,
                          "error": "sent; the case updates here when its event comes back"}, 202)
        case = book.get(case_id)
        if applied:
            return _json({"event_id": event.event_id, "case": hub.state.case_view(case)})
        try:  # another event got there first: say what stands in the way now
            case_event(action, case_id, principal.name, body, None)
        except CaseRefused as exc:
            return _refused(exc)
        last = case.events[-1]
        return _refused(CaseRefused("stale", f"the case changed as you acted ({last.kind.replace('_', ' ')} by "
                                             f"{last.actor}); look again and retry", holder=case.holder))

    async def coaching(request):
        principal: Principal = request[PRINCIPAL]
        if principal.role != "agent":
            return _json({"error": "coaching is shown to the agent it was sent to"}, 403)
        return _json({"coaching": hub.state.coaching_for(principal.agent_id, time.time())})

    async def coaching_read(request):
        principal: Principal = request[PRINCIPAL]
        if principal.role != "agent":
            return _json({"error": "only the agent it was sent to marks coaching read"}, 403)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("event_id"), str):
            return _json({"error": 'send {"event_id": "..."}'}, 400)
        updates = hub.state.mark_coaching_read(principal.agent_id, body["event_id"])
        if updates is None:
            return _json({"error": "no such coaching message for you"}, 404)
        for update in updates:
            hub.publish(update)
        return _json({"event_id": body["event_id"], "read": True})

    # ------------------------------------------------------------ insights from the call archive

    async def insights_tables(request):
        error = supervisor_only(request, "insights")
        if error:
            return error
        if insights is None:
            return _json({"error": "this console was started without a call archive"}, 503)
        try:
            return _json(await insights.get(request.query.get("since", "7d")))
        except BadPeriod as exc:
            return _json({"error": str(exc)}, 400)
        except UserError as exc:  # an archive part that cannot be read: say which
            log.warning("insights: %s", exc)
            return _json({"error": f"the archive could not be read: {exc}"}, 500)

    async def healthz(request):
        return _json({"status": "ok", "kafka": hub.feed_connected, "cases": hub.cases_ready,
                      "streams": len(hub.subscribers)})

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
    app.router.add_get("/api/cases", cases)
    app.router.add_get("/api/cases/routes", case_routes)  # before {case_id}: routes is not a case
    app.router.add_get("/api/cases/{case_id}", case_detail)
    app.router.add_post("/api/cases/{case_id}/{action}", case_action)
    app.router.add_get("/api/coaching", coaching)
    app.router.add_post("/api/coaching/read", coaching_read)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/api/insights", insights_tables)
    app.router.add_static("/static/", STATIC_DIR)
    return app


def _refused(exc: CaseRefused) -> web.Response:
    return _json({"error": exc.reason, "code": exc.code, "holder": exc.holder}, exc.status)


def _matrix_route(matrix: EscalationMatrix, wanted) -> dict | None:
    """The matrix's own route (its tier and response time) for a hand-over choice; None: the default."""
    if wanted is None:
        return None
    if not isinstance(wanted, dict):
        raise CaseRefused("invalid", 'route must be an object: {"type", "team", "level"} from /api/cases/routes')
    for route in handover_routes(matrix):
        if all(wanted.get(k, "") == route[k] for k in ("type", "team", "level")):
            return route
    raise CaseRefused("invalid", f"the escalation matrix has no route to {str(wanted.get('team'))!r:.80} "
                                 f"({wanted.get('type')}); /api/cases/routes lists them")


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
                 history_s: float, on_caught_up: Callable[[], None] = lambda: None):
        from callradar.pipeline.kafka.readers import RecentReader

        self.deliver = deliver
        topics = Topics(settings.topic_prefix)
        self.kinds = {topics.events: CallEvent, topics.transcripts: Utterance, topics.scores: Score,
                      topics.alerts: Alert, topics.feedback: Feedback, topics.cases: CaseEvent}
        # calls.cases from its beginning: a case is its events, so a restart must see them all
        self.reader = RecentReader(settings, self.kinds, history_s, self.on_batch, on_connected, name="console-kafka",
                                   from_start=[topics.cases], on_caught_up=on_caught_up)

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


class KafkaSender:
    """Writes the console's records (feedback, case events; key: call_id) and waits for the broker's acknowledgement."""

    def __init__(self, settings):
        from callradar.pipeline.kafka.clients import make_producer

        self.topics = Topics(settings.topic_prefix)
        self.producer = make_producer(settings)

    async def send(self, topic: str, record) -> None:
        future = self.producer.send(topic, key=record.call_id, value=record.encode())
        await asyncio.get_running_loop().run_in_executor(None, lambda: future.get(timeout=10))

    async def feedback(self, record: Feedback) -> None:
        await self.send(self.topics.feedback, record)

    async def case_event(self, event: CaseEvent) -> None:
        await self.send(self.topics.cases, event)

    def close(self) -> None:
        self.producer.close(timeout=5)


async def serve(settings, tokens: TokenStore, stop: asyncio.Event, matrix: EscalationMatrix | None = None,
                insights: ArchiveInsights | None = None) -> None:
    """Run the console until ``stop`` is set; ``matrix``: the escalation matrix the worker routes by;
    ``insights``: the Insights page's archive reader."""
    loop = asyncio.get_running_loop()
    hub = Hub(ConsoleState(matrix=matrix), settings.risk_alert_threshold)
    feed = KafkaFeed(settings, lambda batch: loop.call_soon_threadsafe(hub.apply_batch, batch),
                     lambda: loop.call_soon_threadsafe(setattr, hub, "feed_connected", True),
                     settings.console_history_s,
                     on_caught_up=lambda: loop.call_soon_threadsafe(setattr, hub, "cases_ready", True))
    sender = KafkaSender(settings)
    runner = web.AppRunner(create_app(hub, tokens, sender.feedback, sender.case_event, insights), shutdown_timeout=2.0)
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
