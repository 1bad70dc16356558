"""The seed guide's event hooks, as written, on apps that also serve plain HTTP."""

from trio_apistar import ASGIScope, ASyncApp, Route, WebSocket, http
from trio_apistar.exceptions import WebSocketProtocolError


class ConnectAlways:
    async def on_request(self, ws: WebSocket, scope: ASGIScope):
        if scope["type"] == "websocket":
            # Connect the WebSocket, always. Take care of that boilerplate.
            await ws.connect()


class RequireProtocol:
    async def on_request(self, ws: WebSocket, scope: ASGIScope):
        if scope["type"] == "websocket" and "my.protocol.example.io" not in ws.protocols:
            raise WebSocketProtocolError(
                detail="Protocol %s is required" % "my.protocol.example.io"  # noqa: UP031
            )
        else:
            await ws.connect()


class SayGoodbye:
    async def on_response(self, ws: WebSocket, scope: ASGIScope):
        if scope["type"] == "websocket" and ws.connected:
            await ws.send_json({"status": "ok", "message": "Have a nice Day!"})


async def greet(ws: WebSocket):
    # No connect(): the on_request hook did it.
    await ws.send(f"connected: {ws.connected}")
    await ws.send(await ws.receive())


def plain(name: http.QueryParam) -> dict:
    return {"hello": name}


routes = [Route("/greet", "GET", greet), Route("/plain", "GET", plain)]

connect_app = ASyncApp(routes=routes, event_hooks=[ConnectAlways, SayGoodbye])
protocol_app = ASyncApp(routes=routes, event_hooks=[RequireProtocol(), SayGoodbye()])
