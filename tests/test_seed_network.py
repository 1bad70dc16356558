"""Every example and hook of the WebSocket guide, over a real socket: hypercorn's trio worker and
a trio-websocket client."""

import json

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from trio_apistar.test import LiveServer

pytestmark = pytest.mark.network


async def _all_messages(url: str, limit: int = 500) -> tuple[list[str | bytes], int | None]:
    """Read until the server closes; return the messages and the close code."""
    messages: list[str | bytes] = []
    async with open_websocket_url(url) as ws:
        for _ in range(limit):
            try:
                messages.append(await ws.get_message())
            except ConnectionClosed as closed:
                return messages, closed.reason.code
    raise AssertionError(f"server did not close after {limit} messages")


async def test_helloworld_sends_100_then_closes_1000(seed_server: LiveServer) -> None:
    with trio.fail_after(10):
        messages, code = await _all_messages(seed_server.ws_url + "/hello")
    assert messages == ["Hello World!"] * 100
    assert code == 1000


async def test_handler_returning_without_close_closes_1000(seed_server: LiveServer) -> None:
    with trio.fail_after(10):
        messages, code = await _all_messages(seed_server.ws_url + "/hello-noclose")
    assert messages == ["Hello World!"] * 100
    assert code == 1000


async def test_send_json_sends_text_frames(seed_server: LiveServer) -> None:
    with trio.fail_after(10):
        messages, code = await _all_messages(seed_server.ws_url + "/hello-json")
    assert all(isinstance(m, str) for m in messages)
    assert [json.loads(m) for m in messages] == [
        {"index": i, "text": "Hello World!"} for i in range(100)
    ]
    assert code == 1000


async def test_forever_until_client_leaves_then_post_processing(seed_server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_websocket_url(seed_server.ws_url + "/forever") as ws:
            first = json.loads(await ws.get_message())
            second = json.loads(await ws.get_message())
        assert first["text"] == second["text"] == "Hello World!"
        # The handler saw WebSocketDisconnect and ran its post-processing.
        async with httpx.AsyncClient(base_url=seed_server.url) as http:
            for _ in range(100):
                if "forever" in (await http.get("/disconnects")).json():
                    break
                await trio.sleep(0.02)
            else:
                raise AssertionError("post-processing after the disconnect never ran")


@pytest.mark.parametrize("ping", ["ping", b"ping"])
async def test_pingpong(seed_server: LiveServer, ping: str | bytes) -> None:
    with trio.fail_after(10):
        async with open_websocket_url(seed_server.ws_url + "/pingpong") as ws:
            for _ in range(5):
                await ws.send_message(ping)
                assert await ws.get_message() == "pong"


@pytest.mark.parametrize("ping", ['{"paddle": "ping"}', b'{"paddle": "ping"}'])
async def test_pingpong_json_accepts_text_and_binary(
    seed_server: LiveServer, ping: str | bytes
) -> None:
    with trio.fail_after(10):
        async with open_websocket_url(seed_server.ws_url + "/pingpong-json") as ws:
            for _ in range(5):
                await ws.send_message(ping)
                assert json.loads(await ws.get_message()) == {"paddle": "pong"}


async def test_invalid_json_closes_1007_and_server_keeps_serving(seed_server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_websocket_url(seed_server.ws_url + "/pingpong-json") as ws:
            await ws.send_message("{not json")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
        assert closed.value.reason.code == 1007
        async with open_websocket_url(seed_server.ws_url + "/pingpong") as ws:
            await ws.send_message("ping")
            assert await ws.get_message() == "pong"


async def test_unknown_websocket_path_is_refused_404(seed_server: LiveServer) -> None:
    with trio.fail_after(10):
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(seed_server.ws_url + "/nowhere"):
                pass
    assert rejected.value.status_code == 404
    assert json.loads(rejected.value.body) == {"detail": "Not found"}


async def test_http_route_is_not_a_websocket(seed_server: LiveServer) -> None:
    with trio.fail_after(10):
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(seed_server.ws_url + "/plain"):
                pass
    assert rejected.value.status_code == 404


async def test_on_request_hook_connects_for_every_handler(
    connect_hook_server: LiveServer,
) -> None:
    with trio.fail_after(10):
        async with open_websocket_url(connect_hook_server.ws_url + "/greet") as ws:
            assert await ws.get_message() == "connected: True"
            await ws.send_message("echo me")
            assert await ws.get_message() == "echo me"
            # on_response ran after the handler returned, with the socket still open.
            assert json.loads(await ws.get_message()) == {
                "status": "ok",
                "message": "Have a nice Day!",
            }
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
        assert closed.value.reason.code == 1000


async def test_hooks_for_websockets_leave_http_working(
    connect_hook_server: LiveServer, protocol_hook_server: LiveServer
) -> None:
    with trio.fail_after(10):
        for server in (connect_hook_server, protocol_hook_server):
            async with httpx.AsyncClient(base_url=server.url) as http:
                response = await http.get("/plain", params={"name": "trio"})
            assert response.status_code == 200
            assert response.json() == {"hello": "trio"}


async def test_protocol_hook_refuses_without_the_protocol(protocol_hook_server: LiveServer) -> None:
    with trio.fail_after(10):
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(protocol_hook_server.ws_url + "/greet"):
                pass
    assert rejected.value.status_code == 403
    assert json.loads(rejected.value.body) == {
        "detail": "Protocol my.protocol.example.io is required"
    }


async def test_protocol_hook_connects_with_the_protocol(protocol_hook_server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_websocket_url(
            protocol_hook_server.ws_url + "/greet", subprotocols=["my.protocol.example.io"]
        ) as ws:
            assert await ws.get_message() == "connected: True"
