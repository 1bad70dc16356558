"""TestClient against tiny ASGI apps defined next to each test (raw ASGI and ASyncApp), the
Hypercorn subprocess runner, and the examples of docs/testing.md."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from trio_apistar import AppNursery, ASyncApp, Route, WebSocket
from trio_apistar._types import Receive, Scope, Send
from trio_apistar.exceptions import HTTPException, WebSocketProtocolError
from trio_apistar.test import (
    RAISE_EXTENSION,
    LifespanFailed,
    ServerStartError,
    TestClient,
    WebSocketClosed,
    WebSocketDenied,
    run_hypercorn,
)


async def send_json(send: Send, data: Any, status: int = 200) -> None:
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def echo_request(scope: Scope, receive: Receive, send: Send) -> None:
    """Describes the request it got."""
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    await send_json(
        send,
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "body": (await read_body(receive)).decode(),
            "extensions": sorted(scope.get("extensions") or {}),
        },
    )


# -- HTTP -------------------------------------------------------------------------------------


async def test_http_methods_params_headers_and_json() -> None:
    async with TestClient(echo_request) as client:
        response = await client.get("/items/1", params={"q": "x"}, headers={"X-Token": "t"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        seen = response.json()
        assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/items/1", "q=x")
        assert seen["headers"]["x-token"] == "t"
        assert seen["headers"]["host"] == "testserver"

        response = await client.post("/items", json={"a": 1})
        assert json.loads(response.json()["body"]) == {"a": 1}
        for method in ("put", "patch", "delete", "options"):
            response = await getattr(client, method)("/items/1")
            assert response.json()["method"] == method.upper()
        response = await client.head("/items/1")
        assert (response.status_code, response.text) == (200, "")
        response = await client.request("PURGE", "/cache")
        assert response.json()["method"] == "PURGE"


async def test_works_without_async_with_and_sets_extension_only_when_raising() -> None:
    response = await TestClient(echo_request).get("/")
    assert response.json()["extensions"] == [RAISE_EXTENSION]
    quiet = TestClient(echo_request, raise_server_exceptions=False)
    assert (await quiet.get("/")).json()["extensions"] == []


async def test_exception_in_plain_app_propagates_or_becomes_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await TestClient(broken).get("/")
    response = await TestClient(broken, raise_server_exceptions=False).get("/")
    assert response.status_code == 500


async def test_framework_contract_500_then_reraise_unwrapped_from_group() -> None:
    """A framework renders the error, then re-raises it when the extension asks; a nursery
    around the handler wraps it in an ExceptionGroup, which the client unwraps."""

    async def handler() -> None:
        raise ZeroDivisionError("handler bug")

    async def framework(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(handler)
        except BaseExceptionGroup:
            await send_json(send, {"detail": "Server error"}, status=500)
            if RAISE_EXTENSION in scope["extensions"]:
                raise

    with pytest.raises(ZeroDivisionError, match="handler bug"):
        await TestClient(framework).get("/")
    response = await TestClient(framework, raise_server_exceptions=False).get("/")
    assert (response.status_code, response.json()) == (500, {"detail": "Server error"})


async def test_request_timeout(autojump_clock: trio.abc.Clock) -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await trio.sleep(60)

    with pytest.raises(TimeoutError, match="GET /slow"):
        await TestClient(slow, timeout=2).get("/slow")


# -- lifespan ---------------------------------------------------------------------------------


def lifespan_app(log: list[str], fail: str = "") -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            for phase in ("startup", "shutdown"):
                assert (await receive())["type"] == f"lifespan.{phase}"
                log.append(phase)
                if phase == fail:
                    await send({"type": f"lifespan.{phase}.failed", "message": f"no {phase}"})
                    return
                scope["state"]["db"] = "connected"
                await send({"type": f"lifespan.{phase}.complete"})
            return
        log.append(scope["state"]["db"])
        await send_json(send, "ok")

    return app


async def test_lifespan_startup_state_and_shutdown() -> None:
    log: list[str] = []
    async with TestClient(lifespan_app(log)) as client:
        assert log == ["startup"]
        await client.get("/")
        assert log == ["startup", "connected"]
    assert log == ["startup", "connected", "shutdown"]


@pytest.mark.parametrize("phase", ["startup", "shutdown"])
async def test_lifespan_failure_raises_with_message(phase: str) -> None:
    with pytest.raises(LifespanFailed, match=f"no {phase}") as info:
        async with TestClient(lifespan_app([], fail=phase)):
            pass
    assert (info.value.phase, info.value.message) == (phase, f"no {phase}")


async def test_app_without_lifespan_support_is_tolerated() -> None:
    async with TestClient(echo_request) as client:  # raises on the lifespan scope
        assert (await client.get("/")).status_code == 200


async def test_lifespan_error_after_startup_message_propagates() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise OSError("database down")

    with pytest.raises(OSError, match="database down"):
        async with TestClient(app):
            pass  # pragma: no cover


async def test_lifespan_startup_timeout(autojump_clock: trio.abc.Clock) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await trio.sleep_forever()

    with trio.fail_after(60), pytest.raises(TimeoutError, match="lifespan startup"):
        async with TestClient(app, timeout=1):
            pass  # pragma: no cover


async def test_lifespan_shutdown_timeout(autojump_clock: trio.abc.Clock) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await trio.sleep_forever()

    with trio.fail_after(60), pytest.raises(TimeoutError, match="lifespan shutdown"):
        async with TestClient(app, timeout=1):
            pass


# -- WebSockets -------------------------------------------------------------------------------


async def ws_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts (the first offered subprotocol), echoes until disconnect, records the code."""
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    protocols = scope["subprotocols"]
    await send({"type": "websocket.accept", "subprotocol": protocols[0] if protocols else None})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            scope["state"]["disconnect_code"] = message["code"]
            return
        if message.get("text") == "whoami":
            headers = dict(scope["headers"])
            info = {"path": scope["path"], "query": scope["query_string"].decode()}
            info["token"] = headers.get(b"x-token", b"").decode()
            await send({"type": "websocket.send", "text": json.dumps(info)})
        elif message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
        else:
            data = {"text": message.get("text"), "bytes": message.get("bytes")}
            await send({"type": "websocket.send", **data})


async def test_websocket_text_bytes_json_roundtrip() -> None:
    async with TestClient(ws_echo) as client, client.websocket_connect("/ws") as ws:
        assert ws.subprotocol is None
        await ws.send_text("hello")
        assert await ws.receive_text() == "hello"
        await ws.send_bytes(b"\x00\xff")
        assert await ws.receive_bytes() == b"\x00\xff"
        await ws.send_json({"a": [1, 2]})
        assert await ws.receive_json() == {"a": [1, 2]}
        await ws.send_json([True], binary=True)
        message = await ws.receive()
        assert (message["type"], message["bytes"]) == ("websocket.send", b"[true]")


async def test_websocket_scope_subprotocols_headers_query() -> None:
    async with (
        TestClient(ws_echo) as client,
        client.websocket_connect(
            "/ws/room",
            subprotocols=["chat.v2", "chat.v1"],
            headers={"X-Token": "t"},
            params={"n": "1"},
        ) as ws,
    ):
        assert ws.subprotocol == "chat.v2"
        await ws.send_text("whoami")
        assert await ws.receive_json() == {"path": "/ws/room", "query": "n=1", "token": "t"}


async def test_client_headers_and_cookies_reach_websocket_sessions() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await ws.send_json({k: ws.headers.get(k) for k in ("x-client", "x-session", "cookie")})

    app = ASyncApp(routes=[Route("/ws", "GET", handler)])
    async with TestClient(app, headers={"X-Client": "c"}, cookies={"sid": "42"}) as client:
        async with client.websocket_connect("/ws", headers={"X-Session": "s"}) as ws:
            assert await ws.receive_json() == {
                "x-client": "c",
                "x-session": "s",
                "cookie": "sid=42",
            }


async def test_the_server_close_reason_reaches_the_test() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await ws.close(4002, "room closed")

    async with TestClient(ASyncApp(routes=[Route("/ws", "GET", handler)])) as client:
        async with client.websocket_connect("/ws") as ws:
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (4002, "room closed")
    assert (ws.close_code, ws.close_reason) == (4002, "room closed")


async def test_websocket_exit_sends_disconnect_1000_and_close_sends_its_code() -> None:
    state: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = state
        await ws_echo(scope, receive, send)

    client = TestClient(app)
    async with client.websocket_connect("/ws"):
        pass
    assert state["disconnect_code"] == 1000
    async with client.websocket_connect("/ws") as ws:
        await ws.close(4000)
        with pytest.raises(trio.ClosedResourceError):
            await ws.send_text("too late")
    assert state["disconnect_code"] == 4000


async def test_websocket_server_close_raises_with_code_and_reason() -> None:
    async with TestClient(ws_echo).websocket_connect("/ws") as ws:
        await ws.send_text("bye")
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive_text()
        assert (info.value.code, info.value.reason) == (4001, "bye")
        assert (ws.close_code, ws.close_reason) == (4001, "bye")
        with pytest.raises(WebSocketClosed):
            await ws.send_text("after close")


async def test_websocket_denied_by_close_is_403() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert info.value.status_code == 403


async def test_websocket_denial_response_extension() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert "websocket.http.response" in scope["extensions"]
        await receive()
        headers = [(b"content-type", b"application/json")]
        start = {"type": "websocket.http.response.start", "status": 401, "headers": headers}
        await send(start)
        await send(
            {"type": "websocket.http.response.body", "body": b'{"detail":', "more_body": True}
        )
        await send({"type": "websocket.http.response.body", "body": b'"who?"}'})

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert info.value.status_code == 401
    assert info.value.headers["content-type"] == "application/json"
    assert info.value.response.json() == {"detail": "who?"}


async def test_websocket_app_error_before_accept() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("no route")

    with pytest.raises(LookupError, match="no route"):
        async with TestClient(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    with pytest.raises(WebSocketDenied) as info:  # as Hypercorn: a 500
        async with TestClient(app, raise_server_exceptions=False).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert info.value.status_code == 500


def failing_ws_framework(reraise_in_group: bool) -> Any:
    """Accepts, fails on the first message: closes 1011, then re-raises when asked to."""

    async def handler(receive: Receive) -> None:
        await receive()
        raise ZeroDivisionError("handler bug")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(handler, receive)
        except BaseExceptionGroup as group:
            await send({"type": "websocket.close", "code": 1011})
            if RAISE_EXTENSION in scope["extensions"]:
                if reraise_in_group:
                    raise
                raise group.exceptions[0] from None

    return app


@pytest.mark.parametrize("reraise_in_group", [True, False])
async def test_websocket_framework_contract_raises_original_from_receive(
    reraise_in_group: bool,
) -> None:
    app = failing_ws_framework(reraise_in_group)
    async with TestClient(app).websocket_connect("/ws") as ws:
        await ws.send_text("go")
        with pytest.raises(ZeroDivisionError, match="handler bug"):
            await ws.receive_text()
    async with TestClient(app, raise_server_exceptions=False).websocket_connect("/ws") as ws:
        await ws.send_text("go")
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive_text()
        assert info.value.code == 1011


async def test_websocket_app_error_raised_at_exit_when_not_received() -> None:
    with pytest.raises(ZeroDivisionError):
        async with TestClient(failing_ws_framework(False)).websocket_connect("/ws") as ws:
            await ws.send_text("go")


async def test_websocket_plain_app_error_after_accept() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise ValueError("bad frame")

    async with TestClient(app).websocket_connect("/ws") as ws:
        await ws.send_text("x")
        with pytest.raises(ValueError, match="bad frame"):
            await ws.receive()
    async with TestClient(app, raise_server_exceptions=False).websocket_connect("/ws") as ws:
        await ws.send_text("x")
        with pytest.raises(WebSocketClosed) as info:  # as Hypercorn: 1011
            await ws.receive()
        assert info.value.code == 1011


async def test_websocket_receive_timeout(autojump_clock: trio.abc.Clock) -> None:
    async with TestClient(ws_echo, timeout=3).websocket_connect("/ws") as ws:
        with trio.fail_after(10):
            with pytest.raises(TimeoutError, match="within 3"):
                await ws.receive_text()


async def test_websocket_app_ignoring_disconnect_fails_at_exit(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await trio.sleep_forever()

    with trio.fail_after(60), pytest.raises(TimeoutError, match="did not return"):
        async with TestClient(app).websocket_connect("/ws", timeout=2):
            pass


async def test_a_session_used_without_async_with_says_so() -> None:
    session = TestClient(ws_echo).websocket_connect("/ws")
    with pytest.raises(RuntimeError, match="async with"):
        await session.send_text("hello")
    with pytest.raises(RuntimeError, match="async with"):
        await session.receive_text()


async def test_websocket_protocol_misuse_by_app_is_an_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "before accept"})

    with pytest.raises(RuntimeError, match=r"'websocket.send' while the WebSocket was connecting"):
        async with TestClient(app).websocket_connect("/ws"):
            pass  # pragma: no cover


async def test_websocket_receive_wrong_type() -> None:
    async with TestClient(ws_echo).websocket_connect("/ws") as ws:
        await ws.send_bytes(b"x")
        with pytest.raises(TypeError, match="expected a text message"):
            await ws.receive_text()


# -- run_hypercorn ----------------------------------------------------------------------------

RAW_APP = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                open("shutdown.flag", "w").close()
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello from hypercorn"})
"""


@pytest.mark.network
def test_run_hypercorn_serves_and_stops_gracefully(tmp_path: Path) -> None:
    (tmp_path / "raw_app.py").write_text(textwrap.dedent(RAW_APP))
    with run_hypercorn("raw_app:app", cwd=tmp_path) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url, timeout=5).text == "hello from hypercorn"
    assert server.process.returncode == 0
    assert (tmp_path / "shutdown.flag").exists()  # SIGTERM ran the lifespan shutdown
    assert not server.log_path.exists()


@pytest.mark.network
def test_run_hypercorn_reports_a_server_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="Cannot load application from 'missing_module:app'"):
        with run_hypercorn("missing_module:app", cwd=tmp_path, timeout=15):
            pass  # pragma: no cover


# -- docs/testing.md --------------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def doc_blocks() -> list[tuple[str, str]]:
    """The doc's ``python``/``toml`` code blocks, as (path named on the first line or "", code)."""
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    result = []
    for block in blocks:
        first, _, rest = block.partition("\n")
        named = re.fullmatch(r"# ([\w/]+\.(?:py|toml))", first)
        result.append((named.group(1), rest) if named else ("", block))
    return result


@pytest.mark.network
def test_docs_testing_md_examples_pass(tmp_path: Path) -> None:
    """Lay the doc's files out as a project, run its tests with pytest, and run its scripts."""
    files = [(name, code) for name, code in doc_blocks() if name]
    scripts = [code for name, code in doc_blocks() if not name]
    assert {"pyproject.toml", "myproject/app.py", "tests/conftest.py"} <= {n for n, _ in files}
    for name, code in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(code)
    (tmp_path / "pyproject.toml").write_text(
        (tmp_path / "pyproject.toml").read_text() + 'filterwarnings = ["error"]\n'
    )
    # trio_apistar from this checkout (the project's own imports come from its pythonpath ini).
    env = {**os.environ, "PYTHONPATH": str(DOC.parent.parent)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=60)
    output = result.stdout.decode() + result.stderr.decode()
    tests = sum(len(re.findall(r"^(?:async )?def test_", code, re.M)) for _, code in files)
    assert result.returncode == 0 and f"{tests} passed" in output, output
    for code in scripts:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, timeout=60
        )
        assert result.returncode == 0, result.stderr.decode()


# -- trio_apistar apps ------------------------------------------------------------------------


def framework_app(events: list[str]) -> ASyncApp:
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    def broken() -> dict[str, int]:
        raise ZeroDivisionError("http handler bug")

    async def ws_broken(ws: WebSocket) -> None:
        await ws.connect()
        await ws.receive()
        raise ZeroDivisionError("ws handler bug")

    async def ws_members(ws: WebSocket) -> None:
        raise WebSocketProtocolError("members only", status_code=401)

    async def app_nursery_started(nursery: AppNursery) -> None:
        events.append("startup")

    def stopped() -> None:
        events.append("shutdown")

    return ASyncApp(
        routes=[
            Route("/items/{item_id}", "GET", item),
            Route("/broken", "GET", broken),
            Route("/ws-broken", "GET", ws_broken),
            Route("/members", "GET", ws_members),
        ],
        on_startup=[app_nursery_started],
        on_shutdown=[stopped],
    )


async def test_asyncapp_lifespan_and_http() -> None:
    events: list[str] = []
    async with TestClient(framework_app(events)) as client:
        assert events == ["startup"]
        response = await client.get("/items/7")
        assert (response.status_code, response.json()) == (200, {"id": 7})
        assert (await client.get("/nowhere")).status_code == 404
    assert events == ["startup", "shutdown"]


async def test_asyncapp_handler_errors_raise_in_the_test() -> None:
    app = framework_app([])
    async with TestClient(app) as client:
        with pytest.raises(ZeroDivisionError, match="http handler bug"):
            await client.get("/broken")
        async with client.websocket_connect("/ws-broken") as ws:
            await ws.send_text("go")
            with pytest.raises(ZeroDivisionError, match="ws handler bug"):
                await ws.receive_text()


async def test_asyncapp_handler_errors_as_clients_see_them() -> None:
    async with TestClient(framework_app([]), raise_server_exceptions=False) as client:
        response = await client.get("/broken")
        assert response.status_code == 500
        assert "bug" not in response.text
        async with client.websocket_connect("/ws-broken") as ws:
            await ws.send_text("go")
            with pytest.raises(WebSocketClosed) as info:
                await ws.receive_text()
            assert info.value.code == 1011


async def test_asyncapp_refusal_uses_the_denial_response() -> None:
    async with TestClient(framework_app([])) as client:
        with pytest.raises(WebSocketDenied) as info:
            async with client.websocket_connect("/members"):
                pass  # pragma: no cover
    assert info.value.status_code == 401
    assert "members only" in info.value.response.text


async def test_a_server_close_is_reported_without_waiting_for_the_app_to_return(
    autojump_clock: trio.abc.Clock,
) -> None:
    cleaned_up: list[float] = []

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await ws.close(4000)
        await trio.sleep(2)  # cleanup that takes a while
        cleaned_up.append(trio.current_time())

    async with TestClient(ASyncApp(routes=[Route("/ws", "GET", handler)])) as client:
        async with client.websocket_connect("/ws", timeout=3) as ws:
            start = trio.current_time()
            with trio.fail_after(10), pytest.raises(WebSocketClosed) as closed:
                await ws.receive_text()
            reported = trio.current_time()
    assert closed.value.code == 4000
    assert reported == start  # not after the app's 2 s of cleanup
    assert cleaned_up == [start + 2]  # which the session's end still waited for


async def test_a_handshake_never_answered_names_the_path(autojump_clock: trio.abc.Clock) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await trio.sleep_forever()

    with trio.fail_after(60), pytest.raises(TimeoutError, match="neither accepted nor refused"):
        async with TestClient(app).websocket_connect("/slow", timeout=2):
            pass  # pragma: no cover


async def test_the_tests_own_failure_wins_over_a_shutdown_failure() -> None:
    def broken_shutdown() -> None:
        raise RuntimeError("database gone")

    app = ASyncApp(routes=[], on_shutdown=[broken_shutdown])
    with pytest.raises(AssertionError, match="the real failure") as failure:
        async with TestClient(app):
            raise AssertionError("the real failure")
    assert any("database gone" in note for note in failure.value.__notes__)
    with pytest.raises(LifespanFailed, match="database gone"):
        async with TestClient(app):
            pass
    with pytest.raises(pytest.fail.Exception, match="failed on purpose"):
        async with TestClient(app):
            pytest.fail("failed on purpose")


async def test_websockets_need_an_open_client() -> None:
    client = TestClient(ws_echo)
    async with client:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        client.websocket_connect("/ws")


async def test_a_websocket_refused_with_an_http_exception_keeps_its_headers() -> None:
    async def handler(ws: WebSocket) -> None:
        raise HTTPException("Log in first", 401, {"www-authenticate": "Bearer"})

    async with TestClient(ASyncApp(routes=[Route("/ws", "GET", handler)])) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/ws"):
                pass  # pragma: no cover
    assert denied.value.status_code == 401
    assert denied.value.headers["www-authenticate"] == "Bearer"
    assert denied.value.response.json() == {"detail": "Log in first"}
