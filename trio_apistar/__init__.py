"""trio_apistar: API Star's way of writing web apps, on Trio's structured concurrency.

```python
from trio_apistar import ASyncApp, Route, WebSocket

async def echo(ws: WebSocket) -> None:
    await ws.connect()
    async for message in ws:
        await ws.send(message)

app = ASyncApp(routes=[Route("/ws", "GET", echo)])
```
"""

from . import exceptions as exceptions
from . import http as http
from ._types import ASGIReceive as ASGIReceive
from ._types import ASGIScope as ASGIScope
from ._types import ASGISend as ASGISend
from .app import ASyncApp as ASyncApp
from .broadcast import Broadcast as Broadcast
from .cors import CORS as CORS
from .fileresponse import FileResponse as FileResponse
from .injector import Component as Component
from .nurseries import AppNursery as AppNursery
from .routing import Include as Include
from .routing import Route as Route
from .staticfiles import Static as Static
from .staticfiles import StaticFiles as StaticFiles
from .templates import Templates as Templates
from .websocket import WebSocket as WebSocket
from .websocket import status as status

__version__ = "0.1.0"

__all__ = [
    "CORS",
    "ASGIReceive",
    "ASGIScope",
    "ASGISend",
    "ASyncApp",
    "AppNursery",
    "Broadcast",
    "Component",
    "FileResponse",
    "Include",
    "Route",
    "Static",
    "StaticFiles",
    "Templates",
    "WebSocket",
    "exceptions",
    "http",
    "status",
]
