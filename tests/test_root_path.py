"""An app mounted under a prefix (ASGI ``root_path``), and absolute-form request targets.

ASGI's ``path`` includes ``root_path`` (Hypercorn, Starlette and asgiref read it so): the app
routes on the path without the prefix, its URLs carry the prefix once, and ``reverse_url``
includes it while a request is served.
"""

import json
from typing import Any

import httpx
import pytest
import trio
from apps.mounted_app import app
from trio_websocket import open_websocket_url

from trio_apistar.datastructures import origin_form, route_path
from trio_apistar.test import LiveServer, TestClient


async def test_http_routes_on_the_path_below_the_root_path() -> None:
    async with TestClient(app, root_path="/app") as client:
        item = await client.get("/app/api/items/2")
        home = await client.get("/app")
        home_slash = await client.get("/app/")
    assert item.json() == {
        "id": 2,
        "url": "http://testserver/app/api/items/2",
        "path": "/app/api/items/2",
        "reverse": "/app/api/items/2",
    }
    assert home.json() == home_slash.json() == {"home": "yes"}


async def test_websockets_route_below_the_root_path_and_their_url_has_it_once() -> None:
    async with TestClient(app, root_path="/app") as client:
        async with client.websocket_connect("/app/rooms/2") as ws:
            assert await ws.receive_json() == {
                "room": 2,
                "url": "ws://testserver/app/rooms/2",
                "reverse": "/app/rooms/2",
            }


async def test_a_path_without_the_prefix_is_routed_as_is() -> None:
    # Servers that strip the prefix from ``path`` themselves (older ASGI servers).
    seen: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        seen.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/items/2",
        "root_path": "/app",
        "query_string": b"",
        "headers": [(b"host", b"example.com")],
        "scheme": "http",
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    body = json.loads(seen[1]["body"])
    assert body["url"] == "http://example.com/app/api/items/2"
    assert body["reverse"] == "/app/api/items/2"


def test_reverse_url_outside_a_request_has_no_root_path() -> None:
    assert app.reverse_url("api:get_item", item_id=2) == "/api/items/2"


async def test_a_prefix_that_only_starts_the_same_is_not_the_root_path() -> None:
    async with TestClient(app, root_path="/app") as client:
        response = await client.get("/apple/api/items/2")
    assert response.status_code == 404


# -- over a real socket ----------------------------------------------------------------------


@pytest.mark.network
async def test_hypercorn_root_path_over_a_socket(mounted_server: LiveServer) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=mounted_server.url) as client:
            item = await client.get("/app/api/items/5")
        async with open_websocket_url(mounted_server.ws_url + "/app/rooms/5") as ws:
            room = json.loads(await ws.get_message())
    base = f"127.0.0.1:{mounted_server.port}"
    assert item.json() == {
        "id": 5,
        "url": f"http://{base}/app/api/items/5",
        "path": "/app/api/items/5",
        "reverse": "/app/api/items/5",
    }
    assert room == {"room": 5, "url": f"ws://{base}/app/rooms/5", "reverse": "/app/rooms/5"}


async def raw_request(port: int, request: bytes) -> bytes:
    """Send ``request`` as is over a socket; return everything the server answers."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


@pytest.mark.network
async def test_an_absolute_form_target_routes_to_its_path(mounted_server: LiveServer) -> None:
    port = mounted_server.port
    with trio.fail_after(10):
        answer = await raw_request(
            port,
            f"GET http://127.0.0.1:{port}/app/api/items/7?x=1 HTTP/1.1\r\n"
            f"host: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n".encode(),
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(body) == {
        "id": 7,
        "url": f"http://127.0.0.1:{port}/app/api/items/7?x=1",
        "path": "/app/api/items/7",
        "reverse": "/app/api/items/7",
    }


@pytest.mark.network
async def test_an_absolute_form_target_uses_its_own_authority(mounted_server: LiveServer) -> None:
    # RFC 9112 3.2.2: the target's host wins over the Host header.
    with trio.fail_after(10):
        answer = await raw_request(
            mounted_server.port,
            b"GET http://example.com/app/api/items/3 HTTP/1.1\r\n"
            b"host: 127.0.0.1\r\nconnection: close\r\n\r\n",
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(body)["url"] == "http://example.com/app/api/items/3"


def test_origin_form_keeps_the_path_and_takes_the_targets_host() -> None:
    scope = {
        "type": "websocket",
        "path": "http://user@example.com:8080/rooms/4",
        "raw_path": b"http://user@example.com:8080/rooms/4",
        "headers": [(b"host", b"127.0.0.1"), (b"origin", b"http://example.com")],
    }
    assert origin_form(scope) == {
        "type": "websocket",
        "path": "/rooms/4",
        "raw_path": b"/rooms/4",
        "headers": [(b"host", b"example.com:8080"), (b"origin", b"http://example.com")],
    }
    assert origin_form({"path": "http://example.com"})["path"] == "/"
    for path in ("/rooms/4", "*", "example.com:443"):  # origin, asterisk and authority forms
        assert origin_form({"path": path}) == {"path": path}


def test_route_path() -> None:
    assert route_path({"path": "/app/x", "root_path": "/app"}) == "/x"
    assert route_path({"path": "/app", "root_path": "/app"}) == "/"
    assert route_path({"path": "/apple", "root_path": "/app"}) == "/apple"
    assert route_path({"path": "/x", "root_path": "/app"}) == "/x"
    assert route_path({"path": "/x", "root_path": ""}) == "/x"
