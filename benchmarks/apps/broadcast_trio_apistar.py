"""The broadcast benchmark's trio_apistar app, written the way a user would write it.

``BENCH_BROADCAST_URL`` picks the backend (``memory://`` or ``redis://...``). ``/sub?channel=C``
subscribes, sends ``ready`` and then forwards every event; ``/pub?channel=C`` publishes every
text message it receives.
"""

import os

from trio_apistar import AppNursery, ASyncApp, Broadcast, Component, Route, WebSocket, http

broadcast = Broadcast(os.environ.get("BENCH_BROADCAST_URL", "memory://"))


class BroadcastComponent(Component):
    """The app's one ``Broadcast``."""

    def resolve(self) -> Broadcast:
        return broadcast


async def start_broadcast(nursery: AppNursery) -> None:
    """Run the broadcast's background work for the app's lifetime."""
    await nursery.start(broadcast.run)


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
    components=[BroadcastComponent()],
    on_startup=[start_broadcast],
)
