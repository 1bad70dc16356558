"""The soak run's app (benchmarks/soak.py): the README's echo, written as a user would, and a
``/stats`` endpoint that reports from inside the worker what it holds."""

import os

import trio

from trio_apistar import ASyncApp, Route, WebSocket


async def echo(ws: WebSocket) -> None:
    """Echo every message until the client leaves."""
    await ws.connect()
    async for message in ws:
        await ws.send(message)


def _tasks() -> int:
    count = 0
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        count += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return count


def stats() -> dict[str, int]:
    """Open file descriptors, live trio tasks (this request's own included), open WebSockets."""
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": _tasks(),
        "websockets": app.statistics().websockets,
    }


# A short send timeout, so that the run's non-readers are let go of within its time.
app = ASyncApp(
    routes=[Route("/ws", "GET", echo), Route("/stats", "GET", stats)],
    websocket_send_timeout=2.0,
)
