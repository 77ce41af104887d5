"""The console's Insights API (GET /api/insights) on a small archive written into tmp_path.

The tables themselves are tests/unit/training/test_insights.py; here: who may see them,
the period, the cache, and what a missing or empty archive says.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callradar.agents.console.auth import TokenStore
from callradar.agents.console.insights import NO_ARCHIVE, BadPeriod, period_seconds
from callradar.agents.console.server import Hub, create_app
from callradar.agents.console.state import ConsoleState
from callradar.pipeline.cli.console import archive_insights
from callradar.training.labelled_calls import CallAlert, CallFeedback, CallUtterance, LabelledCall, write_calls

SUP = "sup-token-0123456789abcdef"
AGENT = "agent-one-token-0123456789"
TOKENS = f"""
tokens:
  "{SUP}": {{role: supervisor, name: Sam}}
  "{AGENT}": {{role: agent, agent_id: a1, name: Ana}}
"""
HOUR = 3600.0


def call(cid, queue, agent, outcome, esc, hours_ago, alerts=(), feedback=()) -> LabelledCall:
    return LabelledCall(
        call_id=cid, outcome=outcome, escalation_time=esc, source="archive",
        metadata={"queue": queue, "agent_id": agent, "customer_tier": "gold",
                  "started_ts": str(time.time() - hours_ago * HOUR)},
        utterances=[CallUtterance("customer", 4.0, 5.0, "words", utterance_id=f"{cid}/customer/0", risk=0.5)],
        alerts=[CallAlert(a, kind, trig, 0.7, t) for a, kind, trig, t in alerts],
        feedback=[CallFeedback(f"{a}/{agent}", a, prompt, helpful, agent, "", 100.0) for a, prompt, helpful in feedback],
    )


def small_archive(folder):
    """Four calls: 2 hours, 3 days, 10 days and 40 days old."""
    folder.mkdir(parents=True, exist_ok=True)
    write_calls(folder / "calls-20250110T120000-1-0001.parquet", [
        call("c1", "billing", "a1", "escalated", 40.0, 2,
             [("c1-p", "assist_prompt", "billing_dispute", 10.0), ("c1-s", "escalation_risk", "billing_dispute", 30.0)],
             [("c1-p", "billing.explain", True)]),
        call("c2", "billing", "a2", "calm", None, 72, [("c2-s", "escalation_risk", "supervisor_request", 20.0)]),
        call("c3", "tech", "a1", "escalated", 50.0, 240, [("c3-s", "escalation_risk", "supervisor_request", 45.0)]),
        call("c4", "orders", "a3", "calm", None, 960),
    ])
    return folder


def run_app(insights, check):
    async def main():
        app = create_app(Hub(ConsoleState()), TokenStore.from_yaml(TOKENS, "tokens"), _no_feedback, insights=insights)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await check(client)

    asyncio.run(main())


async def _no_feedback(record):
    raise AssertionError("no feedback here")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def rows(doc, name) -> dict:
    return {r[0]: r[1:] for r in doc["tables"][name]["rows"]}


def test_a_supervisor_gets_the_reports_tables_for_the_period(tmp_path):
    insights = archive_insights(small_archive(tmp_path / "archive"), 0.4)

    async def check(client):
        docs = {}
        for since in ("24h", "7d", "30d"):
            resp = await client.get(f"/api/insights?since={since}", headers=bearer(SUP))
            assert resp.status == 200, await resp.text()
            docs[since] = json.loads(await resp.text())  # strict JSON: no NaN
        assert [docs[s]["calls"] for s in ("24h", "7d", "30d")] == [1, 2, 3]
        week = docs["7d"]
        assert week["empty"] is False and week["archived_calls"] == 4 and week["since"] == "7d"
        assert set(week["tables"]) >= {"summary", "escalations_by_day", "escalations_by_queue", "escalations_by_agent",
                                       "escalations_by_trigger", "escalations_by_tier", "alert_precision_by_trigger",
                                       "lead_time", "lead_time_histogram", "response_adherence",
                                       "prompt_helpfulness", "calmed_after_prompt"}
        queue = week["tables"]["escalations_by_queue"]
        assert queue["columns"][:4] == ["queue", "calls", "alerted_calls", "escalated"]
        assert rows(week, "escalations_by_queue") == {"billing": [2, 2, 1, 1, 0, 0.5]}
        assert set(rows(docs["30d"], "escalations_by_queue")) == {"billing", "tech"}
        assert rows(week, "prompt_helpfulness") == {"billing.explain": [1, 1, 0, 1.0]}
        precision = rows(docs["30d"], "alert_precision_by_trigger")
        assert precision["supervisor_request"][:4] == [2, 1, 1, 0.5]  # c3 escalated, c2 calm
        assert len(week["tables"]["escalations_by_day"]["rows"]) == 2  # two days, two calls

    run_app(insights, check)


def test_agents_get_403_and_a_bad_since_gets_400_with_the_reason(tmp_path):
    insights = archive_insights(small_archive(tmp_path / "archive"), 0.4)

    async def check(client):
        resp = await client.get("/api/insights?since=7d", headers=bearer(AGENT))
        assert resp.status == 403
        assert "supervisors" in (await resp.json())["error"]
        assert (await client.get("/api/insights?since=7d")).status == 401
        for bad, says in (("7 weeks", "expected a span like 24h, 7d, 30d"), ("0h", "from 1h to 366d"),
                          ("400d", "from 1h to 366d"), ("", "expected a span")):
            resp = await client.get("/api/insights", params={"since": bad}, headers=bearer(SUP))
            assert resp.status == 400, bad
            assert says in (await resp.json())["error"], bad

    run_app(insights, check)


@pytest.mark.parametrize("make", ["missing", "empty", "side-files-only"])
def test_a_missing_or_empty_archive_says_so_plainly(tmp_path, make):
    folder = tmp_path / "archive"
    if make != "missing":
        folder.mkdir()
    if make == "side-files-only":
        (folder / "labels.jsonl").write_text("")
    insights = archive_insights(folder, 0.4)

    async def check(client):
        resp = await client.get("/api/insights?since=30d", headers=bearer(SUP))
        assert resp.status == 200
        doc = await resp.json()
        assert doc["empty"] is True and doc["message"] == NO_ARCHIVE and doc["tables"] == {}
        assert str(folder) in doc["reason"] and doc["archive"] == str(folder)

    run_app(insights, check)


def test_an_unreadable_part_is_a_500_naming_the_file(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "calls-broken.parquet").write_bytes(b"not parquet")

    async def check(client):
        resp = await client.get("/api/insights?since=7d", headers=bearer(SUP))
        assert resp.status == 500
        assert "calls-broken.parquet" in (await resp.json())["error"]

    run_app(archive_insights(folder, 0.4), check)


def test_a_console_without_an_archive_reader_says_so(tmp_path):
    async def check(client):
        resp = await client.get("/api/insights?since=7d", headers=bearer(SUP))
        assert resp.status == 503 and "archive" in (await resp.json())["error"]

    run_app(None, check)


def test_answers_are_cached_for_a_short_time(tmp_path):
    folder = small_archive(tmp_path / "archive")
    insights = archive_insights(folder, 0.4)
    now = [time.time()]
    insights.clock = lambda: now[0]
    reads = []
    read = insights.read
    insights.read = lambda: reads.append(1) or read()

    async def main():
        first = await insights.get("7d")
        write_calls(folder / "calls-20250111T120000-1-0002.parquet", [call("c9", "tech", "a1", "calm", None, 1)])
        again = await insights.get("7d")
        month = await insights.get("30d")  # another period: computed again, from the same read
        now[0] += insights.cache_s + 1
        later = await insights.get("7d")
        return first, again, month, later

    first, again, month, later = asyncio.run(main())
    assert (first["calls"], first["cached"]) == (2, False)
    assert (again["calls"], again["cached"]) == (2, True)
    assert (month["calls"], month["archived_calls"], month["cached"]) == (3, 4, False)
    assert (later["calls"], later["archived_calls"], later["cached"]) == (3, 5, False)
    assert len(reads) == 2


@pytest.mark.parametrize("text, seconds", [("24h", 86400.0), ("7d", 7 * 86400.0), (" 30D ", 30 * 86400.0),
                                           ("1h", 3600.0), ("366d", 366 * 86400.0)])
def test_periods(text, seconds):
    assert period_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7", "d", "-1d", "1.5d", "2025-01-31", "59m", "0d", "367d"])
def test_periods_refused(text):
    with pytest.raises(BadPeriod):
        period_seconds(text)
