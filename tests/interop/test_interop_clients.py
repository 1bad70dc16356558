"""The same WebSocket scenarios (text echo, binary echo, JSON echo) from independent clients.

Every client reports its outcome in one shape, compared with ``expected_outcome``: the
in-process TestClient, trio-websocket, the ``websockets`` asyncio client (in a subprocess, as
pytest runs Trio) and headless Chromium running the app's own page.
"""

import json
import sys
from typing import Any

import pytest
import trio
import trio_websocket
from chromium import page_outcome, running_chromium

from trio_apistar.test import AppServer, TestClient

pytestmark = pytest.mark.network

TEXT = "hello, trio"
BINARY = bytes([0, 1, 2, 255])
JSON = {"n": 1, "s": "café"}


async def test_in_process(client: TestClient, expected_outcome: dict[str, Any]) -> None:
    with trio.fail_after(5):
        outcome: dict[str, Any] = {}
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text(TEXT)
            outcome["text"] = await ws.receive_text()
            await ws.send_bytes(BINARY)
            outcome["binary"] = list(await ws.receive_bytes())
        async with client.websocket_connect("/json") as ws:
            await ws.send_json(JSON)
            outcome["json"] = await ws.receive_json()
        assert outcome == expected_outcome
        assert '<pre id="outcome">' in (await client.get("/")).text


async def test_trio_websocket(live_server: AppServer, expected_outcome: dict[str, Any]) -> None:
    with trio.fail_after(10):
        outcome: dict[str, Any] = {}
        async with trio_websocket.open_websocket_url(f"{live_server.ws_url}/ws") as ws:
            await ws.send_message(TEXT)
            outcome["text"] = await ws.get_message()
            await ws.send_message(BINARY)
            reply = await ws.get_message()
            outcome["binary"] = list(reply) if isinstance(reply, bytes) else reply
        async with trio_websocket.open_websocket_url(f"{live_server.ws_url}/json") as ws:
            await ws.send_message(json.dumps(JSON))
            outcome["json"] = json.loads(await ws.get_message())
        assert outcome == expected_outcome
        assert ws.closed is not None and ws.closed.code == 1000


WEBSOCKETS_CLIENT = """
import asyncio, json, sys
from websockets.asyncio.client import connect

async def main(base):
    outcome = {}
    async with connect(base + "/ws") as ws:
        await ws.send("hello, trio")
        outcome["text"] = await ws.recv()
        await ws.send(bytes([0, 1, 2, 255]))
        reply = await ws.recv()
        outcome["binary"] = list(reply) if isinstance(reply, bytes) else reply
    async with connect(base + "/json") as ws:
        await ws.send(json.dumps({"n": 1, "s": "caf\\u00e9"}))
        outcome["json"] = json.loads(await ws.recv())
    print(json.dumps(outcome))

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 10))
"""


async def test_websockets_asyncio_client(
    live_server: AppServer, expected_outcome: dict[str, Any]
) -> None:
    with trio.fail_after(20):
        result = await trio.run_process(
            [sys.executable, "-c", WEBSOCKETS_CLIENT, live_server.ws_url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == expected_outcome


@pytest.mark.browser
async def test_chromium(live_server: AppServer, expected_outcome: dict[str, Any]) -> None:
    page_url = f"{live_server.url}/"
    with trio.fail_after(30):
        async with running_chromium(page_url) as port:
            outcome = await page_outcome(port, page_url)
    assert outcome == expected_outcome
