"""A worker's /healthz and /readyz, served by the real Faust app without a broker.

Readiness follows Faust's own rebalance state (pipeline/app.py): not ready before the
first join, ready once it completes, not ready again while a later rebalance moves
partitions, ready when that one completes.
"""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from pipeline.app import create_app
from pipeline.metrics import PipelineMetrics
from pipeline.settings import load_settings


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
