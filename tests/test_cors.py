"""The CORS hook: preflights, response headers, and the Origin check on WebSocket handshakes."""

import pytest

from trio_apistar import CORS, ASyncApp, Route, WebSocket, http
from trio_apistar.test import TestClient, WebSocketDenied

SITE = "https://app.example"
EVIL = {"origin": "https://evil.example"}


def items() -> list[int]:
    return [1, 2]


async def echo(ws: WebSocket) -> None:
    await ws.connect()
    await ws.send("hello")


def _app(cors: CORS) -> ASyncApp:
    return ASyncApp(
        routes=[Route("/items", "GET", items), Route("/ws", "GET", echo)], event_hooks=[cors]
    )


def _preflight(origin: str, method: str = "PUT", headers: str = "") -> dict[str, str]:
    request = {"origin": origin, "access-control-request-method": method}
    if headers:
        request["access-control-request-headers"] = headers
    return request


async def test_simple_requests_get_the_headers_only_for_allowed_origins() -> None:
    cors = CORS([SITE], expose_headers=["x-total"])
    async with TestClient(_app(cors)) as client:
        allowed = await client.get("/items", headers={"origin": SITE})
        other = await client.get("/items", headers=EVIL)
        same_origin = await client.get("/items")
    assert allowed.json() == [1, 2]
    assert allowed.headers["access-control-allow-origin"] == SITE
    assert allowed.headers["access-control-expose-headers"] == "x-total"
    assert allowed.headers["vary"] == "Origin"
    for response in (other, same_origin):
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers


async def test_preflights_are_answered_even_where_no_route_takes_options() -> None:
    cors = CORS([SITE], allow_headers=["x-token", "content-type"], max_age=60)
    async with TestClient(_app(cors)) as client:
        ok = await client.options("/items", headers=_preflight(SITE, headers="X-Token"))
        bad_header = await client.options("/items", headers=_preflight(SITE, headers="x-other"))
        bad_origin = await client.options("/items", headers=_preflight("https://evil.example"))
        plain_options = await client.options("/items")  # not a preflight: the router's 405
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == SITE
    assert ok.headers["access-control-allow-headers"] == "X-Token"
    assert ok.headers["access-control-max-age"] == "60"
    assert "PUT" in ok.headers["access-control-allow-methods"]
    assert bad_header.status_code == 204
    assert "access-control-allow-headers" not in bad_header.headers  # the browser will refuse
    assert bad_origin.status_code == 400
    assert plain_options.status_code == 405


async def test_any_origin_and_credentials() -> None:
    async with TestClient(_app(CORS(["*"]))) as client:
        anyone = await client.get("/items", headers={"origin": SITE})
    async with TestClient(_app(CORS([SITE.upper()], allow_credentials=True))) as client:
        trusted = await client.get("/items", headers={"origin": SITE})
    assert anyone.headers["access-control-allow-origin"] == "*"
    assert trusted.headers["access-control-allow-origin"] == SITE  # configs are not case-bound
    assert trusted.headers["access-control-allow-credentials"] == "true"
    with pytest.raises(ValueError, match="list the origins"):
        CORS(["*"], allow_credentials=True)


async def test_preflight_methods_and_headers() -> None:
    strict = CORS([SITE], allow_methods=["GET", "PUT"])
    wildcard = CORS([SITE], allow_methods=["*"], allow_headers=["*"], allow_credentials=True)
    async with TestClient(_app(strict)) as client:
        json_post = await client.options("/items", headers=_preflight(SITE, "PUT", "Content-Type"))
        trace = await client.options("/items", headers=_preflight(SITE, "TRACE"))
    async with TestClient(_app(wildcard)) as client:
        anything = await client.options("/items", headers=_preflight(SITE, "PATCH", "X-Anything"))
    assert json_post.headers["access-control-allow-headers"] == "Content-Type"  # safelisted
    assert json_post.headers["access-control-allow-methods"] == "GET, PUT"
    assert trace.status_code == 400
    assert anything.headers["access-control-allow-methods"] == "PATCH"  # not a literal '*'
    assert anything.headers["access-control-allow-headers"] == "X-Anything"


async def test_handler_headers_are_kept_and_never_doubled() -> None:
    def vary() -> http.Response:
        return http.JSONResponse(
            [1], headers={"Vary": "Accept-Encoding", "Access-Control-Allow-Origin": "x"}
        )

    app = ASyncApp(routes=[Route("/vary", "GET", vary)], event_hooks=[CORS([SITE])])
    async with TestClient(app) as client:
        response = await client.get("/vary", headers={"origin": SITE})
    assert response.headers.get_list("access-control-allow-origin") == [SITE]
    assert response.headers["vary"] == "Accept-Encoding, Origin"


async def test_websocket_handshakes_from_other_origins_are_refused() -> None:
    async with TestClient(_app(CORS([SITE]))) as client:
        async with client.websocket_connect("/ws", headers={"origin": SITE}) as ws:
            assert await ws.receive_text() == "hello"
        async with client.websocket_connect("/ws") as ws:  # no Origin: not a browser
            assert await ws.receive_text() == "hello"
        own = {"origin": "http://testserver"}  # the app's own pages: same origin
        async with client.websocket_connect("/ws", headers=own) as ws:
            assert await ws.receive_text() == "hello"
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/ws", headers=EVIL):
                pass  # pragma: no cover
    assert denied.value.status_code == 403
    assert "not allowed" in denied.value.response.json()["detail"]
    unchecked = CORS([SITE], check_websocket_origin=False)
    async with TestClient(_app(unchecked)) as client:
        async with client.websocket_connect(
            "/ws", headers={"origin": "https://evil.example"}
        ) as ws:
            assert await ws.receive_text() == "hello"
