"""The connection nursery (``trio.Nursery``) in hooks, components and handlers, in-process."""

import logging

import pytest
import trio

from trio_apistar import ASyncApp, Component, Route, WebSocket, http
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
