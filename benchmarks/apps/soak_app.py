"""The soak run's app (benchmarks/soak.py): the README's echo, written as a user would, and a
``/stats`` endpoint that reports from inside the worker what it holds."""

import ctypes
import gc
import os
import sys

import trio

from trio_apistar import ASyncApp, Route, WebSocket

_PAGE = os.sysconf("SC_PAGE_SIZE")


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


def stats(trim: bool = False) -> dict[str, int]:
    """Open file descriptors, live trio tasks (this request's own included), open WebSockets,
    and memory: RSS, Python's allocated blocks, ``WebSocket`` objects still alive. ``trim``
    collects garbage and hands freed heap back to the OS first (``malloc_trim``), so that RSS
    shows what is in use rather than what the allocator keeps for later."""
    if trim:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        rss = int(statm.read().split()[1]) * _PAGE
    result = {
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": _tasks(),
        "websockets": app.statistics().websockets,
        "rss_kib": rss // 1024,
        "blocks": sys.getallocatedblocks(),
    }
    if trim:
        result["websocket_objects"] = sum(isinstance(o, WebSocket) for o in gc.get_objects())
    return result


# A short send timeout, so that the run's non-readers are let go of within its time.
app = ASyncApp(
    routes=[Route("/ws", "GET", echo), Route("/stats", "GET", stats)],
    websocket_send_timeout=2.0,
)
