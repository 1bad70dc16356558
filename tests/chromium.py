"""Headless Chromium for the browser tests: find it, start it, find its DevTools port, read
what a page shows, stop it.

Imported by the ``*_browser.py`` tests and ``tests/interop/test_interop_clients.py``
(pytest puts ``tests/`` on ``sys.path`` for ``tests/conftest.py``).
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio_websocket

#: As this machine needs them: no sandbox as root, and nothing that reaches for the network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]

POLL = 0.05
MAX_POLLS = 200  # 10 s
MAX_EVALUATIONS = 1000  # 50 s at the least


def find_chromium() -> str:
    """The Chromium binary; skips the test when there is none, unless running in CI."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")


async def wait_for_devtools(user_data_dir: Path, process: trio.Process) -> int:
    """The DevTools port Chromium writes to ``DevToolsActivePort`` once it listens."""
    port_file = user_data_dir / "DevToolsActivePort"
    for _ in range(MAX_POLLS):
        if port_file.exists() and (text := port_file.read_text().strip()):
            return int(text.split()[0])
        assert process.poll() is None, "chromium exited before DevTools started"
        await trio.sleep(POLL)
    raise AssertionError("chromium did not start DevTools")


@asynccontextmanager
async def running_chromium(url: str = "about:blank") -> AsyncIterator[int]:
    """Run headless Chromium on ``url`` with a fresh profile; yield its DevTools port.

    On exit Chromium and every process it started are stopped before the profile is removed
    (a helper still writing there would make the removal fail).
    """
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url]
        process = await trio.lowlevel.open_process(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its renderers and helpers too, for the cleanup below
        )
        try:
            yield await wait_for_devtools(Path(profile), process)
        finally:
            with trio.CancelScope(shield=True):
                process.terminate()
                with trio.move_on_after(5):
                    await process.wait()
                try:
                    os.killpg(process.pid, signal.SIGKILL)  # whatever is left of chromium
                except ProcessLookupError:
                    pass
                with trio.move_on_after(5):
                    await process.wait()


async def evaluate_until(
    devtools_port: int, page_url: str, expression: str, done: Callable[[Any], bool]
) -> Any:
    """Evaluate ``expression`` in the page at ``page_url`` over the DevTools protocol, every
    ``POLL`` seconds, until ``done`` accepts its value; return that value.

    Waits for the page to appear first. Raises ``AssertionError`` if ``done`` never accepts
    within ``MAX_EVALUATIONS`` tries (callers bound the whole wait with ``trio.fail_after``).
    """
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{devtools_port}") as http:
        targets: list[dict[str, Any]] = []
        while not any(t["type"] == "page" and t["url"] == page_url for t in targets):
            await trio.sleep(POLL)
            targets = (await http.get("/json/list")).json()
    page = next(t for t in targets if t["type"] == "page" and t["url"] == page_url)
    async with trio_websocket.open_websocket_url(page["webSocketDebuggerUrl"]) as devtools:
        for call_id in range(1, MAX_EVALUATIONS + 1):
            request = {"expression": expression, "returnByValue": True}
            await devtools.send_message(
                json.dumps({"id": call_id, "method": "Runtime.evaluate", "params": request})
            )
            while (reply := json.loads(await devtools.get_message())).get("id") != call_id:
                pass  # an event, not our answer
            value = reply.get("result", {}).get("result", {}).get("value")
            if done(value):
                return value
            await trio.sleep(POLL)
    raise AssertionError(f"the page at {page_url} never got past {expression!r}")


async def page_outcome(devtools_port: int, page_url: str) -> dict[str, Any]:
    """Poll the page's ``#outcome`` over the DevTools protocol until its script wrote it."""
    text = await evaluate_until(
        devtools_port,
        page_url,
        "document.getElementById('outcome')?.textContent",
        lambda text: bool(text) and text != "running",
    )
    outcome: dict[str, Any] = json.loads(text)
    return outcome
