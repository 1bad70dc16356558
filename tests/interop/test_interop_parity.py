"""The TestClient ends handshakes and sockets the way Hypercorn does over a real socket.

Each route of ``parity_app.py`` runs in-process (``raise_server_exceptions=False``, to see what
a client sees) and over Hypercorn with trio-websocket; both must report the same outcome.
"""

import pytest
import trio
import trio_websocket
from parity_app import app

from trio_apistar.test import LiveServer, TestClient, WebSocketClosed, WebSocketDenied

pytestmark = pytest.mark.network

Outcome = tuple[object, ...]

#: path -> what every client must see (for accepted sockets, after sending "hi").
ROUTES: dict[str, Outcome] = {
    "/deny-close": ("denied", 403),
    "/deny-response": ("denied", 401, b"log in first"),
    "/crash-before-accept": ("denied", 500),
    "/close-4001": ("accepted", "chat.v2", "hi", ("closed", 4001, "bye")),
    "/crash-after-accept": ("accepted", "chat.v2", "hi", ("closed", 1011, "")),
    "/return-without-close": ("accepted", "chat.v2", "hi", ("closed", 1011, "")),
}
PROTOCOLS = ["chat.v1", "chat.v2"]


async def in_process(path: str) -> Outcome:
    client = TestClient(app, raise_server_exceptions=False)
    try:
        async with client.websocket_connect(path, subprotocols=PROTOCOLS) as ws:
            await ws.send_text("hi")
            echoed = await ws.receive_text()
            try:
                await ws.receive()
            except WebSocketClosed as closed:
                return ("accepted", ws.subprotocol, echoed, ("closed", closed.code, closed.reason))
    except WebSocketDenied as denied:
        return ("denied", denied.status_code, *([denied.content] if denied.content else []))
    raise AssertionError("the socket stayed open")


async def over_hypercorn(url: str) -> Outcome:
    try:
        async with trio_websocket.open_websocket_url(url, subprotocols=PROTOCOLS) as ws:
            await ws.send_message("hi")
            echoed = await ws.get_message()
            try:
                await ws.get_message()
            except trio_websocket.ConnectionClosed as closed:
                code, reason = closed.reason.code, closed.reason.reason or ""
                return ("accepted", ws.subprotocol, echoed, ("closed", code, reason))
    except trio_websocket.ConnectionRejected as rejected:
        return ("denied", rejected.status_code, *([rejected.body] if rejected.body else []))
    raise AssertionError("the socket stayed open")


@pytest.mark.parametrize("path", list(ROUTES))
async def test_same_outcome_in_process_and_over_hypercorn(
    path: str, parity_server: LiveServer
) -> None:
    with trio.fail_after(10):
        assert await in_process(path) == ROUTES[path]
        assert await over_hypercorn(parity_server.ws_url + path) == ROUTES[path]
