"""The CORS hook seen by a real browser: a page on one server calls an API on another."""

from pathlib import Path
from typing import Any

import pytest
import trio
from chromium import page_outcome, running_chromium

from trio_apistar.test import run_hypercorn

pytestmark = [pytest.mark.network, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.cors_app:app"


async def _outcome(page_url: str) -> dict[str, Any]:
    with trio.fail_after(30):
        async with running_chromium(page_url) as port:
            return await page_outcome(port, page_url)


async def test_an_allowed_origin_calls_the_api_and_opens_a_websocket() -> None:
    with run_hypercorn(APP, cwd=ROOT) as site:
        with run_hypercorn(APP, cwd=ROOT, env={"CORS_ORIGINS": site.url}) as api:
            outcome = await _outcome(f"{site.url}/page?api={api.url}")
    assert outcome == {"put": {"stored": [3], "token": "t"}, "get": [1, 2], "ws": "hello"}


async def test_another_origin_is_blocked_by_the_browser_and_refused_a_websocket() -> None:
    with run_hypercorn(APP, cwd=ROOT) as site:
        with run_hypercorn(APP, cwd=ROOT, env={"CORS_ORIGINS": "https://elsewhere"}) as api:
            outcome = await _outcome(f"{site.url}/page?api={api.url}")
            log = api.log()
    assert outcome == {"put": "blocked", "get": "blocked", "ws": "refused"}
    assert "Traceback" not in log


async def test_the_apps_own_pages_keep_their_websockets() -> None:
    """Browsers send an Origin on same-origin handshakes too: those must pass."""
    with run_hypercorn(APP, cwd=ROOT, env={"CORS_ORIGINS": "https://elsewhere"}) as api:
        outcome = await _outcome(f"{api.url}/page?api={api.url}")
    assert outcome == {"put": {"stored": [3], "token": "t"}, "get": [1, 2], "ws": "hello"}
