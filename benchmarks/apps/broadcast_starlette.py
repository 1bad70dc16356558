"""The broadcast benchmark's peer: Starlette with encode/broadcaster, as their docs write it.

Served by Hypercorn's asyncio worker. ``BENCH_BROADCAST_URL`` picks broadcaster's backend
(``memory://`` or ``redis://...``). ``/sub?channel=C`` subscribes, sends ``ready`` and then
forwards every event; ``/pub?channel=C`` publishes every text message it receives.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

broadcast = Broadcast(os.environ.get("BENCH_BROADCAST_URL", "memory://"))


async def _forward(websocket: WebSocket, channel: str) -> None:
    async with broadcast.subscribe(channel) as subscriber:
        await websocket.send_text("ready")
        async for event in subscriber:
            await websocket.send_text(event.message)


async def subscribe(websocket: WebSocket) -> None:
    """Forward the channel's events until the client leaves.

    A task group, as broadcaster's README shows: a quiet subscription alone would never notice
    the client leaving, so a second task waits for the disconnect and cancels the forwarding.
    """
    await websocket.accept()
    channel = websocket.query_params.get("channel", "bench")
    async with anyio.create_task_group() as tasks:

        async def wait_for_disconnect() -> None:
            try:
                while True:
                    await websocket.receive_text()
            except WebSocketDisconnect:
                pass
            tasks.cancel_scope.cancel()

        tasks.start_soon(wait_for_disconnect)
        await _forward(websocket, channel)


async def publish(websocket: WebSocket) -> None:
    """Publish every text message to the channel until the client leaves."""
    await websocket.accept()
    channel = websocket.query_params.get("channel", "bench")
    async for text in websocket.iter_text():
        await broadcast.publish(channel, text)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Connect to the backend for the app's lifetime."""
    async with broadcast:
        yield


app = Starlette(
    routes=[WebSocketRoute("/sub", subscribe), WebSocketRoute("/pub", publish)],
    lifespan=lifespan,
)
