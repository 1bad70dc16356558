"""The broadcast benchmark's trio_apistar app, written the way a user would write it.

``BENCH_BROADCAST_URL`` picks the backend (``memory://`` or ``redis://...``). ``/sub?channel=C``
subscribes, sends ``ready`` and then forwards every event (the subscription ends when the client
leaves, and a subscriber that falls behind is closed with 1013); ``/pub?channel=C`` publishes
every message it receives.
"""

import os

from trio_apistar import ASyncApp, Broadcast, Route, WebSocket, http


async def subscribe(ws: WebSocket, broadcast: Broadcast, channel: http.QueryParam) -> None:
    """Forward the channel's events until the client leaves."""
    await ws.connect()
    async with broadcast.subscribe(channel or "bench") as subscription:
        await ws.send("ready")
        async for event in subscription:
            await ws.send(event.data)


async def publish(ws: WebSocket, broadcast: Broadcast, channel: http.QueryParam) -> None:
    """Publish every message to the channel until the client leaves."""
    await ws.connect()
    async for message in ws:
        await broadcast.publish(channel or "bench", message)


app = ASyncApp(
    routes=[Route("/sub", "GET", subscribe), Route("/pub", "GET", publish)],
    broadcast=Broadcast(os.environ.get("BENCH_BROADCAST_URL", "memory://")),
)
