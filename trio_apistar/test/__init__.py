"""Test any ASGI 3 app in-process under Trio, and serve it under a real Hypercorn for network tests.

``TestClient`` is an ``httpx.AsyncClient`` whose requests go straight to the app (no sockets).
Used as ``async with``, it also runs the app's lifespan; ``websocket_connect()`` opens a WebSocket
session over Trio memory channels with the app running in a nursery task::

    async with TestClient(app) as client:           # lifespan startup ... shutdown
        response = await client.get("/items/1")
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "hi"

``run_hypercorn()`` serves an app, given by import path, from a ``hypercorn --worker-class trio``
subprocess on 127.0.0.1, for tests that need a real socket (browsers, other clients);
``serve_in_thread()`` serves an app object with Hypercorn's trio worker in a thread of this
process. ``run_redis()`` starts a throwaway ``redis-server`` for apps with
``Broadcast("redis://...")``.

Exceptions raised here, besides the app's own (re-raised, see ``TestClient``)::

    TestClientError
    ├── LifespanFailed      the app sent lifespan.startup.failed or lifespan.shutdown.failed
    ├── WebSocketDenied     the app refused the handshake; carries the HTTP status, headers, body
    ├── WebSocketClosed     the app closed the socket; carries the close code and reason
    └── ServerStartError    the server (hypercorn, redis-server) exited or did not listen in time
    TimeoutError            the app sent nothing, or did not finish, within the client's timeout
"""

from ..context import RAISE_EXTENSION as RAISE_EXTENSION
from ._client import TestClient as TestClient
from ._errors import LifespanFailed as LifespanFailed
from ._errors import ServerStartError as ServerStartError
from ._errors import TestClientError as TestClientError
from ._errors import WebSocketClosed as WebSocketClosed
from ._errors import WebSocketDenied as WebSocketDenied
from ._redis import RedisServer as RedisServer
from ._redis import run_redis as run_redis
from ._server import AppServer as AppServer
from ._server import LiveServer as LiveServer
from ._server import run_hypercorn as run_hypercorn
from ._thread_server import serve_in_thread as serve_in_thread
from ._websocket import WebSocketSession as WebSocketSession

__all__ = [
    "RAISE_EXTENSION",
    "AppServer",
    "LifespanFailed",
    "LiveServer",
    "RedisServer",
    "ServerStartError",
    "TestClient",
    "TestClientError",
    "WebSocketClosed",
    "WebSocketDenied",
    "WebSocketSession",
    "run_hypercorn",
    "run_redis",
    "serve_in_thread",
]
