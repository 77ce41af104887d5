"""Case actions in the console without Kafka: a fake calls.cases that hands events back as the topic would.

Every action, every refusal (403 for agents, 404, 409 held / stale / closed, 400), the
first-wins race between two supervisors, coaching pushed to its agent only, and the
book changing only when an event comes back. The browser test runs the same on the
real broker.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_console import alert, bearer, event, read_events, score  # this folder is on sys.path (rootdir tests)

from callradar.agents.console import server
from callradar.agents.console.auth import TokenStore
from callradar.agents.console.server import Hub, create_app
from callradar.agents.console.state import ConsoleState
from callradar.pipeline.records import CaseEvent
from callradar.pipeline.settings import load_settings

SUP, SUP2, NAMELESS = "sup-token-0123456789abcdef", "kim-token-0123456789abcdef", "nameless-sup-0123456789"
AG1, AG2 = "agent-one-token-0123456789", "agent-two-token-0123456789"
TOKENS = f"""
tokens:
  "{SUP}": {{role: supervisor, name: Sam}}
  "{SUP2}": {{role: supervisor, name: Kim}}
  "{NAMELESS}": {{role: supervisor}}
  "{AG1}": {{role: agent, agent_id: agent-1, name: Ana}}
  "{AG2}": {{role: agent, agent_id: agent-2}}
"""
CASE = "a-risk"  # a case's id is its opening alert's


class FakeTopic:
    """calls.cases: what is published comes back to the hub in publish order, unless told otherwise.

    ``hold``: keep events until this many are published, then hand them all back (two
    supervisors at once); ``echo=False``: nothing comes back; ``fail``: the broker refuses.
    """

    def __init__(self, hub: Hub, hold: int = 1, echo: bool = True, fail: bool = False):
        self.hub, self.hold, self.echo, self.fail = hub, hold, echo, fail
        self.sent: list[CaseEvent] = []
        self.waiting: list[CaseEvent] = []

    async def __call__(self, event: CaseEvent) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        assert CaseEvent.decode(event.encode()) == event  # what goes out is a valid record
        self.sent.append(event)
        self.waiting.append(event)
        if self.echo and len(self.waiting) >= self.hold:
            batch, self.waiting = self.waiting, []
            asyncio.get_running_loop().call_soon(self.hub.apply_batch, batch)  # the reader thread's hand-over


def case_state() -> ConsoleState:
    state = ConsoleState()
    for record in [event("calm", "agent-2"), score("calm", 0, 0.1, sentiment="positive"), event("hot", "agent-1"),
                   score("hot", 1, 0.92), alert("hot", "escalation_risk", CASE), alert("hot", "assist_prompt", "a-prompt")]:
        state.apply(record, now=1020.0)
    opened = state.book.open(state.alerts[CASE], agent_id="agent-1")
    state.apply(CaseEvent.decode(opened.encode()), now=1020.0)
    return state


def run_cases(check, ready=True, **topic):
    """Serve the app for ``check(client, hub, topic)`` with one open case on call "hot"."""

    async def main():
        hub = Hub(case_state())
        hub.cases_ready = ready
        fake = FakeTopic(hub, **topic)
        app = create_app(hub, TokenStore.from_yaml(TOKENS, "tokens"), lambda record: None, fake)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await check(client, hub, fake)

    asyncio.run(main())


async def act(client, action, token=SUP, case=CASE, **body):
    resp = await client.post(f"/api/cases/{case}/{action}", json=body, headers=bearer(token))
    return resp.status, await resp.json()


# ---------------------------------------------------------------- every action


def test_a_supervisor_claims_coaches_hands_over_resolves_and_reopens():
    async def check(client, hub, topic):
        listed = await (await client.get("/api/cases", headers=bearer(SUP))).json()
        [case] = listed["cases"]
        assert (case["case_id"], case["status"], case["version"], case["agent_id"]) == (CASE, "open", 1, "agent-1")
        assert case["due_ts"] == 1020.0 + 900.0 and case["response"] == "pending"
        assert case["default_handover"]["team"] == "floor-supervisors"  # one level above, from the matrix

        status, body = await act(client, "claim", expected_version=1)
        assert status == 200 and body["case"]["status"] == "acknowledged" and body["case"]["holder"] == "Sam"
        assert body["case"]["version"] == 2 and body["case"]["response"] == "breached"  # 1020 + 900 is long past

        status, body = await act(client, "coach", expected_version=2, message="Offer the refund now.")
        assert status == 200 and body["case"]["version"] == 3
        coaching = await (await client.get("/api/coaching", headers=bearer(AG1))).json()
        [note] = coaching["coaching"]
        assert (note["message"], note["from"], note["agent_id"], note["read"]) == (
            "Offer the refund now.", "Sam", "agent-1", False)
        assert (await client.get("/api/coaching", headers=bearer(AG2))).status == 200
        assert (await (await client.get("/api/coaching", headers=bearer(AG2))).json())["coaching"] == []
        resp = await client.post("/api/coaching/read", json={"event_id": note["event_id"]}, headers=bearer(AG1))
        assert resp.status == 200
        assert (await (await client.get("/api/coaching", headers=bearer(AG1))).json())["coaching"][0]["read"] is True
        view = await (await client.get(f"/api/cases/{CASE}", headers=bearer(SUP))).json()
        assert view["coaching_read"] == [note["event_id"]] and view["version"] == 3  # reading is no case event

        status, body = await act(client, "handover", expected_version=3, note="needs a manager")
        assert status == 200
        assert (body["case"]["route"]["team"], body["case"]["status"], body["case"]["holder"]) == (
            "floor-supervisors", "open", "")  # waits for the new route to claim it
        assert (await act(client, "acknowledge", expected_version=4))[0] == 200
        routes = (await (await client.get("/api/cases/routes", headers=bearer(SUP))).json())["routes"]
        manager = next(r for r in routes if r["team"] == "contact-centre-managers")
        status, body = await act(client, "handover", expected_version=5,
                                 route={"type": "hierarchical", "team": manager["team"], "level": manager["level"],
                                        "sla_s": 1, "tier": 99})  # tier and response time come from the matrix
        assert status == 200
        assert (body["case"]["route"]["tier"], body["case"]["route"]["sla_s"]) == (manager["tier"], manager["sla_s"])

        assert (await act(client, "claim", SUP2, expected_version=6))[0] == 200
        status, body = await act(client, "resolve", SUP2, expected_version=7, outcome="false_alarm",
                                 note="customer was joking")
        assert status == 200
        c = body["case"]
        assert (c["status"], c["outcome"], c["note"], c["tier"], c["default_handover"]) == (
            "resolved", "false_alarm", "customer was joking", 3, None)
        status, body = await act(client, "reopen", expected_version=8, note="they called back")
        assert status == 200 and (body["case"]["status"], body["case"]["holder"]) == ("acknowledged", "Sam")
        status, body = await act(client, "resolve", expected_version=9, outcome="resolved", tier=1)
        assert status == 200 and (body["case"]["outcome"], body["case"]["tier"]) == ("resolved", 1)

        assert [e.kind for e in topic.sent] == [
            "acknowledged", "coaching_sent", "handed_over", "acknowledged", "handed_over", "acknowledged",
            "resolved", "reopened", "resolved"]
        assert [e.actor for e in topic.sent][-4:] == ["Kim", "Kim", "Sam", "Sam"]
        assert hub.state.book.cases[CASE].version == 10
        assert (await (await client.get("/api/cases?status=open", headers=bearer(SUP))).json())["cases"] == []
        assert len((await (await client.get("/api/cases?status=resolved", headers=bearer(SUP))).json())["cases"]) == 1

    run_cases(check)


def test_coaching_reaches_that_agents_stream_and_the_case_reaches_supervisors_only():
    async def check(client, hub, topic):
        mine = await client.get("/api/stream", headers=bearer(AG1))
        other = await client.get("/api/stream", headers=bearer(AG2))
        sup = await client.get("/api/stream", headers=bearer(SUP))
        [(_, snap)] = await read_events(mine, 1)
        assert snap["coaching"] == [] and snap["cases"] == [] and snap["routes"] == []
        [(_, sup_snap)] = await read_events(sup, 1)
        assert [c["case_id"] for c in sup_snap["cases"]] == [CASE] and sup_snap["routes"]
        await read_events(other, 1)

        assert (await act(client, "claim", expected_version=1))[0] == 200
        assert (await act(client, "coach", expected_version=2, message="Slow down, summarise."))[0] == 200
        kinds = [(k, d.get("message")) for k, d in await read_events(mine, 1)]
        assert kinds == [("coaching", "Slow down, summarise.")]  # the claim was not theirs to see
        assert [(k, d["version"]) for k, d in await read_events(sup, 2)] == [("case", 2), ("case", 3)]
        with pytest.raises(asyncio.TimeoutError):  # another agent hears nothing
            await asyncio.wait_for(read_events(other, 1), 0.5)
        for resp in (mine, other, sup):
            resp.close()

    run_cases(check)


# ---------------------------------------------------------------- every refusal


def test_agents_get_403_on_every_case_request_and_nothing_is_published():
    async def check(client, hub, topic):
        for action, body in [("claim", {"expected_version": 1}), ("acknowledge", {"expected_version": 1}),
                             ("coach", {"expected_version": 1, "message": "hi"}),
                             ("handover", {"expected_version": 1}),
                             ("resolve", {"expected_version": 1, "outcome": "false_alarm"}),
                             ("reopen", {"expected_version": 1}), ("nonsense", {})]:
            status, reply = await act(client, action, AG1, **body)
            assert (status, reply["error"]) == (403, "only supervisors act on cases"), action
        assert (await act(client, "claim", AG1, case="no-such-case", expected_version=1))[0] == 403  # no probing
        for path in ("/api/cases", f"/api/cases/{CASE}", "/api/cases/routes", "/api/cases/no-such-case"):
            assert (await client.get(path, headers=bearer(AG1))).status == 403, path
        assert (await client.get("/api/coaching", headers=bearer(SUP))).status == 403
        resp = await client.post("/api/coaching/read", json={"event_id": "x"}, headers=bearer(SUP))
        assert resp.status == 403
        assert topic.sent == [] and hub.state.book.cases[CASE].version == 1

    run_cases(check)


def test_refusals_are_4xx_with_the_reason_and_who_has_the_case():
    async def check(client, hub, topic):
        status, body = await act(client, "claim", case="no-such-case", expected_version=1)
        assert (status, body["code"]) == (404, "unknown") and "no-such-case" in body["error"]
        assert (await client.get("/api/cases/no-such-case", headers=bearer(SUP))).status == 404
        status, body = await act(client, "coach", expected_version=1, message="x")
        assert (status, body["code"]) == (409, "held") and "claim the case first" in body["error"]

        assert (await act(client, "claim", expected_version=1))[0] == 200
        status, body = await act(client, "claim", SUP2, expected_version=2)
        assert (status, body["code"], body["holder"]) == (409, "held", "Sam") and "Sam already" in body["error"]
        status, body = await act(client, "coach", SUP2, expected_version=2, message="x")
        assert (status, body["holder"], body["error"]) == (409, "Sam", "Sam has this case")
        status, body = await act(client, "resolve", expected_version=1, outcome="false_alarm")
        assert (status, body["code"], body["holder"]) == (409, "stale", "Sam")
        assert "version 1, now 2: acknowledged by Sam" in body["error"]
        status, body = await act(client, "reopen", expected_version=2)
        assert (status, body["code"]) == (409, "not_resolved")

        for body, reason in [
            ({}, "expected_version"), ({"expected_version": "2"}, "expected_version"),
            ({"expected_version": True}, "expected_version"),
        ]:
            status, reply = await act(client, "resolve", **body)
            assert (status, reply["code"]) == (400, "invalid") and reason in reply["error"]
        for raw in (b"not json", b"[2]"):
            resp = await client.post(f"/api/cases/{CASE}/claim", data=raw, headers=bearer(SUP))
            assert resp.status == 400
        for action, body, reason in [
            ("coach", {"message": "   "}, "the coaching message is empty"),
            ("coach", {"message": 7}, "the coaching message must be text"),
            ("coach", {"message": "x" * 2001}, "over 2000 characters"),
            ("resolve", {"outcome": "fixed"}, "outcome 'fixed' is not one of resolved, customer_escalated"),
            ("resolve", {"outcome": "resolved", "tier": 0}, "tier must be a whole number >= 1"),
            ("resolve", {"outcome": "resolved", "note": None}, "the note must be text"),
            ("handover", {"route": {"type": "functional", "team": "nobody"}}, "has no route to 'nobody'"),
            ("handover", {"route": "manager"}, "route must be an object"),
        ]:
            status, reply = await act(client, action, expected_version=2, **body)
            assert (status, reply["code"]) == (400, "invalid"), (action, reply)
            assert reason in reply["error"], (action, reply)

        status, body = await act(client, "frobnicate", expected_version=2)
        assert status == 404 and "one of acknowledge" in body["error"]
        status, body = await act(client, "claim", NAMELESS, expected_version=2)
        assert status == 403 and "name" in body["error"]

        assert (await act(client, "resolve", expected_version=2, outcome="customer_escalated"))[0] == 200
        for action, body in [("coach", {"message": "x"}), ("resolve", {"outcome": "false_alarm"}),
                             ("claim", {}), ("handover", {})]:
            status, reply = await act(client, action, SUP2, expected_version=3, **body)
            assert (status, reply["code"], reply["holder"]) == (409, "closed", "Sam"), action
            assert "resolved as customer escalated by Sam" in reply["error"]
        assert [e.kind for e in topic.sent] == ["acknowledged", "resolved"]

        resp = await client.post("/api/coaching/read", json={"event_id": "someone-elses"}, headers=bearer(AG1))
        assert resp.status == 404
        assert (await client.post("/api/coaching/read", json={}, headers=bearer(AG1))).status == 400
        assert (await client.get("/api/cases?status=maybe", headers=bearer(SUP))).status == 400

    run_cases(check)


def test_two_supervisors_at_once_the_first_on_the_topic_wins_and_the_second_is_told_who_has_it():
    async def check(client, hub, topic):
        (s1, b1), (s2, b2) = await asyncio.gather(act(client, "claim", SUP, expected_version=1),
                                                  act(client, "claim", SUP2, expected_version=1))
        assert len(topic.sent) == 2, "both passed the check against version 1"
        winner = topic.sent[0].actor
        loser = {"Sam": (s2, b2), "Kim": (s1, b1)}[winner]
        assert {"Sam": (s1, b1), "Kim": (s2, b2)}[winner][0] == 200
        assert loser[0] == 409 and loser[1]["holder"] == winner and loser[1]["code"] == "held"
        assert f"{winner} already acknowledged" in loser[1]["error"]
        case = hub.state.book.cases[CASE]
        assert (case.holder, case.version, hub.state.book.ignored) == (winner, 2, 1)

    run_cases(check, hold=2)


def test_the_book_changes_only_when_the_event_comes_back(monkeypatch):
    monkeypatch.setattr(server, "CASE_CONFIRM_S", 0.2)

    async def check(client, hub, topic):
        status, body = await act(client, "claim", expected_version=1)
        assert status == 202 and body["pending"] is True and body["event_id"] == topic.sent[0].event_id
        assert hub.state.book.cases[CASE].version == 1 and not hub.case_waiters
        hub.apply_batch(topic.sent)  # it comes back late
        assert hub.state.book.cases[CASE].holder == "Sam"

    run_cases(check, echo=False)


def test_a_write_kafka_did_not_take_is_reported_and_changes_nothing():
    async def check(client, hub, topic):
        status, body = await act(client, "claim", expected_version=1)
        assert (status, body["code"]) == (502, "unavailable")
        assert hub.state.book.cases[CASE].version == 1 and not hub.case_waiters

    run_cases(check, fail=True)


def test_actions_wait_until_the_case_history_is_read():
    async def check(client, hub, topic):
        status, body = await act(client, "claim", expected_version=1)
        assert (status, body["code"]) == (503, "loading") and topic.sent == []
        assert (await (await client.get("/healthz")).json())["cases"] is False

    run_cases(check, ready=False)


def test_a_redelivered_or_repeated_event_changes_nothing():
    state = case_state()
    claim = state.book.acknowledge(CASE, "Sam", now=2000.0, expected_version=1)
    assert [u.kind for u in state.apply(claim, now=2000.0)] == ["case"]
    assert state.apply(claim, now=2001.0) == [] and state.case_results[claim.event_id] is True
    late = state.book.cases[CASE].events[0]  # the opened event again
    assert state.apply(late, now=2002.0) == [] and state.book.cases[CASE].version == 2


def test_the_kafka_feed_reads_the_cases_from_the_beginning():
    from types import SimpleNamespace

    from callradar.agents.console.server import KafkaFeed
    from callradar.pipeline.records import Topics

    delivered, ready = [], []
    feed = KafkaFeed(load_settings({}), delivered.append, lambda: None, history_s=60,
                     on_caught_up=lambda: ready.append(True))
    topics = Topics("")
    assert topics.cases in feed.reader.topics and feed.reader.from_start == {topics.cases}
    feed.reader.on_caught_up()
    assert ready == [True]
    opened = case_state().book.cases[CASE].events[0]
    feed.on_batch([SimpleNamespace(topic=topics.cases, value=opened.encode()),
                   SimpleNamespace(topic=topics.cases, value=b'{"v": 1, "type": "case_event"}')])
    assert delivered == [[opened]]
