"""The WebSocket state machine and its error paths, in-process through the TestClient."""

import contextlib
import logging
from typing import Any

import pytest
import trio
import trio.testing

from trio_apistar import AppNursery, ASGIScope, ASyncApp, Component, Route, WebSocket, http, status
from trio_apistar.exceptions import (
    BadRequest,
    ConfigurationError,
    Forbidden,
    WebSocketDisconnect,
    WebSocketNotConnected,
    WebSocketProtocolError,
)
from trio_apistar.test import TestClient, WebSocketClosed, WebSocketDenied
from trio_apistar.test._websocket import WebSocketSession
from trio_apistar.websocket import WebSocketState


@pytest.fixture(autouse=True, params=["channel receive", "plain receive"])
def server_receive(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs against both kinds of ASGI ``receive``: a trio memory channel's own
    (Hypercorn's trio worker; the WebSocket reads it directly) and any other callable (the
    WebSocket's reader task feeds its own channel)."""
    monkeypatch.setattr(WebSocketSession, "_channel_receive", request.param == "channel receive")


def _app(*handlers: Any, **kwargs: Any) -> ASyncApp:
    return ASyncApp(routes=[Route(f"/{h.__name__}", "GET", h) for h in handlers], **kwargs)


async def test_text_and_binary_round_trip_exactly() -> None:
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    async with TestClient(_app(echo)) as client:
        async with client.websocket_connect("/echo") as session:
            await session.send_text("héllo")
            assert await session.receive_text() == "héllo"
            await session.send_bytes(b"\x00\xff")
            assert await session.receive_bytes() == b"\x00\xff"


async def test_json_helpers() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        data = await ws.receive_json()
        await ws.send_json({"got": data})
        await ws.send_json([1], dumps=lambda value: '["custom"]')

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            await session.send_bytes(b'{"a": 1}')
            assert await session.receive_json() == {"got": {"a": 1}}
            assert await session.receive_text() == '["custom"]'


async def test_attributes_and_subprotocol() -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: WebSocket, room: http.QueryParam, x_token: http.Header) -> None:
        seen["before"] = (ws.connecting, ws.connected, ws.closed)
        seen["offered"] = ws.subprotocols
        await ws.connect(subprotocol="v2")
        seen["during"] = (ws.connecting, ws.connected, ws.closed)
        seen["facts"] = (ws.path, ws.query_params["room"], ws.headers["x-token"], room, x_token)
        await ws.close(4000, "bye")
        seen["after"] = (ws.connecting, ws.connected, ws.closed, ws.close_code)

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect(
            "/handler", subprotocols=["v1", "v2"], params={"room": "a"}, headers={"x-token": "t"}
        ) as session:
            assert session.subprotocol == "v2"
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert closed.value.code == 4000
    assert seen == {
        "before": (True, False, False),
        "offered": ["v1", "v2"],
        "during": (False, True, False),
        "facts": ("/handler", "a", "t", "a", "t"),
        "after": (False, False, True, 4000),
    }


async def test_connect_close_true_refuses_with_403() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect(close=True)

    async with TestClient(_app(handler)) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/handler"):
                pass
    assert denied.value.status_code == 403


async def test_returning_without_connecting_refuses() -> None:
    async def handler(ws: WebSocket) -> None:
        return None

    async with TestClient(_app(handler)) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/handler"):
                pass
    assert denied.value.status_code == 403


async def test_misuse_raises_not_connected_naming_the_state() -> None:
    errors: list[str] = []

    async def handler(ws: WebSocket) -> None:
        for action in (ws.send("x"), ws.receive()):
            try:
                await action
            except WebSocketNotConnected as exc:
                errors.append(str(exc))
        await ws.connect()
        try:
            await ws.accept()
        except WebSocketNotConnected as exc:
            errors.append(str(exc))
        await ws.close()
        try:
            await ws.send("late")
        except WebSocketNotConnected as exc:
            errors.append(str(exc))
        await ws.close()  # idempotent

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            with pytest.raises(WebSocketClosed):
                await session.receive()
    assert errors == [
        "Cannot send: the WebSocket is CONNECTING (call connect() or accept() first)",
        "Cannot receive: the WebSocket is CONNECTING (call connect() or accept() first)",
        "Cannot accept: the WebSocket is CONNECTED",
        "Cannot send: the WebSocket is CLOSED (closed by the server)",
    ]


async def test_send_rejects_other_types() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        with pytest.raises(TypeError, match="str or bytes, not int"):
            await ws.send(3)  # type: ignore[arg-type]
        await ws.send("still open")

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            assert await session.receive_text() == "still open"


async def test_send_msg_is_checked_against_the_spec() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.send_msg({"type": "websocket.accept", "subprotocol": None})
        await ws.send_msg({"type": "websocket.send", "bytes": b"b"})
        for bad, error in [
            ({"type": "websocket.send"}, ValueError),
            ({"type": "websocket.send", "text": "a", "bytes": b"b"}, ValueError),
            ({"type": "websocket.send", "text": b"not str"}, TypeError),
            ({"type": "http.response.start"}, ValueError),
        ]:
            with pytest.raises(error):
                await ws.send_msg(bad)
        await ws.send_msg({"type": "websocket.close", "code": 4001})

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            assert await session.receive_bytes() == b"b"
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert closed.value.code == 4001


async def test_client_leaving_raises_disconnect_with_code_in_receive_and_send() -> None:
    outcome: dict[str, Any] = {}
    done = trio.Event()

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        try:
            await ws.receive()
        except WebSocketDisconnect as exc:
            outcome["receive"] = exc.code
        try:
            await ws.send("too late")
        except WebSocketDisconnect as exc:
            outcome["send"] = exc.code
        outcome["state"] = ws.state
        done.set()

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            await session.close(4321)
        with trio.fail_after(2):
            await done.wait()
    assert outcome == {"receive": 4321, "send": 4321, "state": WebSocketState.DISCONNECTED}


async def test_messages_received_before_the_disconnect_are_not_lost() -> None:
    received: list[str | bytes] = []

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await trio.sleep(0.05)  # the client sends and leaves meanwhile
        received.extend([m async for m in ws])

    async with TestClient(_app(handler, websocket_queue_size=8)) as client:
        async with client.websocket_connect("/handler") as session:
            for i in range(3):
                await session.send_text(str(i))
            await session.close()
    assert received == ["0", "1", "2"]


async def test_unhandled_error_after_accept_closes_1011_logs_and_runs_on_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[str] = []

    class Hooks:
        def on_error(self, error: Exception, ws: WebSocket) -> None:
            errors.append(f"{type(error).__name__} connected={ws.connected}")

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        raise ZeroDivisionError("internal detail")

    app = _app(handler, event_hooks=[Hooks])
    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        async with TestClient(app, raise_server_exceptions=False) as client:
            async with client.websocket_connect("/handler") as session:
                with pytest.raises(WebSocketClosed) as closed:
                    await session.receive()
    assert closed.value.code == status.WS_1011_INTERNAL_ERROR
    assert "internal detail" not in closed.value.reason
    assert errors == ["ZeroDivisionError connected=True"]
    assert any("internal detail" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_unhandled_error_before_accept_refuses_500() -> None:
    async def handler(ws: WebSocket) -> None:
        raise ZeroDivisionError("before accept")

    async with TestClient(_app(handler), raise_server_exceptions=False) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/handler"):
                pass
    assert denied.value.status_code == 500
    assert b"before accept" not in denied.value.response.content


async def test_unhandled_error_reaches_the_test_by_default() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        raise ZeroDivisionError("surface me")

    async with TestClient(_app(handler)) as client:
        with pytest.raises(ZeroDivisionError, match="surface me"):
            async with client.websocket_connect("/handler") as session:
                await session.receive()


async def test_invalid_json_closes_1007_not_1011() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await ws.receive_json()

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            await session.send_text("{oops")
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert closed.value.code == status.WS_1007_INVALID_DATA


async def test_wrong_frame_type_closes_1003() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await ws.receive_text()

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            await session.send_bytes(b"binary")
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert closed.value.code == status.WS_1003_UNSUPPORTED_TYPE


async def test_oversized_message_closes_1009_and_handler_sees_it() -> None:
    seen: list[int] = []

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        try:
            await ws.receive()
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    async with TestClient(_app(handler, websocket_max_message_size=10)) as client:
        async with client.websocket_connect("/handler") as session:
            await session.send_text("x" * 11)
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert closed.value.code == status.WS_1009_TOO_BIG
    assert seen == [1009]


async def test_protocol_error_before_accept_refuses_with_detail() -> None:
    async def handler(ws: WebSocket) -> None:
        raise WebSocketProtocolError("Need a token", status_code=401)

    async with TestClient(_app(handler)) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/handler"):
                pass
    assert denied.value.status_code == 401
    assert denied.value.response.json() == {"detail": "Need a token"}


async def test_protocol_error_after_accept_closes_1002() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        raise WebSocketProtocolError("You broke the chat protocol")

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert (closed.value.code, closed.value.reason) == (1002, "You broke the chat protocol")


async def test_unknown_websocket_path_is_refused_404() -> None:
    async with TestClient(_app()) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/missing"):
                pass
    assert denied.value.status_code == 404


async def test_http_request_to_a_websocket_route_is_426() -> None:
    async def handler(ws: WebSocket) -> None: ...

    async with TestClient(_app(handler)) as client:
        response = await client.get("/handler")
    assert response.status_code == 426


async def test_components_and_path_params_inject_into_websocket_handlers() -> None:
    class Room(str):
        pass

    class RoomComponent(Component):
        def resolve(self, scope: ASGIScope, ws: WebSocket) -> Room:
            return Room(f"{scope['path']}:{ws.query_params.get('user', '?')}")

    async def handler(ws: WebSocket, room_id: int, room: Room) -> None:
        await ws.connect()
        await ws.send_json({"room_id": room_id, "room": room})

    app = ASyncApp(routes=[Route("/rooms/{room_id}", "GET", handler)], components=[RoomComponent()])
    async with TestClient(app) as client:
        async with client.websocket_connect("/rooms/5?user=ada") as session:
            assert await session.receive_json() == {"room_id": 5, "room": "/rooms/5:ada"}


def test_status_codes() -> None:
    expected = {
        "WS_1000_OK": 1000,
        "WS_1001_LEAVING": 1001,
        "WS_1002_PROT_ERROR": 1002,
        "WS_1003_UNSUPPORTED_TYPE": 1003,
        "WS_1005_NO_STATUS": 1005,
        "WS_1006_CLOSED_ABNORMAL": 1006,
        "WS_1007_INVALID_DATA": 1007,
        "WS_1008_POLICY_VIOLATION": 1008,
        "WS_1009_TOO_BIG": 1009,
        "WS_1010_MANDATORY_EXT": 1010,
        "WS_1011_INTERNAL_ERROR": 1011,
        "WS_1012_SERVICE_RESTART": 1012,
        "WS_1013_TRY_AGAIN_LATER": 1013,
    }
    assert {name: getattr(status, name) for name in expected} == expected


async def test_a_send_only_handler_learns_of_the_disconnect_when_sends_are_dropped() -> None:
    """Hypercorn drops sends after the client left without yielding; a handler that only sends
    must still let the reader run and see the disconnect."""
    outcome: list[str] = []

    async def chatty(ws: WebSocket) -> None:
        await ws.connect()
        try:
            for _ in range(10_000):
                await ws.send("x")
        except WebSocketDisconnect as exc:
            outcome.append(f"disconnect {exc.code}")
        else:
            outcome.append("never noticed")

    inbox = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1001}]

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop(0)
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def send(message: Any) -> None:
        pass  # like Hypercorn after a close: no checkpoint

    scope = {"type": "websocket", "path": "/chatty", "headers": [], "query_string": b""}
    with trio.fail_after(5):
        await _app(chatty)(scope, receive, send)
    assert outcome == ["disconnect 1001"]


async def test_concurrent_senders_take_turns_and_keep_their_order() -> None:
    async def handler(ws: WebSocket, nursery: trio.Nursery) -> None:
        await ws.connect()

        async def sender(name: str) -> None:
            for i in range(50):
                await ws.send(f"{name}{i}")

        async with trio.open_nursery() as senders:
            for name in "abc":
                senders.start_soon(sender, name)
        await ws.send("done")

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            received = []
            while (message := await session.receive_text()) != "done":
                received.append(message)
    assert sorted(received) == sorted(f"{n}{i}" for n in "abc" for i in range(50))
    for name in "abc":
        assert [m for m in received if m[0] == name] == [f"{name}{i}" for i in range(50)]


async def test_a_sender_cancelled_while_waiting_for_its_turn_frees_nothing_it_did_not_take() -> (
    None
):
    release = trio.Event()
    sent: list[str] = []

    async def slow_send(message: Any) -> None:
        if message.get("text") == "first":
            await release.wait()
        sent.append(message.get("text") or message["type"])
        if message["type"] == "websocket.close":  # the client answers it, as clients do
            inbox.append({"type": "websocket.disconnect", "code": message["code"]})
            answered.set()

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.send, "first")
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(0.01):
                await ws.send("cancelled")  # waits behind "first", then gives up
            release.set()
        await ws.send("last")

    inbox = [{"type": "websocket.connect"}]
    answered = trio.Event()

    async def receive() -> dict[str, Any]:
        if not inbox:
            await answered.wait()
        return inbox.pop(0)

    scope = {"type": "websocket", "path": "/handler", "headers": [], "query_string": b""}
    with trio.fail_after(5):
        await _app(handler)(scope, receive, slow_send)
    assert sent == ["websocket.accept", "first", "last", "websocket.close"]


async def test_cancel_on_disconnect_does_not_swallow_other_cancellations() -> None:
    outcome: list[str] = []

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        with trio.move_on_after(0.01) as timeout:
            with ws.cancel_on_disconnect():
                await trio.sleep_forever()
        outcome.append(f"own timeout: {timeout.cancelled_caught}")
        try:
            with ws.cancel_on_disconnect():
                await trio.sleep_forever()
        except WebSocketDisconnect as exc:
            outcome.append(f"disconnect {exc.code}")

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            await trio.sleep(0.05)
            await session.close(4002)
    assert outcome == ["own timeout: True", "disconnect 4002"]


async def test_refusal_without_the_denial_extension_is_a_plain_close() -> None:
    sent: list[dict[str, Any]] = []

    async def handler(ws: WebSocket) -> None:
        raise WebSocketProtocolError("no")

    inbox = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/handler", "headers": [], "query_string": b""}
    await _app(handler)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1000}]  # the server answers 403


def test_a_websocket_needs_a_websocket_scope() -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError  # pragma: no cover

    with pytest.raises(ValueError, match="needs a 'websocket' scope, not 'http'"):
        WebSocket({"type": "http"}, receive, receive)  # type: ignore[arg-type]


def _readers() -> int:
    """How many WebSocket reader tasks are alive in this run (task-tree inspection)."""
    count, todo = 0, [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        count += task.coro.cr_code.co_name == "_reader"
        todo.extend(t for n in task.child_nurseries for t in n.child_tasks)
    return count


async def test_a_reader_task_runs_only_when_something_besides_receive_waits(
    server_receive: None,
) -> None:
    seen: dict[str, int] = {}
    direct = WebSocketSession._channel_receive

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        seen["receiving"] = _readers()
        await ws.send(await ws.receive())
        with ws.cancel_on_disconnect():
            seen["watching"] = _readers()
            await ws.send(await ws.receive())

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            for text in "ab":
                await session.send_text(text)
                assert await session.receive_text() == text
    # Reading a trio memory channel directly needs no task of ours; any other receive does.
    assert seen == {"receiving": 0 if direct else 1, "watching": 1}


async def test_a_cancelled_receive_loses_no_message() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await trio.testing.wait_all_tasks_blocked()  # both messages are in
        assert ws.statistics().messages_buffered == 2
        with trio.CancelScope() as scope:
            scope.cancel()
            await ws.receive()  # cancelled before it takes anything
        await ws.send(f"{scope.cancelled_caught} {await ws.receive()} {await ws.receive()}")

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            await session.send_text("one")
            await session.send_text("two")
            assert await session.receive_text() == "True one two"


async def test_a_send_only_handler_over_a_channel_learns_of_the_disconnect_and_keeps_messages(
    server_receive: None,
) -> None:
    """What the client sent before leaving still reaches a later receive(), in order."""
    outcome: list[Any] = []
    to_app, inbox = trio.open_memory_channel[dict[str, Any]](10)

    async def chatty(ws: WebSocket) -> None:
        await ws.connect()
        try:
            for _ in range(10_000):
                await ws.send("x")
        except WebSocketDisconnect as exc:
            outcome.append(exc.code)
        outcome.extend([m async for m in ws])

    async def send(message: Any) -> None:
        pass  # like Hypercorn after a close: no checkpoint

    to_app.send_nowait({"type": "websocket.connect"})
    for text in "abcd":  # as many as the queue holds (4): the disconnect is still seen
        to_app.send_nowait({"type": "websocket.receive", "text": text})
    to_app.send_nowait({"type": "websocket.disconnect", "code": 1001})
    scope = {"type": "websocket", "path": "/chatty", "headers": [], "query_string": b""}
    with trio.fail_after(5):
        await _app(chatty)(scope, inbox.receive, send)
    assert outcome == [1001, "a", "b", "c", "d"]


async def test_a_reader_started_while_receive_waits_keeps_the_order() -> None:
    received: list[Any] = []
    watched = trio.Event()

    async def watch(ws: WebSocket) -> None:
        try:
            with ws.cancel_on_disconnect():  # starts the reader while the handler receives
                received.append(f"readers {_readers()}")
                await trio.sleep_forever()
        except WebSocketDisconnect as exc:
            received.append(f"watcher saw {exc.code}")
        watched.set()

    async def handler(ws: WebSocket, app_nursery: AppNursery) -> None:
        await ws.connect()
        async for message in ws:
            if message == "watch":
                app_nursery.start_soon(watch, ws)
            else:
                received.append(message)
            await ws.send("ok")
        received.append(f"handler saw {ws.close_code}")

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            await session.send_text("watch")
            assert await session.receive_text() == "ok"
            await trio.testing.wait_all_tasks_blocked()  # both wait on the client
            for i in range(5):
                await session.send_text(str(i))
            for _ in range(5):
                assert await session.receive_text() == "ok"
            await session.close(4005)
        with trio.fail_after(2):
            await watched.wait()
    assert received[0] == "readers 1"
    assert received[1:6] == ["0", "1", "2", "3", "4"]
    assert sorted(received[6:]) == ["handler saw 4005", "watcher saw 4005"]


async def test_accepting_a_subprotocol_never_offered_refuses_500_before_anything_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.accept(subprotocol="graphql-ws")

    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        async with TestClient(_app(handler), raise_server_exceptions=False) as client:
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect("/handler", subprotocols=["other"]):
                    pass
    assert denied.value.status_code == 500
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [str(e) for e in errors] == [
        "Cannot accept subprotocol 'graphql-ws': the client offered ['other']"
    ]


async def test_http_exceptions_refuse_the_handshake_with_their_status_and_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Auth:
        def on_request(self, token: http.Header = None) -> None:  # type: ignore[assignment]
            if token != "secret":
                raise Forbidden("Bad credentials")

    async def room(ws: WebSocket, room: int) -> None:
        await ws.connect()
        await ws.send(f"room {room}")

    app = ASyncApp(routes=[Route("/room", "GET", room)], event_hooks=[Auth])
    with caplog.at_level(logging.INFO, logger="trio_apistar"):
        async with TestClient(app) as client:
            for headers, params, expected in [
                ({}, {"room": "1"}, 403),
                ({"token": "secret"}, {}, 400),
                ({"token": "secret"}, {"room": "x"}, 400),
            ]:
                with pytest.raises(WebSocketDenied) as denied:
                    async with client.websocket_connect("/room", headers=headers, params=params):
                        pass
                assert denied.value.status_code == expected
                assert "detail" in denied.value.response.json()
            async with client.websocket_connect("/room?room=7", headers={"token": "secret"}) as ws:
                assert await ws.receive_text() == "room 7"
    assert denied.value.response.json()["detail"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_an_http_exception_after_accept_closes_1008_with_the_detail() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        if await ws.receive_text() != "please":
            raise BadRequest("Say please")

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            await session.send_text("now")
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert (closed.value.code, closed.value.reason) == (1008, "Say please")


async def test_hooks_asking_for_the_request_run_on_websockets_too() -> None:
    """An auth hook written for HTTP must guard WebSockets as well, never be skipped."""
    seen: list[str] = []

    class RequestAuth:
        def on_request(self, request: http.Request) -> None:
            seen.append(f"{request.method} {request.url.path} {request.body!r}")
            if request.headers.get("authorization") != "Bearer ok":
                raise Forbidden("Who are you?")

    async def handler(ws: WebSocket, request: http.Request) -> None:
        await ws.connect()
        await ws.send(request.headers["authorization"])

    def page() -> dict[str, str]:
        return {"page": "yes"}

    app = ASyncApp(
        routes=[Route("/ws", "GET", handler), Route("/page", "GET", page)],
        event_hooks=[RequestAuth],
    )
    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/ws"):
                pass
        assert (denied.value.status_code, denied.value.response.json()) == (
            403,
            {"detail": "Who are you?"},
        )
        async with client.websocket_connect("/ws", headers={"authorization": "Bearer ok"}) as ws:
            assert await ws.receive_text() == "Bearer ok"
        assert (await client.get("/page")).status_code == 403
    assert seen == ["GET /ws b''", "GET /ws b''", "GET /page b''"]


def test_a_hook_that_could_never_run_is_a_configuration_error() -> None:
    class Confused:
        def on_response(self, ws: WebSocket, response: http.Response) -> None:
            pass  # pragma: no cover

    class Unknown:
        def on_request(self, thing: "NoSuchThing") -> None:  # type: ignore[name-defined]  # noqa: F821
            pass  # pragma: no cover

    async def handler(ws: WebSocket) -> None:
        pass  # pragma: no cover

    with pytest.raises(ConfigurationError, match=r"Confused.on_response .* never run"):
        _app(handler, event_hooks=[Confused])
    with pytest.raises(ConfigurationError, match=r"Unknown\.on_request"):
        _app(handler, event_hooks=[Unknown])


async def test_close_codes_an_endpoint_may_not_send_are_refused() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        for code in (999, 1004, 1005, 1006, 1015, 2000, 5000):
            with pytest.raises(ValueError, match=f"{code} is not a close code"):
                await ws.close(code)
        await ws.close(4000, "é" * 100)  # the reason is cut to fit a close frame

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            with pytest.raises(WebSocketClosed) as closed:
                await session.receive()
    assert closed.value.code == 4000
    assert len(closed.value.reason.encode()) <= 123
    with pytest.raises(ValueError, match="4xx"):
        WebSocketProtocolError("no", status_code=200)


async def test_waiting_for_the_client_after_our_own_close_returns() -> None:
    seen: list[object] = []

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        await ws.close(4000)
        with trio.fail_after(2):
            seen.append(await ws.wait_disconnected())
        with ws.cancel_on_disconnect():
            await trio.sleep_forever()  # cancelled at once: the client has answered

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            with pytest.raises(WebSocketClosed):
                await session.receive()
    assert seen == [4000]


async def test_a_send_racing_a_close_fails_as_not_connected() -> None:
    release = trio.Event()
    sent: list[str] = []

    async def send(message: Any) -> None:
        if message["type"] == "websocket.close":
            await release.wait()  # the close frame takes a while to go out
            to_app.send_nowait({"type": "websocket.disconnect", "code": message["code"]})
        sent.append(message["type"])
        await trio.lowlevel.checkpoint()

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.close, 4000)
            await trio.testing.wait_all_tasks_blocked()
            for attempt in (ws.send("late"), ws.close(4001)):
                try:
                    await attempt
                except WebSocketNotConnected as exc:
                    sent.append(f"refused: {exc}")
                else:
                    sent.append("second close: nothing to do")
            release.set()

    to_app, inbox = trio.open_memory_channel[dict[str, Any]](1)
    to_app.send_nowait({"type": "websocket.connect"})
    scope = {"type": "websocket", "path": "/handler", "headers": [], "query_string": b""}
    with trio.fail_after(2):
        await _app(handler)(scope, inbox.receive, send)
    assert sent == [
        "websocket.accept",
        "refused: Cannot send: the WebSocket is CLOSING (close() is sending its frame)",
        "second close: nothing to do",
        "websocket.close",
    ]


async def test_the_reader_is_not_counted_as_waiting_in_receive() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        with ws.cancel_on_disconnect():
            await trio.testing.wait_all_tasks_blocked()
            before = ws.statistics().tasks_waiting_receive
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ws.receive)
                await trio.testing.wait_all_tasks_blocked()
                during = ws.statistics().tasks_waiting_receive
                nursery.cancel_scope.cancel()
            await ws.send(f"{before} {during}")

    async with TestClient(_app(handler)) as client:
        async with client.websocket_connect("/handler") as session:
            assert await session.receive_text() == "0 1"


def test_protocol_errors_take_only_close_codes_an_endpoint_may_send() -> None:
    for code in (1005, 1006, 2000, 5000):
        with pytest.raises(ValueError, match="close code"):
            WebSocketProtocolError("no", close_code=code)
    assert WebSocketProtocolError("no", close_code=4001).close_code == 4001


async def _with_a_stuck_close(handler: Any, *client_messages: dict[str, Any]) -> None:
    """Run ``handler`` with a server whose close frame never goes out; the client's messages
    arrive while the handler's close() waits."""
    to_app, inbox = trio.open_memory_channel[dict[str, Any]](10)
    to_app.send_nowait({"type": "websocket.connect"})

    closes: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        if message["type"] == "websocket.close":
            closes.append(message)
            if len(closes) == 1:  # the handler's own close() is stuck; the final one is not
                for client_message in client_messages:
                    to_app.send_nowait(client_message)
                await trio.sleep_forever()
            to_app.send_nowait({"type": "websocket.disconnect", "code": message["code"]})
        await trio.lowlevel.checkpoint()

    scope = {"type": "websocket", "path": "/handler", "headers": [], "query_string": b""}
    with trio.fail_after(5):
        await _app(handler)(scope, inbox.receive, send)


async def test_a_cancelled_close_leaves_the_socket_as_the_client_left_it() -> None:
    seen: list[object] = []

    async def handler(ws: WebSocket) -> None:
        await ws.connect()
        with contextlib.suppress(WebSocketDisconnect), ws.cancel_on_disconnect():
            with trio.move_on_after(0.5):
                await ws.close(4000)
        seen.append((ws.state.value, ws.close_code))
        with pytest.raises(WebSocketDisconnect):
            await ws.send("too late")

    await _with_a_stuck_close(handler, {"type": "websocket.disconnect", "code": 1000})
    assert seen == [("disconnected", 1000)]


async def test_a_cancelled_close_loses_no_message() -> None:
    seen: list[object] = []

    async def handler(ws: WebSocket, nursery: trio.Nursery) -> None:
        await ws.connect()
        with trio.move_on_after(0.5):
            await ws.close(4000)
        seen.append(ws.state.value)
        seen.append(await ws.receive())

    await _with_a_stuck_close(handler, {"type": "websocket.receive", "text": "hello"})
    assert seen == ["connected", "hello"]


async def test_shutdown_tells_a_handler_whose_close_is_stuck(
    autojump_clock: trio.testing.MockClock,
) -> None:
    told: list[int] = []
    done = trio.Event()

    async def handler(ws: WebSocket, nursery: trio.Nursery) -> None:
        await ws.connect()
        nursery.start_soon(ws.close, 4000)  # a client that never reads: it stays pending
        try:
            with ws.cancel_on_disconnect():
                await trio.sleep_forever()
        except WebSocketDisconnect as exc:
            told.append(exc.code)
            done.set()

    app = _app(handler)
    to_app, inbox = trio.open_memory_channel[dict[str, Any]](10)
    to_app.send_nowait({"type": "websocket.connect"})

    async def send(message: Any) -> None:
        if message["type"] == "websocket.close":
            await trio.sleep_forever()
        await trio.lowlevel.checkpoint()

    scope = {"type": "websocket", "path": "/handler", "headers": [], "query_string": b""}
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(app, scope, inbox.receive, send)
            await trio.testing.wait_all_tasks_blocked()
            await app.close_websockets()
            await done.wait()
            nursery.cancel_scope.cancel()
    assert told == [1001]
