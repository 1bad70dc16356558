"""The connection nursery (``trio.Nursery``) in hooks, components and handlers, in-process."""

import contextlib
import logging

import pytest
import trio
import trio.testing

from trio_apistar import ASyncApp, Component, Route, WebSocket, http
from trio_apistar.exceptions import WebSocketDisconnect
from trio_apistar.test import TestClient, WebSocketClosed


async def test_on_request_hook_starts_a_task_that_ends_with_the_connection() -> None:
    events: list[str] = []
    both = trio.Event()

    def record(event: str) -> None:
        events.append(event)
        if len(events) == 2:
            both.set()

    class Heartbeat:
        async def on_request(self, ws: WebSocket, nursery: trio.Nursery) -> None:
            await ws.connect()

            async def beat() -> None:
                try:
                    while True:
                        await ws.send("beat")
                        await trio.sleep(0.005)
                finally:
                    record("heartbeat stopped")

            nursery.start_soon(beat)

    async def handler(ws: WebSocket) -> None:
        async for _ in ws:
            pass
        record("handler saw the client leave")

    app = ASyncApp(routes=[Route("/", "GET", handler)], event_hooks=[Heartbeat])
    async with TestClient(app) as client:
        async with client.websocket_connect("/") as session:
            assert await session.receive_text() == "beat"
            assert await session.receive_text() == "beat"
        with trio.fail_after(2):
            await both.wait()
    assert sorted(events) == ["handler saw the client leave", "heartbeat stopped"]


async def test_components_can_ask_for_the_connection_nursery() -> None:
    class Ticker:
        def __init__(self, nursery: trio.Nursery) -> None:
            self.ticks = 0
            nursery.start_soon(self.run)

        async def run(self) -> None:
            while True:
                self.ticks += 1
                await trio.sleep(0.001)

    class TickerComponent(Component):
        def resolve(self, nursery: trio.Nursery) -> Ticker:
            return Ticker(nursery)

    async def handler(ws: WebSocket, ticker: Ticker) -> None:
        await ws.connect()
        await trio.sleep(0.02)
        await ws.send_json({"ticking": ticker.ticks > 0})

    app = ASyncApp(routes=[Route("/", "GET", handler)], components=[TickerComponent()])
    async with TestClient(app) as client:
        async with client.websocket_connect("/") as session:
            assert await session.receive_json() == {"ticking": True}


async def test_http_task_error_before_the_response_is_a_500_and_runs_on_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    class Errors:
        def on_error(self, error: Exception) -> None:
            seen.append(str(error))

    async def handler(nursery: trio.Nursery) -> dict[str, str]:
        async def fail() -> None:
            raise RuntimeError("task failed")

        nursery.start_soon(fail)
        await trio.sleep_forever()
        return {}  # pragma: no cover

    app = ASyncApp(routes=[Route("/", "GET", handler)], event_hooks=[Errors])
    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        async with TestClient(app, raise_server_exceptions=False) as client:
            response = await client.get("/")
    assert (response.status_code, response.json()) == (500, {"detail": "Internal server error"})
    assert seen == ["task failed"]
    assert any("task failed" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_websocket_task_error_closes_1011_and_runs_on_error() -> None:
    seen: list[str] = []

    class Errors:
        def on_error(self, error: Exception) -> None:
            seen.append(str(error))

    async def handler(ws: WebSocket, nursery: trio.Nursery) -> None:
        async def fail() -> None:
            raise RuntimeError("task failed")

        await ws.connect()
        nursery.start_soon(fail)
        await ws.receive()

    app = ASyncApp(routes=[Route("/", "GET", handler)], event_hooks=[Errors])
    async with TestClient(app, raise_server_exceptions=False) as client:
        async with client.websocket_connect("/") as session:
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert closed.value.code == 1011
    assert seen == ["task failed"]


async def test_request_scoped_hook_state_is_not_shared_between_requests() -> None:
    class PerRequest:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on_request(self, path: http.Path) -> None:
            self.seen.append(path)

        def on_response(self, response: http.Response) -> None:
            response.headers["x-seen"] = ",".join(self.seen)

    def handler(name: str) -> dict[str, str]:
        return {"name": name}

    app = ASyncApp(routes=[Route("/{name}", "GET", handler)], event_hooks=[PerRequest])
    async with TestClient(app) as client:
        assert (await client.get("/a")).headers["x-seen"] == "/a"
        assert (await client.get("/b")).headers["x-seen"] == "/b"


async def test_a_task_that_learns_the_client_left_is_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The split pattern: a task reads, the handler writes; the client leaving ends both
    quietly, and the handler's own ``except WebSocketDisconnect`` runs."""
    events: list[str] = []
    done = trio.Event()

    class Errors:
        def on_error(self, error: Exception) -> None:
            events.append(f"on_error {type(error).__name__}")  # pragma: no cover

    async def handler(ws: WebSocket, nursery: trio.Nursery) -> None:
        await ws.connect()

        async def read() -> None:
            while True:
                events.append(f"read {await ws.receive()}")  # WebSocketDisconnect at the end

        nursery.start_soon(read)
        try:
            while True:
                await ws.send("tick")
                await trio.sleep(0.01)
        except WebSocketDisconnect as exc:
            events.append(f"handler saw {exc.code}")
        finally:
            done.set()

    app = ASyncApp(routes=[Route("/", "GET", handler)], event_hooks=[Errors])
    with caplog.at_level(logging.INFO, logger="trio_apistar"):
        async with TestClient(app) as client:
            async with client.websocket_connect("/") as session:
                await session.send_text("hi")
                assert await session.receive_text() == "tick"
                await session.close(4001)
            with trio.fail_after(2):
                await done.wait()
    assert events == ["read hi", "handler saw 4001"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_cancelled_close_did_not_happen_and_the_socket_still_closes() -> None:
    seen: list[object] = []

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        with trio.CancelScope() as scope:
            scope.cancel()
            await ws.close(4000)
        seen.append(ws.state.value)

    async with TestClient(ASyncApp(routes=[Route("/", "GET", handler)])) as client:
        async with client.websocket_connect("/") as session:
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert seen == ["connected"]
    assert closed.value.code == 1000  # the automatic close, not Hypercorn's 1011 fallback


async def test_shutdown_closes_every_socket_at_once_whatever_one_client_does(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One socket whose close frame cannot go out (its send blocks) does not delay the rest."""
    closed_at: dict[str, float] = {}

    async def handler(ws: WebSocket, name: str) -> None:
        await ws.connect()
        with contextlib.suppress(WebSocketDisconnect):
            await ws.receive()

    app = ASyncApp(routes=[Route("/{name}", "GET", handler)])

    async def connection(name: str, stuck: bool) -> None:
        to_app, inbox = trio.open_memory_channel[dict[str, object]](10)
        to_app.send_nowait({"type": "websocket.connect"})

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "websocket.close":
                if stuck:
                    await trio.sleep_forever()
                closed_at[name] = trio.current_time()
            await trio.lowlevel.checkpoint()

        scope = {"type": "websocket", "path": f"/{name}", "headers": [], "query_string": b""}
        await app(scope, inbox.receive, send)

    async with trio.open_nursery() as nursery:
        for name, stuck in [("a", True), ("b", True), ("c", False), ("d", False)]:
            nursery.start_soon(connection, name, stuck)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        await app.close_websockets()
    assert sorted(closed_at) == ["c", "d"]
    assert all(at == start for at in closed_at.values())


async def test_a_task_failing_on_another_socket_is_an_error_of_this_connection() -> None:
    """A broadcast task that hits a client that left is a bug to report, not this client
    leaving."""
    errors: list[str] = []

    class Errors:
        def on_error(self, error: Exception) -> None:
            errors.append(type(error).__name__)

    async def handler(ws: WebSocket, nursery: trio.Nursery) -> None:
        await ws.connect()

        async def broadcast() -> None:
            raise WebSocketDisconnect(1001)  # as sending to another, gone, socket would

        nursery.start_soon(broadcast)
        async for _ in ws:
            pass  # pragma: no cover

    app = ASyncApp(routes=[Route("/", "GET", handler)], event_hooks=[Errors])
    async with TestClient(app, raise_server_exceptions=False) as client:
        async with client.websocket_connect("/") as session:
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert closed.value.code == 1011
    assert errors == ["WebSocketDisconnect"]


async def test_shutdown_closes_the_others_when_one_socket_is_dead() -> None:
    """Under a server whose send raises for a gone client, shutdown still closes the rest."""
    closes: list[str] = []

    async def handler(ws: WebSocket, name: str) -> None:
        await ws.connect()
        with contextlib.suppress(WebSocketDisconnect):
            await ws.receive()

    app = ASyncApp(routes=[Route("/{name}", "GET", handler)])

    async def connection(name: str) -> None:
        to_app, inbox = trio.open_memory_channel[dict[str, object]](10)
        to_app.send_nowait({"type": "websocket.connect"})

        async def send(message: dict[str, object]) -> None:
            await trio.lowlevel.checkpoint()
            if message["type"] == "websocket.close":
                if name == "dead":
                    raise OSError("connection reset")
                closes.append(name)

        scope = {"type": "websocket", "path": f"/{name}", "headers": [], "query_string": b""}
        await app(scope, inbox.receive, send)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for name in ("dead", "alive"):
                nursery.start_soon(connection, name)
            await trio.testing.wait_all_tasks_blocked()
            await app.close_websockets()
    assert closes == ["alive"]
