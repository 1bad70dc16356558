"""Typed WebSocket messages: received as a type, sent from models; invalid ones are 1007."""

import json
from decimal import Decimal
from typing import Any

import pytest
import trio
from pydantic import BaseModel
from trio_websocket import ConnectionClosed, open_websocket_url

from tests.apps.types_app import Product, app
from trio_apistar import ASyncApp, Route, WebSocket
from trio_apistar.exceptions import WebSocketInvalidData, WebSocketValidationError
from trio_apistar.test import LiveServer, TestClient, WebSocketClosed

HOSTILE = [
    '{"name": "pen"}',  # missing field
    '{"name": 7, "price": 1}',  # wrong type
    '{"name": "pen", "price": "lots"}',
    '{"name": "pen", "price": -1}',  # constraint
    '{"name": "pen", "price": 1e400}',  # no double holds it
    '{"name": "pen", "price": NaN}',
    '{"name": "pen", "price": ' + "9" * 5000 + "}",
    '{"name": "pen", "price": 1, "tags": ' + "[" * 10_000 + "]" * 10_000 + "}",
    "[1, 2]",
    "null",
    "{nope",
    "",
]


async def test_messages_are_received_as_a_type_and_models_are_sent() -> None:
    async with TestClient(app) as client, client.websocket_connect("/stream") as ws:
        await ws.send_json({"name": "pen", "price": "1.25", "colour": "extra is ignored"})
        assert await ws.receive_json() == {"name": "pen", "total": "1.25"}
        await ws.send_json({"name": "ink", "price": 2})
        assert await ws.receive_json() == {"name": "ink", "total": "3.25"}


async def test_an_invalid_message_can_be_caught_and_answered_keeping_the_socket_open() -> None:
    async with TestClient(app) as client, client.websocket_connect("/stream") as ws:
        for text in HOSTILE:
            await ws.send_text(text)
            errors = (await ws.receive_json())["errors"]
            assert isinstance(errors, str | dict) and errors, text[:30]
        await ws.send_text('{"name": "", "price": "x", "size": {"width": 1}}')
        assert (await ws.receive_json())["errors"] == {
            "name": "String should have at least 1 character",
            "price": "Input should be a valid decimal",
            "size.height": "Field required",
        }
        await ws.send_json({"name": "pen", "price": 1})  # still open, total untouched
        assert await ws.receive_json() == {"name": "pen", "total": "1"}


@pytest.mark.parametrize("text", HOSTILE)
async def test_an_invalid_message_left_unhandled_closes_1007_never_1011(text: str) -> None:
    async with TestClient(app) as client, client.websocket_connect("/strict-stream") as ws:
        await ws.send_json({"name": "ok", "price": 1})
        assert (await ws.receive_json())["name"] == "ok"
        await ws.send_text(text)
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive()
    assert closed.value.code == 1007
    assert closed.value.reason.startswith("Invalid message: ")
    assert len(closed.value.reason.encode()) <= 123


async def test_a_binary_frame_is_validated_too() -> None:
    async with TestClient(app) as client, client.websocket_connect("/strict-stream") as ws:
        await ws.send_bytes(b'{"name": "pen", "price": 2}')
        assert await ws.receive_json() == {"name": "pen", "price": "2", "tags": [], "size": None}
        await ws.send_bytes(b"\xff\xfe")
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive()
    assert closed.value.code == 1007


async def test_untyped_receive_json_refuses_what_it_could_not_answer() -> None:
    # Deep nesting raised RecursionError from json.loads (close 1011), and 1e400 became inf,
    # which send_json then could not encode (1011 again).
    for text in ["[" * 100_000 + "]" * 100_000, '{"x": 1e400}', "[NaN]"]:
        async with TestClient(app) as client, client.websocket_connect("/untyped") as ws:
            await ws.send_json({"fine": 1e300})
            assert await ws.receive_json() == {"fine": 1e300}
            await ws.send_text(text)
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive()
        assert closed.value.code == 1007, text[:20]


async def test_receive_json_keeps_its_loads_argument_and_takes_generic_types() -> None:
    seen: list[Any] = []

    def loads(data: str | bytes) -> Any:
        return {"parsed": json.loads(data)}

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        seen.append(await ws.receive_json(loads))
        seen.append(await ws.receive_json(loads=loads))
        seen.append(await ws.receive_json(json.loads))
        seen.append(await ws.receive_json())
        seen.append(await ws.receive_json(list[Product]))
        try:
            await ws.receive_json(dict[str, int])
        except WebSocketValidationError as exc:
            seen.append(exc.errors)
            assert isinstance(exc, WebSocketInvalidData) and exc.close_code == 1007

    async with TestClient(ASyncApp(routes=[Route("/", "GET", handler)])) as client:
        async with client.websocket_connect("/") as ws:
            for message in ([1], [2], [3], [4], [{"name": "a", "price": 1}], {"a": "x"}):
                await ws.send_json(message)
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive()
    assert closed.value.code == 1000
    assert seen == [
        {"parsed": [1]},
        {"parsed": [2]},
        [3],
        [4],
        [Product(name="a", price=Decimal(1))],
        {"a": "Input should be a valid integer, unable to parse string as an integer"},
    ]


async def test_send_json_serialises_models_anywhere_in_the_message() -> None:
    class Pet(BaseModel):
        name: str

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await ws.send_json(Pet(name="rex"))
        await ws.send_json({"pets": [Pet(name="a")], "price": Decimal("1.5")})

    async with TestClient(ASyncApp(routes=[Route("/", "GET", handler)])) as client:
        async with client.websocket_connect("/") as ws:
            assert await ws.receive_json() == {"name": "rex"}
            assert await ws.receive_json() == {"pets": [{"name": "a"}], "price": "1.5"}


@pytest.mark.network
async def test_over_hypercorn_invalid_messages_are_answered_or_closed_1007(
    types_server: LiveServer,
) -> None:
    with trio.fail_after(10):
        async with open_websocket_url(f"{types_server.ws_url}/stream") as ws:
            await ws.send_message('{"name": "pen", "price": "x"}')
            reply = json.loads(await ws.get_message())
            assert reply == {"errors": {"price": "Input should be a valid decimal"}}
            await ws.send_message('{"name": "pen", "price": "2"}')
            assert json.loads(await ws.get_message()) == {"name": "pen", "total": "2"}
        for text in HOSTILE:
            async with open_websocket_url(f"{types_server.ws_url}/strict-stream") as ws:
                await ws.send_message(text)
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
            assert closed.value.reason.code == 1007, text[:30]
            assert (closed.value.reason.reason or "").startswith("Invalid message")
    assert "Traceback" not in types_server.log()


async def test_a_discriminated_union_of_messages() -> None:
    from typing import Annotated, Literal

    from pydantic import Field

    class Say(BaseModel):
        type: Literal["say"] = "say"
        text: str

    class Typing(BaseModel):
        type: Literal["typing"] = "typing"

    message_type = Annotated[Say | Typing, Field(discriminator="type")]
    seen: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        async for message in ws.iter_json(message_type):
            seen.append(message)

    async with TestClient(ASyncApp(routes=[Route("/", "GET", handler)])) as client:
        async with client.websocket_connect("/") as ws:
            await ws.send_json({"type": "typing"})
            await ws.send_json({"type": "say", "text": "hi"})
            await ws.send_json({"type": "shout"})
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive()
    assert seen == [Typing(), Say(text="hi")]
    assert closed.value.code == 1007 and "type" in closed.value.reason
