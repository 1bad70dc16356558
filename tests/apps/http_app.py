"""HTTP handlers and their error paths, served over hypercorn's trio worker."""

from typing import Any

from trio_apistar import ASyncApp, Route, WebSocket, http
from trio_apistar.forms import UploadedFile


class Cors:
    def on_response(self, response: http.Response) -> None:
        response.headers["access-control-allow-origin"] = "*"


def item(item_id: int, fields: http.QueryParam = None) -> dict[str, Any]:  # type: ignore[assignment]
    return {"id": item_id, "fields": fields}


def echo(data: http.RequestData) -> dict[str, Any]:
    return {
        name: (
            {"filename": value.filename, "size": len(value.content)}
            if isinstance(value, UploadedFile)
            else value
        )
        for name, value in (data or {}).items()
    }


def login(user: http.QueryParam) -> http.Response:
    response = http.JSONResponse({"user": user})
    response.set_cookie("session", f"token-{user}", httponly=True)
    return response


def me(session: http.Cookie) -> dict[str, Any]:
    return {"session": session}


async def whoami(ws: WebSocket, session: http.Cookie) -> None:
    await ws.connect()
    await ws.send_json({"session": session})


def crash() -> None:
    raise RuntimeError("secret internals")


app = ASyncApp(
    routes=[
        Route("/items/{item_id}", "GET", item),
        Route("/echo", "POST", echo),
        Route("/crash", "GET", crash),
        Route("/login", "POST", login),
        Route("/me", "GET", me),
        Route("/whoami", "GET", whoami),
    ],
    event_hooks=[Cors()],
    max_body_size=64 * 1024,
)
