"""The browser tests' Chromium: one per test module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def browser():
    from chromium import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, sync_api  # the module using it has skipped if absent

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
