"""The typed-data benchmark's apps: a 10-field JSON body per request and per WebSocket message.

Each app serves ``POST /items`` (the body in, ``{"ok": true, "name": ...}`` out) and, except
FastAPI, a WebSocket at ``/ws`` that answers each message with the same small JSON. Written the
way users write them: typed with a pydantic model, untyped with the parsed dict, by hand (raw).
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel

from trio_apistar import ASyncApp, Route, WebSocket, http

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class Item(BaseModel):
    """A typical body: ten fields of the usual types."""

    id: int
    name: str
    price: float
    quantity: int
    tags: list[str]
    active: bool
    sku: str
    weight: float
    color: str
    description: str


ITEM = {
    "id": 1,
    "name": "Widget",
    "price": 9.99,
    "quantity": 3,
    "tags": ["blue", "small"],
    "active": True,
    "sku": "W-0001",
    "weight": 1.5,
    "color": "blue",
    "description": "A typical widget, as a form or an order would describe it",
}


# -- trio_apistar, typed ---------------------------------------------------------------------


def create_typed(item: Item) -> dict[str, object]:
    """Take a validated item."""
    return {"ok": True, "name": item.name}


async def ws_typed(ws: WebSocket) -> None:
    """Answer each message, received as an ``Item``."""
    await ws.connect()
    while True:
        item = await ws.receive_json(Item)
        await ws.send_json({"ok": True, "name": item.name})


typed = ASyncApp(routes=[Route("/items", "POST", create_typed), Route("/ws", "GET", ws_typed)])


# -- trio_apistar, untyped -------------------------------------------------------------------


def create_untyped(data: http.RequestData) -> dict[str, object]:
    """Take the parsed body as it is."""
    return {"ok": True, "name": data["name"]}


async def ws_untyped(ws: WebSocket) -> None:
    """Answer each message, parsed as JSON."""
    await ws.connect()
    while True:
        data = await ws.receive_json()
        await ws.send_json({"ok": True, "name": data["name"]})


untyped = ASyncApp(
    routes=[Route("/items", "POST", create_untyped), Route("/ws", "GET", ws_untyped)]
)


# -- raw ASGI --------------------------------------------------------------------------------


async def raw(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Parse with ``json.loads``, answer with ``json.dumps``; no validation."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].replace("lifespan.", "")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] == "http":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reply = json.dumps({"ok": True, "name": json.loads(body)["name"]}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(reply))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": reply})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        name = json.loads(message.get("text") or message["bytes"])["name"]
        await send({"type": "websocket.send", "text": json.dumps({"ok": True, "name": name})})


def fastapi_app() -> Any:
    """FastAPI's way: the same model as the body of an ``async def`` endpoint."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/items")
    async def create(item: Item) -> dict[str, object]:
        return {"ok": True, "name": item.name}

    return app
