"""Refused and botched handshakes over a real socket: the client gets the status it should, and
the server keeps serving."""

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from trio_apistar.test import LiveServer

pytestmark = pytest.mark.network

TOKEN = [("x-token", "secret")]


async def _rejected(url: str, **options: object) -> ConnectionRejected:
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(url, **options):  # type: ignore[arg-type]
            pass
    return rejected.value


async def _healthy(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}


async def test_a_subprotocol_never_offered_is_a_500_and_the_worker_survives(
    refusals_server: LiveServer,
) -> None:
    server = refusals_server
    with trio.fail_after(10):
        rejected = await _rejected(server.ws_url + "/graphql", extra_headers=TOKEN)
        assert rejected.status_code == 500
        await _healthy(server)
        async with open_websocket_url(
            server.ws_url + "/graphql", subprotocols=["graphql-ws"], extra_headers=TOKEN
        ) as ws:
            assert ws.subprotocol == "graphql-ws"
            assert await ws.get_message() == "hello"
    assert "Cannot accept subprotocol 'graphql-ws'" in server.log()


async def test_http_exceptions_refuse_websockets_with_their_status_and_detail(
    refusals_server: LiveServer,
) -> None:
    server = refusals_server
    with trio.fail_after(10):
        no_token = await _rejected(server.ws_url + "/room?room=1")
        no_room = await _rejected(server.ws_url + "/room", extra_headers=TOKEN)
        async with open_websocket_url(server.ws_url + "/room?room=7", extra_headers=TOKEN) as ws:
            assert await ws.get_message() == "room 7"
        await _healthy(server)
    assert (no_token.status_code, no_token.body) == (403, b'{"detail":"Bad credentials"}')
    assert no_room.status_code == 400
    assert b"room" in (no_room.body or b"")
