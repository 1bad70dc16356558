"""The example chat app, in-process and over a real socket."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from examples.chat import Members, app
from trio_apistar.test import LiveServer, TestClient, WebSocketClosed, run_hypercorn

ROOT = Path(__file__).resolve().parent.parent


async def test_messages_reach_everyone_in_the_room() -> None:
    async with TestClient(app) as client:
        async with client.websocket_connect("/chat?name=ada") as ada:
            assert (await ada.receive_json())["members"] == ["ada"]
            async with client.websocket_connect("/chat?name=bob") as bob:
                assert (await bob.receive_json())["members"] == ["ada", "bob"]
                assert (await ada.receive_json())["name"] == "bob"
                await bob.send_text("hello")
                expected = {"event": "message", "from": "bob", "text": "hello"}
                assert await ada.receive_json() == expected
                assert await bob.receive_json() == expected
                assert (await client.get("/members")).json() == {"members": ["ada", "bob"]}
            assert (await ada.receive_json()) == {
                "event": "left",
                "name": "bob",
                "members": ["ada"],
            }


async def test_a_taken_name_is_refused_with_1008() -> None:
    async with TestClient(app) as client:
        async with client.websocket_connect("/chat?name=ada") as ada:
            await ada.receive_json()
            async with client.websocket_connect("/chat?name=ada") as again:
                with pytest.raises(WebSocketClosed) as closed:
                    await again.receive_json()
    assert closed.value.code == 1008


def test_a_member_whose_outbox_is_full_is_dropped() -> None:
    members = Members()
    slow_send, slow_receive = trio.open_memory_channel[dict[str, Any]](2)
    fast_send, _fast_receive = trio.open_memory_channel[dict[str, Any]](100)
    members.join("slow", slow_send)
    members.join("fast", fast_send)
    for i in range(3):
        members.publish({"event": "message", "from": "fast", "text": str(i)})
    assert members.names() == ["fast"]
    # The slow member's outbox is closed: its sender task drains it, then closes with 1013.
    assert len([slow_receive.receive_nowait() for _ in range(2)]) == 2
    with pytest.raises(trio.EndOfChannel):
        slow_receive.receive_nowait()


@pytest.fixture(scope="module")
def chat_server() -> Iterator[LiveServer]:
    with run_hypercorn("examples.chat:app", cwd=ROOT) as live:
        yield live


@pytest.mark.network
async def test_chat_over_hypercorn(chat_server: LiveServer) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=chat_server.url) as http:
            page = await http.get("/")
            assert "<title>trio_apistar chat</title>" in page.text
        async with open_websocket_url(chat_server.ws_url + "/chat?name=ada") as ada:
            await ada.get_message()
            async with open_websocket_url(chat_server.ws_url + "/chat?name=bob") as bob:
                await bob.get_message()
                await ada.get_message()
                await ada.send_message("hi bob")
                assert '"text":"hi bob"' in await bob.get_message()
        with pytest.raises(ConnectionClosed):
            await ada.get_message()
