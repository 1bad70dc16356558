"""Limits and hostile input, in process: the strict JSON parser, the path guards, body deadlines
and refusals, WebSocket limits and the send timeout (over tests/fake_hypercorn.py, in virtual
time). The same defects over a real server: tests/test_hardening_network.py and
tests/test_hostile_input_network.py."""

import math
from typing import Any

import pytest
import trio
import trio.testing
from fake_hypercorn import FakeConnection, run_lifespan
from scopes import http_scope

from trio_apistar import ASyncApp, Route, WebSocket, http
from trio_apistar._json import MAX_DEPTH, JSONError, loads
from trio_apistar.exceptions import BadRequest, WebSocketDisconnect
from trio_apistar.routing import Router
from trio_apistar.staticfiles import Static
from trio_apistar.test import TestClient, WebSocketClosed, WebSocketDenied

# -- JSON ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested deeper than 128 levels"),
        ("[" * 5000, "nested deeper than 128 levels"),
        ('{"a": NaN}', "NaN is not a number JSON allows"),
        ("[-Infinity]", "-Infinity is not a number JSON allows"),
        ("[1e999]", "a number is too large"),
        ("1" * 5000, "a number has too many digits"),
        ("{nope", "syntax error at line 1, column 2"),
        ("", "syntax error at line 1, column 1"),
        ('{"a": 1}\n{', "syntax error at line 2, column 1"),
    ],
)
def test_json_refusals_say_why_in_plain_words(text: str, reason: str) -> None:
    with pytest.raises(JSONError) as refused:
        loads(text)
    assert str(refused.value) == reason
    assert isinstance(refused.value, ValueError)


def test_json_accepts_what_it_should() -> None:
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(deep) is not None
    # Brackets inside strings are not nesting, escaped quotes do not end a string.
    tricky = '["' + "[" * 300 + '\\"' + "{" * 300 + '"]'
    assert loads(tricky) == ["[" * 300 + '"' + "{" * 300]
    assert loads(b'\xef\xbb\xbf{"a": 1.5}') == {"a": 1.5}  # a UTF-8 BOM is allowed
    with pytest.raises(JSONError, match="not UTF-8"):
        loads(b'"\xff"')


async def test_request_data_and_receive_json_refuse_plainly() -> None:
    def parse(data: http.RequestData) -> Any:
        return data

    async def echo(ws: WebSocket) -> None:
        await ws.connect()
        await ws.send_json(await ws.receive_json())

    app = ASyncApp([Route("/parse", "POST", parse), Route("/ws", "GET", echo)])
    async with TestClient(app) as client:
        deep = await client.post(
            "/parse", content="[" * 5000, headers={"content-type": "application/json"}
        )
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text('{"x": NaN}')
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive()
    assert deep.status_code == 400
    assert deep.json() == {
        "detail": "Malformed JSON in the request body: nested deeper than 128 levels"
    }
    assert (closed.value.code, closed.value.reason) == (
        1007,
        "Invalid JSON message: NaN is not a number JSON allows",
    )


# -- paths ---------------------------------------------------------------------------------------


def test_path_parameters_never_carry_a_nul_or_a_dot_dot_segment(tmp_path: Any) -> None:
    def item(name: str) -> None: ...

    def files(path: str) -> None: ...

    router = Router([Route("/items/{name}", "GET", item), Route("/files/{+path}", "GET", files)])
    for path in ("/items/a\x00b", "/files/a/../b", "/files/..", "/files/x/\x00"):
        with pytest.raises(BadRequest):
            router.match(path, "GET")
    assert router.match("/files/a/..b/.c", "GET").path_params == {"path": "a/..b/.c"}
    # Static answers 404 for every way out of its directory, and says so itself.
    static = Router([Static("/static", tmp_path)])
    assert static.match("/static/../x", "GET").path_params == {"path": "../x"}


# -- request bodies ------------------------------------------------------------------------------


async def _post(app: ASyncApp, chunks: list[tuple[bytes, float]], length: int | None) -> Any:
    """Call ``app`` with a POST whose body comes in ``(bytes, delay)`` chunks; return the
    response start message and whether the app read the body to its end."""
    inbox, outbox = trio.open_memory_channel[dict[str, Any]](math.inf)
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    scope = http_scope("/upload", "POST", headers)
    pending = list(chunks)
    read_all = False

    async def receive() -> dict[str, Any]:
        nonlocal read_all
        if not pending:
            await trio.sleep_forever()
        data, delay = pending.pop(0)
        await trio.sleep(delay)
        read_all = not pending
        return {"type": "http.request", "body": data, "more_body": bool(pending)}

    await app({**scope}, receive, inbox.send)
    start = outbox.receive_nowait()
    return start, read_all


def _upload_app(**settings: Any) -> ASyncApp:
    def upload(body: http.Body) -> dict[str, int]:
        return {"size": len(body)}

    return ASyncApp([Route("/upload", "POST", upload)], max_body_size=100, **settings)


async def test_a_slow_body_gets_408_and_connection_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = _upload_app(body_timeout=5)
    start, _ = await _post(app, [(b"x", 1.0)] * 50, length=50)
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    start, _ = await _post(app, [(b"x", 1.0)] * 3, length=3)  # slow, but in time
    assert start["status"] == 200


async def test_a_refused_body_is_drained_so_the_connection_is_kept() -> None:
    app = _upload_app()
    for length in (1000, None):  # declared, and discovered while reading (chunked)
        start, read_all = await _post(app, [(b"x" * 100, 0)] * 10, length=length)
        assert start["status"] == 413
        assert read_all
        assert (b"connection", b"close") not in start["headers"]
    # Past the bound (1 MiB more), the body is left unread and the 413 says so.
    start, read_all = await _post(app, [(b"x", 0)], length=3 * 1024 * 1024)
    assert (start["status"], read_all) == (413, False)
    assert (b"connection", b"close") in start["headers"]


# -- WebSockets ----------------------------------------------------------------------------------


async def test_handshakes_past_max_websockets_get_503_and_are_counted() -> None:
    async def wait(ws: WebSocket) -> None:
        await ws.connect()
        await ws.receive()

    app = ASyncApp([Route("/ws", "GET", wait)], max_websockets=2)
    async with TestClient(app) as client:
        async with client.websocket_connect("/ws"), client.websocket_connect("/ws"):
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect("/ws"):
                    pass  # pragma: no cover
        async with client.websocket_connect("/ws"):  # room again
            pass
    assert denied.value.status_code == 503
    assert denied.value.headers["retry-after"] == "1"
    assert app.statistics().refused_websockets == 1


def test_settings_are_checked() -> None:
    for bad in ({"websocket_send_timeout": 0}, {"body_timeout": -1}, {"max_websockets": 0}):
        with pytest.raises(ValueError):
            ASyncApp([], **bad)
    assert ASyncApp([], max_websockets=None).settings.max_websockets is None
    assert (ASyncApp([]).settings.max_websockets or 0) >= 1


async def _serve_one(app: ASyncApp, path: str, client: Any) -> FakeConnection:
    connection = FakeConnection(app, path)
    async with trio.open_nursery() as nursery:
        shutdown = await run_lifespan(app, nursery)
        async with trio.open_nursery() as inner:
            inner.start_soon(connection.run)
            await connection.accepted.wait()
            await client(connection)
        await shutdown.send({"type": "lifespan.shutdown"})
    return connection


@pytest.mark.parametrize("ending", ["stays", "resets"])
async def test_a_client_that_stops_reading_is_given_up_after_the_send_timeout(
    autojump_clock: trio.testing.MockClock, ending: str
) -> None:
    seen: list[tuple[int, str]] = []

    async def echo(ws: WebSocket) -> None:
        await ws.connect()
        try:
            async for message in ws:
                await ws.send(message)
        except WebSocketDisconnect as exc:  # from send(): the iteration itself just stops
            seen.append((exc.code, exc.reason))

    app = ASyncApp([Route("/echo", "GET", echo)], websocket_send_timeout=3)

    async def client(connection: FakeConnection) -> None:
        connection.client_stops_reading()
        for _ in range(40):  # echoes block, then the server's queue fills
            connection.client_send({"type": "websocket.receive", "text": "x"})
        if ending == "resets":
            await trio.sleep(1)
            connection.client_reset()
        started = trio.current_time()
        await connection.ended.wait()
        assert trio.current_time() - started <= 3 + 3 / 4 + 1

    with trio.fail_after(60):
        connection = await _serve_one(app, "/echo", client)
    assert connection.app_error is None
    if ending == "stays":
        assert seen == [(1008, "send timeout")]
    else:  # the reset is news stuck behind unread messages: the send timeout still ends it
        assert seen in ([(1008, "send timeout")], [(1006, "")])


async def test_an_idle_client_is_closed_1001(autojump_clock: trio.testing.MockClock) -> None:
    async def wait(ws: WebSocket) -> None:
        await ws.connect()
        async for _ in ws:
            pass

    app = ASyncApp([Route("/ws", "GET", wait)], websocket_idle_timeout=30)

    async def client(connection: FakeConnection) -> None:
        await trio.sleep(20)
        connection.client_send({"type": "websocket.receive", "text": "still here"})
        await connection.ended.wait()

    with trio.fail_after(120):
        connection = await _serve_one(app, "/ws", client)
    closes = [m for m in connection.wire.delivered if m["type"] == "websocket.close"]
    assert closes == [{"type": "websocket.close", "code": 1001, "reason": "idle timeout"}]
