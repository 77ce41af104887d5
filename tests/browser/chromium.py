"""What the browser tests share: Debian Chromium driven by Playwright, and signing in to the console.

Importing this skips the importing test module where Chromium or Playwright is missing.
The ``browser`` fixture is in conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callradar.pipeline.settings import PACKAGE_ROOT

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed at /usr/bin/chromium (scripts/setup.sh --browser installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing (pip install -e '.[dev]')")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = PACKAGE_ROOT / "test-artifacts" / "console"


def sign_in_with_token(browser, url: str, token: str):
    """A new browser context signed in to the console at ``url``: (context, page)."""
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.goto(url)
    page.fill("#token", token)
    page.click("#login-form button")
    page.wait_for_selector("#whoami:not([hidden])")
    return context, page
