"""A hand-written ASGI 3 fan-out on trio: the floor any framework can reach on the trio worker.

In one process only (no backend URL): each ``/sub?channel=C`` socket gets a bounded trio memory
channel that ``/pub?channel=C`` fills with ``send_nowait`` (a subscriber whose channel is full
is closed with 1013), and a task that waits for the client to leave. It measures what Hypercorn's
trio worker and trio cost per delivery, so the framework's share can be told apart.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BUFFER = 100
_subscribers: dict[str, set[trio.MemorySendChannel[str]]] = {}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve ``/sub`` and ``/pub`` WebSockets and the lifespan protocol."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket" or (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    query = dict(part.partition("=")[::2] for part in scope["query_string"].decode().split("&"))
    channel = query.get("channel") or "bench"
    if scope["path"] == "/pub":
        await _publish(channel, receive, send)
    else:
        await _subscribe(channel, receive, send)


async def _publish(channel: str, receive: Receive, send: Send) -> None:
    while (message := await receive())["type"] == "websocket.receive":
        subscribers = _subscribers.get(channel, set())
        for subscriber in list(subscribers):
            try:
                subscriber.send_nowait(message["text"])
            except trio.WouldBlock:
                # Too slow: its forwarding loop drains the channel, then closes with 1013.
                subscribers.discard(subscriber)
                subscriber.close()


async def _subscribe(channel: str, receive: Receive, send: Send) -> None:
    outbox, inbox = trio.open_memory_channel[str](BUFFER)
    subscribers = _subscribers.setdefault(channel, set())
    subscribers.add(outbox)
    try:
        async with trio.open_nursery() as nursery:

            async def wait_for_disconnect() -> None:
                while (await receive())["type"] == "websocket.receive":
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(wait_for_disconnect)
            await send({"type": "websocket.send", "text": "ready"})
            async for text in inbox:
                await send({"type": "websocket.send", "text": text})
            await send({"type": "websocket.close", "code": 1013})
            nursery.cancel_scope.cancel()
    finally:
        subscribers.discard(outbox)
