"""The example chat app, in-process and over a real socket."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from examples.chat import make_app
from trio_apistar.test import LiveServer, TestClient, WebSocketClosed, run_hypercorn

ROOT = Path(__file__).resolve().parent.parent


def joined(name: str, *members: str) -> dict[str, Any]:
    return {"event": "joined", "name": name, "members": list(members)}


def said(message: dict[str, Any], who: str, text: str) -> bool:
    return message["event"] == "message" and (message["name"], message["text"]) == (who, text)


async def test_messages_and_presence_reach_everyone_in_the_room() -> None:
    async with TestClient(make_app()) as client:
        async with client.websocket_connect("/chat?name=ada") as ada:
            assert await ada.receive_json() == joined("ada", "ada")
            async with client.websocket_connect("/chat?name=bob&room=lobby") as bob:
                assert await bob.receive_json() == joined("bob", "ada", "bob")
                assert await ada.receive_json() == joined("bob", "ada", "bob")
                await bob.send_json({"text": "hello"})
                for someone in (ada, bob):
                    assert said(await someone.receive_json(), "bob", "hello")
                members = await client.get("/members", params={"room": "lobby"})
                assert members.json() == {"members": ["ada", "bob"]}
            assert await ada.receive_json() == {"event": "left", "name": "bob", "members": ["ada"]}
        assert (await client.get("/members")).json() == {"members": []}


async def test_rooms_are_separate() -> None:
    async with TestClient(make_app()) as client:
        async with (
            client.websocket_connect("/chat?name=ada&room=one") as ada,
            client.websocket_connect("/chat?name=ada&room=two") as other_ada,
        ):
            assert await ada.receive_json() == joined("ada", "ada")
            assert await other_ada.receive_json() == joined("ada", "ada")
            await other_ada.send_json({"text": "only in two"})
            assert said(await other_ada.receive_json(), "ada", "only in two")
            await ada.send_json({"text": "only in one"})
            assert said(await ada.receive_json(), "ada", "only in one")  # not "only in two"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("name=ada", "'ada' is already here"),
        ("name=", "a name and a room of 1 to 32 characters, please"),
        ("name=" + "x" * 33, "a name and a room of 1 to 32 characters, please"),
    ],
)
async def test_a_taken_or_bad_name_is_refused_with_1008(query: str, reason: str) -> None:
    async with TestClient(make_app()) as client:
        async with client.websocket_connect("/chat?name=ada") as ada:
            await ada.receive_json()
            async with client.websocket_connect(f"/chat?{query}") as again:
                with pytest.raises(WebSocketClosed) as closed:
                    await again.receive_json()
    assert (closed.value.code, closed.value.reason) == (1008, reason)


async def test_a_reconnecting_tab_gets_what_it_missed_in_order() -> None:
    async with TestClient(make_app()) as client:
        async with client.websocket_connect("/chat?name=bob") as bob:
            await bob.receive_json()
            async with client.websocket_connect("/chat?name=ada") as ada:
                await ada.receive_json()
                await bob.receive_json()  # ada joined
                await bob.send_json({"text": "before"})
                last_seen = await ada.receive_json()
                assert said(last_seen, "bob", "before")
            # His own "before", and ada leaving (two relays: in either order).
            assert sorted([(await bob.receive_json())["event"] for _ in range(2)]) == [
                "left",
                "message",
            ]
            for text in ("while you", "were away"):
                await bob.send_json({"text": text})
                assert said(await bob.receive_json(), "bob", text)
            since = last_seen["id"]
            async with client.websocket_connect(f"/chat?name=ada&since={since}") as ada:
                got = [await ada.receive_json() for _ in range(3)]
    messages = [(m["name"], m["text"]) for m in got if m["event"] == "message"]
    assert messages == [("bob", "while you"), ("bob", "were away")]
    assert joined("ada", "ada", "bob") in got


async def test_a_reconnect_older_than_the_history_is_told_of_the_gap() -> None:
    async with TestClient(make_app()) as client:
        async with client.websocket_connect("/chat?name=ada&since=no-such-id") as ada:
            assert await ada.receive_json() == {"event": "gap"}
            assert await ada.receive_json() == joined("ada", "ada")
            await ada.send_json({"text": "still here"})
            assert said(await ada.receive_json(), "ada", "still here")


async def test_the_page_and_its_script_are_served() -> None:
    async with TestClient(make_app()) as client:
        page = await client.get("/")
        script = await client.get("/static/chat.js")
    assert "<title>trio_apistar chat</title>" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert script.status_code == 200
    assert "new WebSocket" in script.text


@pytest.fixture(scope="module")
def chat_server() -> Iterator[LiveServer]:
    with run_hypercorn("examples.chat:app", cwd=ROOT) as live:
        yield live


@pytest.mark.network
async def test_chat_over_hypercorn(chat_server: LiveServer) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=chat_server.url) as client:
            page = await client.get("/")
            assert "<title>trio_apistar chat</title>" in page.text
        async with open_websocket_url(chat_server.ws_url + "/chat?name=ada") as ada:
            await ada.get_message()
            async with open_websocket_url(chat_server.ws_url + "/chat?name=bob") as bob:
                await bob.get_message()
                await ada.get_message()
                await ada.send_message(json.dumps({"text": "hi bob"}))
                assert '"text":"hi bob"' in await bob.get_message()
            got = [await ada.get_message() for _ in range(2)]  # her own line, bob leaving
            assert any('"event":"left"' in message for message in got), got
        with pytest.raises(ConnectionClosed):
            await ada.get_message()


async def test_chat_messages_are_typed_and_a_bad_one_keeps_the_socket() -> None:
    app = make_app()
    async with TestClient(app) as client:
        async with client.websocket_connect("/chat?name=ada&room=typed") as ada:
            assert await ada.receive_json() == joined("ada", "ada")
            await ada.send_text("not json")
            invalid = await ada.receive_json()
            assert invalid["event"] == "invalid" and invalid["errors"]
            await ada.send_json({"text": ""})  # too short for Say
            assert (await ada.receive_json())["errors"] == {
                "text": "String should have at least 1 character"
            }
            await ada.send_json({"text": "still open"})
            said = await ada.receive_json()
            assert (said["event"], said["name"], said["text"]) == ("message", "ada", "still open")
    operations = app.asyncapi()["operations"]
    documented = json.dumps(app.asyncapi()["components"])
    assert operations and all(name in documented for name in ("Say", "Said", "Presence", "Gap"))
