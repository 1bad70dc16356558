"""A hand-written ASGI 3 app: the ceiling any framework can reach on the same server.

It still does what every framework has to do per request (route on the path, serialise the JSON
body, set the headers) so the comparison measures framework overhead, not skipped work.
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_NOT_FOUND: Message = {
    "type": "http.response.start",
    "status": 404,
    "headers": [(b"content-length", b"0")],
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve ``GET /json``, a WebSocket echo at ``/ws`` and the lifespan protocol."""
    kind = scope["type"]
    if kind == "http":
        await _http(scope, send)
    elif kind == "websocket":
        await _websocket(scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(receive, send)


async def _http(scope: Scope, send: Send) -> None:
    if scope["path"] != "/json" or scope["method"] != "GET":
        await send(_NOT_FOUND)
        await send({"type": "http.response.body", "body": b""})
        return
    body = json.dumps({"hello": "world"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _websocket(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if scope["path"] != "/ws":
        await send({"type": "websocket.close", "code": 1000})
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes")})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
