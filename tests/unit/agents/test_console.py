"""Console without Kafka or a browser: tokens, what each role may see, the API, the event stream.

The browser test (tests/browser/test_console_browser.py) runs the same server against
the real broker and pipeline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callradar.agents.console.auth import Principal, TokenError, TokenStore, write_tokens_file
from callradar.agents.console.server import Hub, create_app
from callradar.agents.console.state import ConsoleState
from callradar.pipeline.records import Alert, CallEvent, Feedback, MalformedMessage, Score
from callradar.pipeline.settings import load_settings

SUP = "sup-token-0123456789abcdef"
AG1 = "agent-one-token-0123456789"
AG2 = "agent-two-token-0123456789"
TOKENS = f"""
tokens:
  "{SUP}": {{role: supervisor, name: Sam}}
  "{AG1}": {{role: agent, agent_id: agent-1, name: Ana}}
  "{AG2}": {{role: agent, agent_id: agent-2}}
"""


# ---------------------------------------------------------------- tokens


def test_tokens_map_to_roles_and_agents():
    store = TokenStore.from_yaml(TOKENS, "tokens.yaml")
    assert len(store) == 3
    assert store.authenticate(SUP) == Principal("supervisor", "", "Sam")
    assert store.authenticate(AG1) == Principal("agent", "agent-1", "Ana")
    assert store.authenticate("agent-one-token-012345678") is None
    assert store.authenticate("") is None and store.authenticate(None) is None


def test_only_supervisors_and_the_calls_own_agent_can_see_it():
    assert Principal("supervisor").can_see("agent-9")
    assert Principal("agent", "agent-1").can_see("agent-1")
    assert not Principal("agent", "agent-1").can_see("agent-2")
    assert not Principal("agent", "agent-1").can_see("")  # a call whose agent is not known yet


@pytest.mark.parametrize("entry, problem", [
    ('"short": {role: supervisor}', "line 3: tokens, entry 1: a token needs at least 16 characters"),
    ("12345678901234567890: {role: supervisor}", "line 3: tokens, entry 1: a token must be text; put it in quotes"),
    ('"long-enough-secret-token": {role: admin}', "line 3: tokens, entry 1: role 'admin' is not supervisor or agent"),
    ('"long-enough-secret-token": {role: agent}', "line 3: tokens, entry 1: an agent token needs agent_id"),
    ('"long-enough-secret-token": {role: agent, agent: a1}', "unknown key.*agent;"),
    ('"long-enough-secret-token": supervisor', "line 3: tokens, entry 1: expected a mapping"),
    ('"long-enough-secret-token": {role: supervisor}\n  "long-enough-secret-token": {role: agent, agent_id: a}',
     "line 4: a key appears twice"),
])
def test_bad_token_files_name_the_line_but_never_the_token(entry, problem):
    text = f"# tokens\ntokens:\n  {entry}\n"
    with pytest.raises(TokenError, match=problem) as err:
        TokenStore.from_yaml(text, "tokens.yaml")
    for secret in ("long-enough-secret-token", "short", "12345678901234567890"):
        assert secret not in str(err.value)


def test_tokens_come_from_a_file_and_the_environment(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(TOKENS)
    inline = '{tokens: {"inline-token-0123456789": {role: agent, agent_id: agent-7}}}'
    settings = load_settings({"CALLRADAR_CONSOLE_TOKENS_FILE": str(path), "CALLRADAR_CONSOLE_TOKENS": inline})
    store = TokenStore.from_settings(settings)
    assert store.authenticate(SUP).role == "supervisor"
    assert store.authenticate("inline-token-0123456789").agent_id == "agent-7"
    assert "inline-token" not in repr(settings), "settings must not print tokens"
    with pytest.raises(TokenError, match="no console tokens.*--init-tokens"):
        TokenStore.from_settings(load_settings({}))
    with pytest.raises(TokenError, match="cannot read console tokens file"):
        TokenStore.from_settings(load_settings({"CALLRADAR_CONSOLE_TOKENS_FILE": str(tmp_path / "nope.yaml")}))


def test_init_tokens_writes_a_private_file_with_strong_tokens(tmp_path):
    path = tmp_path / "console-tokens.yaml"
    assert write_tokens_file(path, ["Sam"], ["agent-1", "agent-2"]) == 3
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    settings = load_settings({"CALLRADAR_CONSOLE_TOKENS_FILE": str(path)})
    assert len(TokenStore.from_settings(settings)) == 3
    with pytest.raises(TokenError, match="already exists"):
        write_tokens_file(path, ["Sam"], [])


# ---------------------------------------------------------------- state


def event(call_id, agent_id, kind="started", ts=1000.0):
    return CallEvent(call_id=call_id, event=kind, ts=ts, agent_id=agent_id, queue="billing", customer_tier="gold")


def score(call_id, i, risk, speaker="customer", sentiment="negative", text="this is ridiculous"):
    return Score(utterance_id=f"{call_id}/{speaker}/{i}", call_id=call_id, speaker=speaker, start=i * 5.0,
                 end=i * 5.0 + 3, text=text, sentiment=sentiment,
                 sentiment_scores={"negative": 0.8, "neutral": 0.1, "positive": 0.1}, frustration=0.5,
                 intent=0.2, keywords=[{"category": "complaint", "phrase": "x", "matched": "x", "score": 1.0}],
                 risk=risk, reasons=[], model_version="m", audio_end_ts=0.0)


def alert(call_id, kind, alert_id, i=3):
    return Alert(alert_id=alert_id, alert_type=kind, call_id=call_id, utterance_id=f"{call_id}/customer/{i}",
                 risk=0.9, trigger="complaint", reasons=[], message="Say sorry." if kind == "assist_prompt" else "Risk",
                 prompt_id="complaint-own-it", route={"type": "functional", "team": "billing-specialists", "tier": 2,
                                                      "sla_s": 900.0}, call_time=18.0, created_ts=1020.0,
                 snippet={"id": "refunds#x", "title": "Refunds: x", "text": "...", "source": "refunds.md"})


def filled_state() -> ConsoleState:
    state = ConsoleState()
    for record in [event("calm", "agent-2"), score("calm", 0, 0.1, sentiment="positive"),
                   score("hot", 0, 0.3), event("hot", "agent-1"), score("hot", 1, 0.92),
                   alert("hot", "escalation_risk", "a-risk"), alert("hot", "assist_prompt", "a-prompt")]:
        state.apply(record, now=1030.0)
    return state


def test_calls_rank_by_risk_and_agents_see_only_their_own():
    state = filled_state()
    assert [c["call_id"] for c in state.ranked(Principal("supervisor").can_see)] == ["hot", "calm"]
    hot = state.ranked(Principal("agent", "agent-1").can_see)
    assert [c["call_id"] for c in hot] == ["hot"]
    assert hot[0]["risks"] == [0.3, 0.92] and hot[0]["peak_risk"] == 0.92 and hot[0]["last_trigger"] == "complaint"
    detail = state.detail("hot")
    assert [u["utterance_id"] for u in detail["utterances"]] == ["hot/customer/0", "hot/customer/1"]
    assert detail["utterances"][0]["sentiment"] == "negative" and detail["utterances"][0]["keywords"] == ["complaint"]
    assert [a["alert_id"] for a in state.alert_feed()] == ["a-risk"]
    assert state.current_call("agent-1") == "hot"


def test_a_replayed_record_changes_nothing_and_ended_calls_sink_then_go():
    state = filled_state()
    assert state.apply(alert("hot", "escalation_risk", "a-risk"), now=1040.0) == []
    state.apply(score("hot", 1, 0.92), now=1040.0)
    assert state.calls["hot"].summary()["risks"] == [0.3, 0.92]
    state.apply(event("hot", "agent-1", "ended", ts=1100.0), now=1100.0)
    assert [c["call_id"] for c in state.ranked(lambda _: True)] == ["calm", "hot"]
    assert state.prune(now=1100.0 + 1801.0) == ["hot"]
    assert "a-risk" not in state.alerts and state.alert_feed() == []


# ---------------------------------------------------------------- the web app


class FakeSender:
    def __init__(self, fail=False):
        self.sent, self.fail = [], fail

    async def __call__(self, record):
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append(record)


def run_app(check, sender=None):
    """Serve the app on a loopback port for ``check(client, hub)``."""

    async def main():
        hub = Hub(filled_state())
        app = create_app(hub, TokenStore.from_yaml(TOKENS, "tokens"), sender or FakeSender())
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await check(client, hub)

    asyncio.run(main())


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_api_needs_a_token_and_the_login_sets_a_private_cookie():
    async def check(client, hub):
        assert (await client.get("/api/calls")).status == 401
        assert (await client.post("/api/login", json={"token": "wrong-token-0123456789"})).status == 401
        resp = await client.post("/api/login", json={"token": AG1})
        assert resp.status == 200 and (await resp.json())["me"]["agent_id"] == "agent-1"
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and AG1 not in cookie
        calls = await (await client.get("/api/calls")).json()  # the cookie session
        assert [c["call_id"] for c in calls["calls"]] == ["hot"]
        assert (await client.post("/api/logout")).status == 200
        assert (await client.get("/api/calls")).status == 401
        page = await client.get("/")
        assert page.status == 200 and "Content-Security-Policy" in page.headers

    run_app(check)


def test_an_agent_sees_their_prompts_but_not_the_supervisors_alert_about_their_call():
    async def check(client, hub):
        mine = await client.get("/api/calls/hot", headers=bearer(AG1))
        assert mine.status == 200
        assert [a["alert_id"] for a in (await mine.json())["alerts"]] == ["a-prompt"]
        everything = await (await client.get("/api/calls/hot", headers=bearer(SUP))).json()
        assert [a["alert_id"] for a in everything["alerts"]] == ["a-risk", "a-prompt"]

    run_app(check)


def test_an_agent_cannot_read_another_agents_call():
    async def check(client, hub):
        assert (await client.get("/api/calls/hot", headers=bearer(AG1))).status == 200
        assert (await client.get("/api/calls/calm", headers=bearer(AG1))).status == 403
        assert (await client.get("/api/calls/no-such-call", headers=bearer(AG1))).status == 403  # no probing
        assert (await client.get("/api/stream?call=calm", headers=bearer(AG1))).status == 403
        assert (await client.get("/api/alerts", headers=bearer(AG1))).status == 403
        assert (await client.get("/api/calls/calm", headers=bearer(SUP))).status == 200
        assert (await client.get("/api/calls/no-such-call", headers=bearer(SUP))).status == 404

    run_app(check)


def test_feedback_goes_out_as_a_record_for_the_calls_agent_only():
    sender = FakeSender()

    async def check(client, hub):
        resp = await client.post("/api/feedback", json={"alert_id": "a-prompt", "helpful": True}, headers=bearer(AG1))
        assert resp.status == 200
        [record] = sender.sent
        assert isinstance(record, Feedback)
        assert (record.call_id, record.alert_id, record.prompt_id, record.trigger, record.helpful, record.agent_id,
                record.snippet_id, record.feedback_id) == (
            "hot", "a-prompt", "complaint-own-it", "complaint", True, "agent-1", "refunds#x", "a-prompt/agent-1")
        assert Feedback.decode(record.encode()) == record
        assert hub.state.alerts["a-prompt"]["feedback"] is True
        for token, body, status in [
            (AG2, {"alert_id": "a-prompt", "helpful": True}, 403),  # not their call
            (SUP, {"alert_id": "a-prompt", "helpful": True}, 403),  # supervisors don't rate prompts
            (AG1, {"alert_id": "a-risk", "helpful": True}, 404),  # not a prompt
            (AG1, {"alert_id": "a-prompt", "helpful": "yes"}, 400),
        ]:
            assert (await client.post("/api/feedback", json=body, headers=bearer(token))).status == status
        assert len(sender.sent) == 1

    run_app(check, sender)


def test_feedback_that_kafka_did_not_take_is_reported_not_lost():
    async def check(client, hub):
        resp = await client.post("/api/feedback", json={"alert_id": "a-prompt", "helpful": False}, headers=bearer(AG1))
        assert resp.status == 502 and hub.state.alerts["a-prompt"]["feedback"] is None

    run_app(check, FakeSender(fail=True))


async def read_events(resp, count):
    events, kind = [], None
    while len(events) < count:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
    return events


def test_the_stream_sends_a_snapshot_then_only_what_the_viewer_may_see():
    async def check(client, hub):
        resp = await client.get("/api/stream", headers=bearer(AG1))
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        [(kind, snap)] = await read_events(resp, 1)
        assert kind == "snapshot" and snap["follow"] == "hot" and snap["alerts"] == []
        assert [c["call_id"] for c in snap["calls"]] == ["hot"]
        # their prompt, not the supervisor's risk alert about their call
        assert [a["alert_type"] for a in snap["detail"]["alerts"]] == ["assist_prompt"]
        hub.apply_batch([score("calm", 1, 0.2), score("hot", 2, 0.95)])  # agent-2's call, then theirs
        events = await read_events(resp, 2)
        assert [(k, d["call_id"]) for k, d in events] == [("utterance", "hot"), ("call", "hot")]
        hub.apply_batch([alert("hot", "escalation_risk", "a-risk-2", i=4), alert("hot", "assist_prompt", "a-prompt-2", i=4)])
        kinds = [(k, d.get("alert_id")) for k, d in await read_events(resp, 3)]
        assert kinds == [("call", None), ("alert", "a-prompt-2"), ("call", None)]  # no a-risk-2
        resp.close()
        sup = await client.get("/api/stream?call=hot", headers=bearer(SUP))
        [(_, snap)] = await read_events(sup, 1)
        assert [a["alert_type"] for a in snap["detail"]["alerts"]] == ["escalation_risk", "assist_prompt"] * 2
        assert [a["alert_id"] for a in snap["alerts"]] == ["a-risk-2", "a-risk"]
        sup.close()

    run_app(check)


def test_tokens_never_reach_the_log(caplog):
    caplog.set_level(logging.DEBUG)

    async def check(client, hub):
        await client.post("/api/login", json={"token": SUP})
        await client.post("/api/login", json={"token": "wrong-token-0123456789"})
        await client.get("/api/calls", headers=bearer(AG1))

    run_app(check)
    assert caplog.records, "the access log should have run"
    for secret in (SUP, AG1, "wrong-token-0123456789"):
        assert secret not in caplog.text


def test_a_browser_that_falls_behind_is_cut_off_to_reconnect(monkeypatch):
    import callradar.agents.console.server as server

    monkeypatch.setattr(server, "SUBSCRIBER_QUEUE", 3)

    async def check(client, hub):
        resp = await client.get("/api/stream?call=hot", headers=bearer(SUP))
        await read_events(resp, 1)  # the snapshot
        hub.apply_batch([score("hot", i, 0.5) for i in range(10, 20)])  # 20 updates, nobody reading
        assert not hub.subscribers
        assert (await asyncio.wait_for(resp.content.read(), 5)).strip() == b""  # ended, nothing stale sent

    run_app(check)


def test_feedback_records_are_refused_with_a_reason_when_malformed():
    good = Feedback(feedback_id="a/agent-1", call_id="c1", alert_id="a", prompt_id="p", trigger="complaint",
                    helpful=True, agent_id="agent-1", ts=1.0).to_dict()
    for change, reason in [({"helpful": "yes"}, "helpful must be true or false"),
                           ({"agent_id": ""}, "agent_id must be 1 to 256 characters"),
                           ({"ts": None}, "ts must be a finite number")]:
        with pytest.raises(MalformedMessage, match=reason):
            Feedback.from_dict({**good, **change})
    assert Feedback.from_dict(good).source == "console"


def test_the_kafka_feed_decodes_each_batch_and_skips_what_it_cannot_read():
    from types import SimpleNamespace

    from callradar.agents.console.server import KafkaFeed
    from callradar.pipeline.records import Topics

    delivered = []
    feed = KafkaFeed(load_settings({}), delivered.append, lambda: None, history_s=60)  # reads nothing until started
    topics = Topics("")
    assert sorted(feed.reader.topics) == sorted([topics.events, topics.transcripts, topics.scores, topics.alerts,
                                                 topics.feedback, topics.cases])

    def rec(topic, value):
        return SimpleNamespace(topic=topic, value=value)

    feed.on_batch([rec(topics.events, event("c1", "agent-1").encode()), rec(topics.scores, b"not json"),
                   rec(topics.scores, score("c1", 1, 0.4).encode())])
    feed.on_batch([rec(topics.alerts, b"{}")])  # nothing readable: nothing delivered
    [batch] = delivered
    assert [type(r).__name__ for r in batch] == ["CallEvent", "Score"] and batch[1].risk == 0.4
