"""How a WebSocket session ends and what the server is told: handler return values, handshakes
never answered, refusal bodies, accept headers, and ASGI messages out of place."""

import logging
import math
from typing import Any

import pytest
import trio

from trio_apistar import ASyncApp, Route, WebSocket
from trio_apistar.exceptions import Forbidden, WebSocketProtocolError
from trio_apistar.test import TestClient, WebSocketClosed, WebSocketDenied
from trio_apistar.test._websocket import WebSocketSession


@pytest.fixture(autouse=True, params=["channel receive", "plain receive"])
def server_receive(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both kinds of ASGI ``receive``: a trio memory channel's own (Hypercorn's trio worker)
    and any other callable (the WebSocket's reader task)."""
    monkeypatch.setattr(WebSocketSession, "_channel_receive", request.param == "channel receive")
    return str(request.param)


def _app(*handlers: Any, **kwargs: Any) -> ASyncApp:
    return ASyncApp(routes=[Route(f"/{h.__name__}", "GET", h) for h in handlers], **kwargs)


# -- return values -----------------------------------------------------------------------------


async def test_a_returned_value_is_sent_then_the_socket_closes() -> None:
    async def text(ws: WebSocket) -> str:
        await ws.accept()
        return "pong"

    async def binary(ws: WebSocket) -> bytes:
        await ws.accept()
        return b"\x00pong"

    async def mapping(ws: WebSocket) -> dict[str, Any]:
        await ws.accept()
        return {"paddle": "pong", "n": [1, 2], "é": None}

    async def sequence(ws: WebSocket) -> list[int]:
        await ws.accept()
        return [1, 2, 3]

    async def nothing(ws: WebSocket) -> None:
        await ws.accept()

    app = _app(text, binary, mapping, sequence, nothing)
    async with TestClient(app) as client:
        received = {}
        for path in ("text", "binary", "mapping", "sequence", "nothing"):
            async with client.websocket_connect(f"/{path}") as session:
                messages = []
                with pytest.raises(WebSocketClosed) as closed:
                    while True:
                        messages.append(await session.receive())
                assert closed.value.code == 1000
                received[path] = messages
    assert received == {
        "text": [{"type": "websocket.send", "text": "pong"}],
        "binary": [{"type": "websocket.send", "bytes": b"\x00pong"}],
        "mapping": [{"type": "websocket.send", "text": '{"paddle":"pong","n":[1,2],"é":null}'}],
        "sequence": [{"type": "websocket.send", "text": "[1,2,3]"}],
        "nothing": [],
    }


async def test_the_returned_value_goes_before_the_on_response_hooks_message() -> None:
    class Goodbye:
        async def on_response(self, ws: WebSocket) -> None:
            await ws.send("goodbye")

    async def handler(ws: WebSocket) -> str:
        await ws.accept()
        return "result"

    async with TestClient(_app(handler, event_hooks=[Goodbye()])) as client:
        async with client.websocket_connect("/handler") as session:
            assert await session.receive_text() == "result"
            assert await session.receive_text() == "goodbye"


async def test_a_value_of_another_type_is_an_error_logged_and_closed_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(ws: WebSocket) -> int:
        await ws.accept()
        return 42

    app = _app(handler)
    async with TestClient(app, raise_server_exceptions=False) as client:
        with caplog.at_level(logging.ERROR, logger="trio_apistar"):
            async with client.websocket_connect("/handler") as session:
                with pytest.raises(WebSocketClosed) as closed:
                    await session.receive()
    assert closed.value.code == 1011
    errors = [r for r in caplog.records if r.exc_info]
    assert len(errors) == 1
    message = str(errors[0].exc_info[1])  # type: ignore[index]
    assert "handler" in message and "int" in message and "str" in message

    async with TestClient(app) as client:  # raised in the test, by default
        async with client.websocket_connect("/handler") as session:
            with pytest.raises(TypeError, match="returned int"):
                await session.receive()


async def test_a_value_returned_after_the_client_left_is_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    left = trio.Event()

    async def handler(ws: WebSocket) -> str:
        await ws.accept()
        await ws.wait_disconnected()
        left.set()
        return "too late"

    async with TestClient(_app(handler)) as client:
        with caplog.at_level(logging.WARNING, logger="trio_apistar"):
            async with client.websocket_connect("/handler") as session:
                await session.close()
    assert left.is_set()
    assert caplog.records == []


# -- handshakes never answered -----------------------------------------------------------------


async def test_a_handler_that_neither_accepts_nor_refuses_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def forgetful(ws: WebSocket) -> None:
        pass

    async with TestClient(_app(forgetful)) as client:
        with caplog.at_level(logging.WARNING, logger="trio_apistar"):
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect("/forgetful"):
                    pass  # pragma: no cover
    assert denied.value.status_code == 403
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "forgetful" in record.getMessage()
    assert "handshake was never answered" in record.getMessage()


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_a_forgotten_await_on_connect_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_await(ws: WebSocket) -> None:
        ws.connect()  # type: ignore[unused-coroutine]

    async with TestClient(_app(no_await)) as client:
        with caplog.at_level(logging.WARNING, logger="trio_apistar"):
            with pytest.raises(WebSocketDenied):
                async with client.websocket_connect("/no_await"):
                    pass  # pragma: no cover
    assert any(
        "no_await" in r.getMessage() and "never answered" in r.getMessage() for r in caplog.records
    )


async def test_an_explicit_refusal_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    async def closes(ws: WebSocket) -> None:
        await ws.close()

    async def denies(ws: WebSocket) -> None:
        await ws.deny(401, b"{}")

    async def refuses(ws: WebSocket) -> None:
        await ws.connect(close=True)

    async def raises(ws: WebSocket) -> None:
        raise WebSocketProtocolError("members only", status_code=401)

    async def forbids(ws: WebSocket) -> None:
        raise Forbidden()

    app = _app(closes, denies, refuses, raises, forbids)
    async with TestClient(app) as client:
        with caplog.at_level(logging.DEBUG, logger="trio_apistar"):
            for path in ("closes", "denies", "refuses", "raises", "forbids"):
                with pytest.raises(WebSocketDenied):
                    async with client.websocket_connect(f"/{path}"):
                        pass  # pragma: no cover
    assert caplog.records == []


# -- refusal bodies ----------------------------------------------------------------------------


async def test_refusal_bodies_are_compact_json_like_http_bodies() -> None:
    async def members(ws: WebSocket) -> None:
        raise WebSocketProtocolError("members only, é", status_code=401)

    async def forbids(ws: WebSocket) -> None:
        raise Forbidden({"why": ["no token"]})

    def page() -> dict[str, str]:
        return {"a": "b"}

    app = ASyncApp(
        routes=[
            Route("/members", "GET", members),
            Route("/forbids", "GET", forbids),
            Route("/page", "GET", page),
        ]
    )
    async with TestClient(app) as client:
        bodies = []
        for path in ("/members", "/forbids", "/page", "/nowhere"):
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect(path):
                    pass  # pragma: no cover
            bodies.append(denied.value.content)
        http_404 = (await client.get("/nowhere")).content
    assert bodies == [
        '{"detail":"members only, é"}'.encode(),
        b'{"detail":{"why":["no token"]}}',
        b'{"detail":"No WebSocket endpoint at this URL"}',
        b'{"detail":"Not found"}',
    ]
    assert bodies[-1] == http_404


# -- the raw ASGI side -------------------------------------------------------------------------


async def _drive(
    app: ASyncApp, inbound: list[dict[str, Any]], spec_version: str | None, channel: bool
) -> list[dict[str, Any]]:
    """Call ``app`` with a websocket scope, feed it ``inbound`` once it accepted, return what it
    sent (as a server would see it)."""
    to_app, app_inbox = trio.open_memory_channel[dict[str, Any]](math.inf)
    sent: list[dict[str, Any]] = []
    accepted = trio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.accept":
            accepted.set()
        elif message["type"] == "websocket.close":  # the client answers it, as clients do
            to_app.send_nowait({"type": "websocket.disconnect", "code": message.get("code")})

    async def plain_receive() -> dict[str, Any]:
        return await app_inbox.receive()

    scope: dict[str, Any] = {
        "type": "websocket",
        "path": "/handler",
        "query_string": b"",
        "headers": [],
        "subprotocols": [],
    }
    if spec_version is not None:
        scope["asgi"] = {"version": "3.0", "spec_version": spec_version}
    to_app.send_nowait({"type": "websocket.connect"})
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            receive = app_inbox.receive if channel else plain_receive
            nursery.start_soon(app, scope, receive, send)
            await accepted.wait()
            for message in inbound:
                await to_app.send(message)
    return sent


@pytest.mark.parametrize("spec_version", [None, "2.0"])
async def test_accept_headers_before_asgi_2_1_warn_and_are_left_out(
    spec_version: str | None, server_receive: str
) -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.accept(headers=[(b"x-room", b"7")])

    with pytest.warns(RuntimeWarning, match=r"ASGI 2\.1"):
        sent = await _drive(_app(handler), [], spec_version, server_receive == "channel receive")
    assert sent[0] == {"type": "websocket.accept", "subprotocol": None}


@pytest.mark.parametrize("spec_version", ["2.1", "2.3", "2.10"])
async def test_accept_headers_from_asgi_2_1_are_sent(
    spec_version: str, server_receive: str
) -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.accept(headers=[(b"x-room", b"7")])

    sent = await _drive(_app(handler), [], spec_version, server_receive == "channel receive")
    assert sent[0] == {
        "type": "websocket.accept",
        "subprotocol": None,
        "headers": [(b"x-room", b"7")],
    }


async def test_a_second_connect_after_accept_is_an_error_not_dropped(
    caplog: pytest.LogCaptureFixture, server_receive: str
) -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    inbound = [
        {"type": "websocket.receive", "text": "one"},
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "two"},
    ]
    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        sent = await _drive(_app(handler), inbound, "2.3", server_receive == "channel receive")
    assert sent[-1]["type"] == "websocket.close" and sent[-1]["code"] == 1011, sent
    assert {"type": "websocket.send", "text": "two"} not in sent
    [record] = [r for r in caplog.records if r.exc_info]
    assert "'websocket.connect'" in str(record.exc_info[1])  # type: ignore[index]
