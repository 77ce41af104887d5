"""The console tells supervisors and the call's agent when the call's agent side is behind (issue 17):
calls.transcripts' ``agent_behind_s`` folded into the call, and pushed only when what is shown changes."""

from __future__ import annotations

from types import SimpleNamespace

from test_console import AG1, AG2, SUP, bearer, event, filled_state, read_events, run_app, score

from callradar.agents.console.server import KafkaFeed
from callradar.pipeline.records import AGENT_BEHIND_NOTICE_S, Topics, Utterance
from callradar.pipeline.settings import load_settings


def transcript(call_id, i, agent_behind_s, speaker="customer"):
    return Utterance(f"{call_id}/{speaker}/{i}", call_id, speaker, i, i * 5.0, i * 5.0 + 3, "words", 0.9,
                     1000.0 + i, agent_behind_s=agent_behind_s)


def shown(updates) -> list:
    assert all(u.kind == "call" for u in updates)
    return [u.data["agent_behind_s"] for u in updates]


def test_the_lag_shows_over_the_notice_in_whole_seconds_and_goes_when_the_agent_side_catches_up():
    state = filled_state()
    assert state.calls["hot"].summary()["agent_behind_s"] == 0.0
    assert shown(state.apply(transcript("hot", 5, 40.3), now=1030.0)) == [40.0]
    assert [c["agent_behind_s"] for c in state.ranked(lambda _: True) if c["call_id"] == "hot"] == [40.0]
    assert state.detail("hot")["agent_behind_s"] == 40.0
    assert state.apply(transcript("hot", 6, 39.8), now=1031.0) == []  # still 40 s: nothing to push
    assert shown(state.apply(transcript("hot", 7, 46.0), now=1036.0)) == [46.0]
    assert shown(state.apply(transcript("hot", 8, 0.0, "agent"), now=1040.0)) == [0.0]  # caught up
    assert state.calls["calm"].summary()["agent_behind_s"] == 0.0  # other calls untouched


def test_a_lag_at_or_under_the_notice_is_not_shown():
    state = filled_state()
    assert state.apply(transcript("hot", 5, AGENT_BEHIND_NOTICE_S), now=1030.0) == []
    state.apply(transcript("hot", 6, 12.0), now=1031.0)
    assert shown(state.apply(transcript("hot", 7, AGENT_BEHIND_NOTICE_S - 0.5), now=1032.0)) == [0.0]


def test_a_transcript_from_before_the_field_changes_nothing_and_quiet_news_makes_no_call():
    state = filled_state()
    state.apply(transcript("hot", 5, 40.0), now=1030.0)
    assert state.apply(transcript("hot", 6, None), now=1031.0) == []
    assert state.calls["hot"].agent_behind_s == 40.0
    assert state.apply(transcript("unknown", 0, 0.0), now=1031.0) == [] and "unknown" not in state.calls
    # a transcript may come before the call's other records: a lag to show makes the call
    assert shown(state.apply(transcript("early", 0, 9.0), now=1031.0)) == [9.0]
    state.apply(event("early", "agent-2"), now=1032.0)
    assert state.calls["early"].summary()["agent_behind_s"] == 9.0


def test_the_calls_agent_and_supervisors_get_the_news_other_agents_do_not():
    async def check(client, hub):
        mine = await client.get("/api/stream", headers=bearer(AG1))
        other = await client.get("/api/stream", headers=bearer(AG2))
        sup = await client.get("/api/stream", headers=bearer(SUP))
        for resp in (mine, other, sup):
            await read_events(resp, 1)  # the snapshot
        hub.apply_batch([transcript("hot", 5, 40.0)])
        for resp in (mine, sup):
            [(kind, data)] = await read_events(resp, 1)
            assert (kind, data["call_id"], data["agent_behind_s"]) == ("call", "hot", 40.0)
        hub.apply_batch([score("calm", 1, 0.2)])  # agent-2's own call: the first news their stream gets
        assert [(k, d["call_id"]) for k, d in await read_events(other, 2)] == [("utterance", "calm"), ("call", "calm")]
        for resp in (mine, other, sup):
            resp.close()

    run_app(check)


def test_the_kafka_feed_reads_transcripts():
    delivered = []
    feed = KafkaFeed(load_settings({}), delivered.append, lambda: None, history_s=60)  # reads nothing until started
    topics = Topics("")
    feed.on_batch([SimpleNamespace(topic=topics.transcripts, value=transcript("hot", 5, 40.0).encode())])
    assert [(type(r).__name__, r.agent_behind_s) for r in delivered[0]] == [("Utterance", 40.0)]
