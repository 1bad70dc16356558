"""A raw ASGI app whose WebSocket routes each end the handshake or the socket in one way.

The parity tests run every route in-process (TestClient) and over Hypercorn (trio-websocket)
and expect the same outcome: the TestClient must behave like the server the framework targets.
"""

from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Route by path; see ``ROUTES`` in the parity tests for what each one does."""
    if scope["type"] != "websocket":
        raise RuntimeError("WebSocket only")
    path = scope["path"]
    await receive()  # websocket.connect
    if path == "/deny-close":
        await send({"type": "websocket.close"})
    elif path == "/deny-response":
        start = {"type": "websocket.http.response.start", "status": 401, "headers": []}
        await send(start)
        await send({"type": "websocket.http.response.body", "body": b"log in", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b" first"})
    elif path == "/crash-before-accept":
        raise RuntimeError("crash before accept")
    else:
        protocols = scope["subprotocols"]
        await send(
            {"type": "websocket.accept", "subprotocol": protocols[-1] if protocols else None}
        )
        message = await receive()
        await send({"type": "websocket.send", "text": message.get("text") or "?"})
        if path == "/close-4001":
            await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
        elif path == "/crash-after-accept":
            raise RuntimeError("crash after accept")
        # "/return-without-close" just returns.
