"""A worker's /healthz and /readyz, served by the real Faust app without a broker.

Readiness follows Faust's own rebalance state (pipeline/kafka/app.py): not ready before the
first join, ready once it completes, not ready again while a later rebalance moves
partitions, ready when that one completes.
"""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from callradar.pipeline.kafka.app import create_app
from callradar.pipeline.metrics import PipelineMetrics
from callradar.pipeline.settings import load_settings


def test_readyz_follows_every_rebalance_and_healthz_does_not():
    async def main():
        app = create_app(load_settings({}), stages=(), metrics=PipelineMetrics())  # the pages only, no models
        async with TestClient(TestServer(await app.web.wsgi(), host="127.0.0.1")) as client:

            async def get(path):
                resp = await client.get(path)
                return resp.status, await resp.json()

            seen = [await get("/readyz")]
            for _ in range(2):  # the first join, then a rebalance later on (a worker joined or left)
                app.on_rebalance_start()  # what Faust calls as partitions are revoked
                seen.append(await get("/readyz"))
                assert await get("/healthz") == (200, {"status": "ok"})  # alive all the while
                app.on_rebalance_end()  # assignment recovered, streams resumed
                seen.append(await get("/readyz"))
        return seen

    not_ready, ready = (503, {"ready": False}), (200, {"ready": True})
    assert asyncio.run(main()) == [not_ready, not_ready, ready, not_ready, ready]


def test_stages_track_and_wait_for_their_changelogs_partitions_once():
    """Table writes choose a partition from the producer's metadata without waiting for it;
    every stage first has the producer track the changelog topics and awaits their metadata."""
    import faust

    from callradar.pipeline.kafka.app import _Wiring
    from callradar.pipeline.records import Topics

    settings = load_settings({})
    app = faust.App("wiring-test", broker="kafka://127.0.0.1:1", store="memory://")
    wiring = _Wiring(app, settings, Topics(""), PipelineMetrics())
    tables = [wiring.state_table("score-state"), wiring.state_table("trigger-state")]
    waited = []

    tracked = set()

    class Client:
        async def add_topic(self, topic):
            tracked.add(topic)

        async def _wait_on_metadata(self, topic):
            assert topic in tracked  # tracked first, so later metadata refreshes keep it
            waited.append(topic)
            return {0, 1, 2, 3}

    class Producer:
        client = Client()

    app.producer._ensure_producer = lambda: Producer()

    async def main():
        await wiring.changelogs_known()
        await wiring.changelogs_known()  # known now: no second wait

    asyncio.run(main())
    assert waited == [t.changelog_topic.get_topic_name() for t in tables] and tracked == set(waited)
    assert all(name.endswith("-changelog") for name in waited)


def test_a_stage_stuck_on_one_step_names_it():
    import time

    import faust

    from callradar.pipeline.kafka.app import _Wiring
    from callradar.pipeline.records import Topics

    wiring = _Wiring(faust.App("stall-test", broker="kafka://127.0.0.1:9"), load_settings({}), Topics(""),
                     PipelineMetrics())
    with wiring.step("score", "the broker to take 3 scores"):
        now = time.monotonic()
        assert wiring.stalls(now + 5) == []
        assert wiring.stalls(now + 12) == ["score stage: still waiting for the broker to take 3 scores after 12 s"]
    assert wiring.stalls(now + 60) == []  # the step is over
