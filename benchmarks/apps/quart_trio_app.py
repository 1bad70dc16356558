"""The benchmark app written the way a Quart-Trio user would write it."""

from typing import Any

from quart import websocket
from quart_trio import QuartTrio

app = QuartTrio(__name__)


@app.route("/json")
async def hello() -> dict[str, Any]:
    """Return a small JSON document."""
    return {"hello": "world"}


@app.websocket("/ws")
async def echo() -> None:
    """Echo every message until the client leaves (Quart cancels the handler then)."""
    await websocket.accept()
    while True:
        message = await websocket.receive()
        await websocket.send(message)
