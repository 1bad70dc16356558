"""Handlers that hostile clients attack in tests/test_hardening_network.py, and a stats endpoint
that reports, from inside the worker, the file descriptors and trio tasks it holds.

Limits are small so that tests finish fast. Environment variables change some:
``HARDENING_SEND_TIMEOUT`` (seconds, default 1), ``HARDENING_IDLE`` (the WebSocket idle timeout,
default none), ``HARDENING_MAX_WEBSOCKETS`` (default 30, or ``auto``) and ``HARDENING_NOFILE``
(lowers the worker's file-descriptor limit).
"""

import os
import resource
from collections import Counter
from typing import Any

import trio

from trio_apistar import ASyncApp, Route, WebSocket, http
from trio_apistar.exceptions import WebSocketDisconnect

if "HARDENING_NOFILE" in os.environ:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(os.environ["HARDENING_NOFILE"]), hard))

#: Close codes handlers saw in ``WebSocketDisconnect``: evidence that post-processing ran.
ended: Counter[int] = Counter()


async def echo(ws: WebSocket) -> None:
    """The README's echo handler, as written."""
    await ws.connect()
    try:
        async for message in ws:
            await ws.send(message)
    finally:
        ended[ws.close_code or 0] += 1


async def ticker(ws: WebSocket) -> None:
    """Sends, never reads (the README's ticker, faster and with bigger messages)."""
    await ws.connect()
    try:
        with ws.cancel_on_disconnect():
            while True:
                await ws.send("x" * 65536)
                await trio.sleep(0.01)
    except WebSocketDisconnect as exc:
        ended[exc.code] += 1


async def tasks_ticker(ws: WebSocket, nursery: trio.Nursery) -> None:
    """Sends from a connection task while the handler reads."""

    async def tick() -> None:
        while True:
            await ws.send(b"y" * 65536)
            await trio.sleep(0.01)

    await ws.connect()
    nursery.start_soon(tick)
    await _read_until_the_end(ws)


async def idle(ws: WebSocket) -> None:
    """Accepts, then waits for messages that may never come."""
    await ws.connect()
    await _read_until_the_end(ws)


async def _read_until_the_end(ws: WebSocket) -> None:
    """Read and drop messages until the connection ends, then count its close code in
    ``ended``."""
    try:
        async for _ in ws:
            pass
    finally:
        ended[ws.close_code or 0] += 1


async def json_echo(ws: WebSocket) -> None:
    await ws.connect()
    while True:
        await ws.send_json(await ws.receive_json())


def _tasks() -> int:
    count = 0
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        count += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return count


def stats() -> dict[str, Any]:
    """The worker's open file descriptors and live trio tasks (this request's own included),
    the close codes handlers saw, and the app's own counters."""
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": _tasks(),
        "ended": {str(code): count for code, count in ended.items()},
        "app": vars(app.statistics()),
    }


def upload(body: http.Body) -> dict[str, int]:
    return {"size": len(body)}


def parse(data: http.RequestData) -> Any:
    return data


def item(name: str) -> dict[str, str]:
    return {"name": name}


def files(path: str) -> dict[str, str]:
    return {"path": path}


def big() -> http.Response:
    """A body far larger than socket buffers hold."""
    return http.Response(b"x" * (8 * 1024 * 1024), media_type="application/octet-stream")


def health() -> dict[str, str]:
    return {"status": "ok"}


_idle = os.environ.get("HARDENING_IDLE")
_max = os.environ.get("HARDENING_MAX_WEBSOCKETS", "30")
app = ASyncApp(
    routes=[
        Route("/echo", "GET", echo),
        Route("/ticker", "GET", ticker),
        Route("/tasks-ticker", "GET", tasks_ticker),
        Route("/idle", "GET", idle),
        Route("/json", "GET", json_echo),
        Route("/stats", "GET", stats),
        Route("/upload", "POST", upload),
        Route("/parse", "POST", parse),
        Route("/items/{name}", "GET", item),
        Route("/files/{+path}", "GET", files),
        Route("/big", "GET", big),
        Route("/health", "GET", health),
    ],
    max_body_size=16 * 1024,
    websocket_send_timeout=float(os.environ.get("HARDENING_SEND_TIMEOUT", "1")),
    websocket_idle_timeout=float(_idle) if _idle else None,
    max_websockets="auto" if _max == "auto" else int(_max),
    body_timeout=1.0,
)
