"""HTTP over a real socket: hypercorn's trio worker and an httpx client, every error path."""

import json

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from trio_apistar.test import LiveServer

pytestmark = pytest.mark.network


async def test_handlers_and_every_error_answer_json_with_the_hooks_applied(
    http_server: LiveServer,
) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=http_server.url) as client:
            ok = await client.get("/items/7", params={"fields": "name"})
            not_found = await client.get("/nowhere")
            preflight = await client.options("/items/7")
            bad_param = await client.get("/items/seven")
            bad_json = await client.post(
                "/echo", content=b"{nope", headers={"content-type": "application/json"}
            )
            wrong_type = await client.post(
                "/echo", content=b"<x/>", headers={"content-type": "application/xml"}
            )
            too_big = await client.post("/echo", json={"x": "y" * 70_000})
            crashed = await client.get("/crash")
            still_fine = await client.get("/items/8")
    assert ok.json() == {"id": 7, "fields": "name"}
    expected = [(404, None), (405, "GET"), (404, None), (400, None), (415, None), (413, None)]
    errors = [not_found, preflight, bad_param, bad_json, wrong_type, too_big]
    assert [(r.status_code, r.headers.get("allow")) for r in errors] == expected
    assert all("detail" in r.json() for r in errors)
    assert (crashed.status_code, crashed.json()) == (500, {"detail": "Internal server error"})
    assert "secret internals" in http_server.log()  # the traceback is logged, not sent
    assert still_fine.status_code == 200
    # on_response saw every response but the 500 (unhandled errors run on_error instead)
    assert all(r.headers["access-control-allow-origin"] == "*" for r in [ok, *errors])


async def test_forms_and_file_uploads(http_server: LiveServer) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=http_server.url) as client:
            form = await client.post("/echo", data={"a": "1", "b": "é"})
            upload = await client.post(
                "/echo", data={"title": "doc"}, files={"file": ("a.bin", b"\x00" * 5000)}
            )
    assert form.json() == {"a": "1", "b": "é"}
    assert upload.json() == {"title": "doc", "file": {"filename": "a.bin", "size": 5000}}


async def test_a_cookie_set_over_http_is_read_by_http_and_websocket_handlers(
    http_server: LiveServer,
) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=http_server.url) as client:
            login = await client.post("/login", params={"user": "ada"})
            me = await client.get("/me")  # the client's jar sends the cookie back
            cookie = f"session={client.cookies['session']}"
        async with open_websocket_url(
            http_server.ws_url + "/whoami", extra_headers=[("cookie", cookie)]
        ) as ws:
            over_websocket = json.loads(await ws.get_message())
    assert "httponly" in login.headers["set-cookie"].lower()
    assert me.json() == {"session": "token-ada"}
    assert over_websocket == {"session": "token-ada"}
