"""Handshakes the app refuses, or gets wrong, served over hypercorn's trio worker."""

from trio_apistar import ASyncApp, Route, WebSocket, http
from trio_apistar.exceptions import Forbidden


class TokenAuth:
    """An auth hook written for HTTP requests; it must guard WebSockets too."""

    def on_request(self, request: http.Request) -> None:
        if request.url.path != "/health" and request.headers.get("x-token") != "secret":
            raise Forbidden("Bad credentials")


async def graphql(ws: WebSocket) -> None:
    """Always picks its subprotocol, whether the client offered it or not."""
    await ws.accept(subprotocol="graphql-ws")
    await ws.send("hello")


async def room(ws: WebSocket, room: int) -> None:
    await ws.connect()
    await ws.send(f"room {room}")


def health() -> dict[str, str]:
    return {"status": "ok"}


app = ASyncApp(
    routes=[
        Route("/graphql", "GET", graphql),
        Route("/room", "GET", room),
        Route("/health", "GET", health),
    ],
    event_hooks=[TokenAuth],
)
