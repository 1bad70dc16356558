"""An app that reports, over HTTP, what its handlers saw: for the structured-concurrency tests."""

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import trio

from trio_apistar import ASyncApp, Route, WebSocket
from trio_apistar.exceptions import WebSocketDisconnect
from trio_apistar.http import StreamingResponse

events: list[str] = []


def _record(event: str) -> None:
    events.append(f"{trio.current_time():.3f} {event}")
    print(f"event: {event}", flush=True)  # the log outlives the process (shutdown tests)


async def blocked_receive(ws: WebSocket) -> None:
    await ws.connect()
    try:
        await ws.receive()
    except WebSocketDisconnect as exc:
        _record(f"receive-disconnect {exc.code}")


async def blocked_sleep(ws: WebSocket) -> None:
    await ws.connect()
    await ws.send("ready")
    try:
        with ws.cancel_on_disconnect():
            await trio.sleep_forever()
    except WebSocketDisconnect as exc:
        _record(f"sleep-disconnect {exc.code}")


async def with_task(ws: WebSocket, nursery: trio.Nursery) -> None:
    async def heartbeat() -> None:
        try:
            while True:
                await ws.send("beat")
                await trio.sleep(0.02)
        except WebSocketDisconnect:
            _record("heartbeat-disconnect")
            raise
        finally:
            _record("heartbeat-finally")

    await ws.connect()
    nursery.start_soon(heartbeat)
    async for _ in ws:
        pass


async def task_crash(ws: WebSocket, nursery: trio.Nursery) -> None:
    async def crash() -> None:
        await trio.sleep(0.01)
        raise RuntimeError("task crashed")

    await ws.connect()
    nursery.start_soon(crash)
    await ws.receive()


async def echo(ws: WebSocket) -> None:
    await ws.connect()
    async for message in ws:
        await ws.send(message)


async def greet(ws: WebSocket) -> None:
    """Says hello and returns: the session closes the socket, maybe as the client does."""
    await ws.connect()
    await ws.send("hello")


async def chatty(ws: WebSocket) -> None:
    """Sends without pause: for disconnects in the middle of sends."""
    await ws.connect()
    while True:
        await ws.send("x" * 1000)


async def not_reading(ws: WebSocket) -> None:
    """Does not read for a while: a flooding client must be held back, not buffered."""
    await ws.connect()
    await ws.send("ready")
    await trio.sleep(2.5)
    async for _ in ws:  # then drains, so the client's close gets through
        pass


async def not_reading_watched(ws: WebSocket) -> None:
    """As ``not_reading``, but watching for the client meanwhile: the reader task and the
    WebSocket's own channel hold the flood back."""
    await ws.connect()
    await ws.send("ready")
    with trio.move_on_after(2.5), contextlib.suppress(WebSocketDisconnect):
        with ws.cancel_on_disconnect():
            await trio.sleep_forever()
    async for _ in ws:
        pass


async def long_poll() -> dict[str, Any]:
    try:
        await trio.sleep_forever()
    finally:
        _record("long-poll-finally")
    return {}  # pragma: no cover


async def stream_forever() -> StreamingResponse:
    """Answers at once, then streams nothing more until the client leaves."""

    async def chunks() -> AsyncIterator[str]:
        try:
            yield "started\n"
            await trio.sleep_forever()
        finally:
            _record("stream-finally")

    return StreamingResponse(chunks(), media_type="text/plain")


async def background(nursery: trio.Nursery) -> dict[str, bool]:
    async def later() -> None:
        await trio.sleep(0.2)
        _record("background-done")

    nursery.start_soon(later)
    _record("background-responding")
    return {"queued": True}


def get_events() -> list[str]:
    return [event.split(" ", 1)[1] for event in events]


def clear() -> None:
    events.clear()


def _live_tasks() -> int:
    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            count(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    return count(trio.lowlevel.current_root_task())


async def stats(app: ASyncApp) -> dict[str, Any]:
    await trio.sleep(0.05)  # let cancelled connection tasks finish unwinding
    return {"tasks": _live_tasks(), "rss_kb": _rss_kb(), "sockets": app.statistics().websockets}


def _rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def _register(handler: Any) -> Route:
    return Route("/" + handler.__name__.replace("_", "-"), "GET", handler)


app = ASyncApp(
    routes=[
        _register(h)
        for h in (
            blocked_receive,
            blocked_sleep,
            with_task,
            task_crash,
            echo,
            greet,
            chatty,
            not_reading,
            not_reading_watched,
            long_poll,
            stream_forever,
            background,
            stats,
        )
    ]
    + [Route("/events", "GET", get_events), Route("/events", "DELETE", clear)],
    websocket_max_message_size=1024 * 1024,
)

if __name__ == "__main__":  # the app.serve() shutdown test runs this file
    import sys

    app.serve(port=int(sys.argv[1]), graceful_timeout=10)
