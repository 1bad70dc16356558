"""A chat-like app on Broadcast, for the tests over real sockets (one or more processes).

Configured by environment: ``BROADCAST_URL`` (default ``memory://``), ``BROADCAST_HISTORY``,
``BROADCAST_BUFFER``, ``BROADCAST_PRESENCE_TTL``.
"""

import os
from typing import Any

import trio
import trio.lowlevel

from trio_apistar import ASyncApp, Broadcast, Route, WebSocket
from trio_apistar.http import QueryParam

broadcast = Broadcast(
    os.environ.get("BROADCAST_URL", "memory://"),
    history=int(os.environ.get("BROADCAST_HISTORY", "100")),
    buffer=int(os.environ.get("BROADCAST_BUFFER", "100")),
    presence_ttl=float(os.environ.get("BROADCAST_PRESENCE_TTL", "15")),
)


async def room(
    ws: WebSocket, name: str, broadcast: Broadcast, since: QueryParam, buffer: QueryParam
) -> None:
    """Every event of the room as JSON; what the client sends is published to the room."""
    await ws.connect()
    size = int(buffer) if buffer else None
    async with broadcast.subscribe(name, since=since or None, buffer=size) as subscription:
        await ws.send_json({"ready": True})
        async with trio.open_nursery() as nursery:

            async def publish_what_the_client_says() -> None:
                async for message in ws:
                    await broadcast.publish(name, message)

            nursery.start_soon(publish_what_the_client_says)
            async for event in subscription:
                await ws.send_json({"id": event.id, "data": event.data})


async def members(ws: WebSocket, name: str, nick: QueryParam, broadcast: Broadcast) -> None:
    """Join the room as ``nick``; send the member list, then every join and leave."""
    await ws.connect()
    async with (
        broadcast.subscribe_presence(name) as changes,
        broadcast.join(name, {"nick": nick}) as me,
    ):
        found = await broadcast.members(name)
        await ws.send_json({"me": me.id, "members": sorted(m["nick"] for m in found.values())})
        async for change in changes:
            await ws.send_json({"kind": change.kind, "nick": change.info["nick"]})


async def publish(
    name: str, broadcast: Broadcast, count: QueryParam, size: QueryParam, pause: QueryParam
) -> Any:
    """Publish ``count`` messages of ``size`` characters (numbered), in batches of 100,
    ``pause`` milliseconds apart."""
    n, padding = int(count or 1), "x" * int(size or 0)
    ids: list[str] = []
    for start in range(0, n, 100):
        batch = [(name, f"{i} {padding}") for i in range(start, min(n, start + 100))]
        ids += await broadcast.publish_many(batch)
        await trio.sleep(int(pause or 0) / 1000)
    return {"ids": ids}


def _count_tasks() -> int:
    """Tasks of the framework and of coredis (not the server's own, per connection)."""
    found, todo = 0, [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        found += task.name.startswith(("trio_apistar.", "coredis."))
        todo += [child for nursery in task.child_nurseries for child in nursery.child_tasks]
    return found


async def stats(broadcast: Broadcast, app: ASyncApp) -> dict[str, Any]:
    """The broadcast's statistics, open sockets and running tasks in this process."""
    await trio.lowlevel.checkpoint()
    statistics = broadcast.statistics()
    return {
        **{k: getattr(statistics, k) for k in statistics.__dataclass_fields__},
        "websockets": app.statistics().websockets,
        "tasks": _count_tasks(),
        "pid": os.getpid(),
    }


app = ASyncApp(
    [
        Route("/room/{name}", "GET", room),
        Route("/members/{name}", "GET", members),
        Route("/publish/{name}", "POST", publish),
        Route("/stats", "GET", stats),
    ],
    broadcast=broadcast,
)
