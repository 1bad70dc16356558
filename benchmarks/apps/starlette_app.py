"""The benchmark app written the way a Starlette user would write it."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


async def echo(websocket: WebSocket) -> None:
    """Echo every text message until the client leaves."""
    await websocket.accept()
    async for message in websocket.iter_text():
        await websocket.send_text(message)


async def hello(request: Request) -> JSONResponse:
    """Return a small JSON document."""
    return JSONResponse({"hello": "world"})


app = Starlette(routes=[Route("/json", hello), WebSocketRoute("/ws", echo)])
