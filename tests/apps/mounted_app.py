"""An app served under a root path (`hypercorn --root-path /app`) and by absolute-form targets."""

from typing import Any

from trio_apistar import ASyncApp, Include, Route, WebSocket, http


def get_item(item_id: int, url: http.URL, path: http.Path, app: ASyncApp) -> dict[str, Any]:
    return {
        "id": item_id,
        "url": url,
        "path": path,
        "reverse": app.reverse_url("api:get_item", item_id=item_id),
    }


async def room(ws: WebSocket, room_id: int, app: ASyncApp) -> None:
    await ws.accept()
    await ws.send_json(
        {"room": room_id, "url": ws.url, "reverse": app.reverse_url("room", room_id=room_id)}
    )


def home() -> dict[str, str]:
    return {"home": "yes"}


app = ASyncApp(
    routes=[
        Route("/", "GET", home),
        Include("/api", "api", [Route("/items/{item_id}", "GET", get_item)]),
        Route("/rooms/{room_id}", "GET", room),
    ]
)
