"""``WebSocketSession``: the client side of an in-process WebSocket."""

from __future__ import annotations

import json
import math
from types import TracebackType
from typing import Any

import httpx
import trio
import trio.testing

from .._json import dumps
from .._types import ASGIApp, Message, Scope
from ._errors import WebSocketClosed, WebSocketDenied, _unwrap


class WebSocketSession:
    """A WebSocket between the test and the app, over Trio memory channels.

    Made by ``TestClient.websocket_connect()``; use it as ``async with``. Entering starts the app
    in a nursery task and runs the handshake (``WebSocketDenied`` if refused); ``subprotocol``
    is then the one the app accepted. Exiting sends ``websocket.disconnect`` (code 1000) unless
    the socket is already closed, and waits up to ``timeout`` for the app to return (else
    ``TimeoutError``); an exception the app raised and that was not raised yet is raised there,
    taking precedence over the body's exception.

    Every ``receive*()`` waits at most ``timeout`` seconds (``TimeoutError``). When the app has
    closed the socket they raise ``WebSocketClosed`` (``close_code`` and ``close_reason`` are then
    set); when the app raised, they raise its exception (with ``raise_server_exceptions``).
    Sending after the test closed the session raises ``trio.ClosedResourceError``.

    The app side follows Hypercorn: ``receive`` is a trio memory channel's, messages the app sends
    after a close are dropped; an app that returns before accepting is a 500 and after accepting
    without closing a 1011.
    """

    #: Hand the app the channel's own ``receive`` (as Hypercorn's trio worker does), or a plain
    #: function around it (as a server or middleware of another kind would). The framework
    #: reads the first kind directly; the test suite runs its WebSocket tests both ways.
    _channel_receive = True

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        *,
        timeout: float = 5.0,
        raise_server_exceptions: bool = True,
    ) -> None:
        self.timeout = timeout
        self.subprotocol: str | None = None
        self.accept_headers: list[tuple[bytes, bytes]] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._app = app
        self._scope = scope
        self._raise_server_exceptions = raise_server_exceptions
        self._to_app, self._app_inbox = trio.open_memory_channel[Message](math.inf)
        self._app_outbox, self._from_app = trio.open_memory_channel[Message](math.inf)
        self._app_state = "connecting"  # -> connected | responding -> closed
        self._client_closed = False
        self._disconnect_message: Message | None = None
        self._app_close: tuple[int, str] | None = None
        self._app_error: Exception | None = None
        self._app_done = trio.Event()
        self._nursery_manager = trio.open_nursery()
        self._nursery: trio.Nursery | None = None

    # -- the test's side ------------------------------------------------------------------------

    async def __aenter__(self) -> WebSocketSession:
        self._nursery = await self._nursery_manager.__aenter__()
        self._nursery.start_soon(self._run_app)
        self._to_app.send_nowait({"type": "websocket.connect"})
        try:
            await self._handshake()
        except BaseException:
            await self._finish()
            error = self._take_app_error()
            if error is not None:
                raise error from None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        finished = await self._finish()
        error = self._take_app_error()
        if error is not None:
            raise error
        if not finished and exc is None:
            raise TimeoutError(f"the app did not return within {self.timeout}s of the disconnect")

    async def send(self, message: Message) -> None:
        """Send a raw ASGI ``websocket.receive`` message to the app.

        Raises ``WebSocketClosed`` (or the app's exception) if the app is gone, and
        ``trio.ClosedResourceError`` after ``close()``.
        """
        self._require_entered()
        if self._client_closed:
            raise trio.ClosedResourceError("this WebSocket session was closed by the test")
        if self._app_state == "closed" or self._app_done.is_set():
            self._raise_app_gone()
        self._to_app.send_nowait(message)
        await trio.lowlevel.checkpoint()

    async def send_text(self, data: str) -> None:
        """Send a text message; raises as ``send()``."""
        await self.send({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message; raises as ``send()``."""
        await self.send({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any, *, binary: bool = False) -> None:
        """Send ``data`` as JSON in a text (or, with ``binary``, a binary) message."""
        text = dumps(data)  # as the app encodes, and as browsers' JSON.stringify: compact UTF-8
        await (self.send_bytes(text.encode()) if binary else self.send_text(text))

    async def receive(self) -> Message:
        """The next ``websocket.send`` message from the app, as the raw ASGI dict.

        Raises ``WebSocketClosed`` when the app closed, the app's exception, ``TimeoutError``,
        and ``trio.ClosedResourceError`` after ``close()``.
        """
        self._require_entered()
        if self._client_closed:
            raise trio.ClosedResourceError("this WebSocket session was closed by the test")
        if self.close_code is not None:
            self._raise_app_gone()
        message = await self._next()
        if message["type"] == "websocket.close":
            self.close_code = int(message.get("code") or 1000)
            self.close_reason = message.get("reason") or ""
            if self._raise_server_exceptions:
                # An app that re-raises its error right after closing: report the error itself.
                # It does so before it next blocks, so there is no need to wait for an app that
                # lingers after its close (in a sleep, a cleanup) to return.
                await self._wait_app_done_or_blocked()
            self._raise_app_gone()
        return message

    async def receive_text(self) -> str:
        """The next message, which must be text (else ``TypeError``); raises as ``receive()``."""
        message = await self.receive()
        if message.get("text") is None:
            raise TypeError(f"expected a text message, got {message!r}")
        text: str = message["text"]
        return text

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary (else ``TypeError``); raises as ``receive()``."""
        message = await self.receive()
        if message.get("bytes") is None:
            raise TypeError(f"expected a binary message, got {message!r}")
        return bytes(message["bytes"])

    async def receive_json(self) -> Any:
        """The next message (text or binary) decoded as JSON; raises as ``receive()`` and
        ``json.JSONDecodeError``."""
        message = await self.receive()
        data = message.get("text")
        return json.loads(data if data is not None else message["bytes"])

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client side: the app receives ``websocket.disconnect`` with ``code``.

        Idempotent. The app is given until the session's exit to return.
        """
        if not self._client_closed:
            self._client_closed = True
            self._disconnect(code, reason)
        await trio.lowlevel.checkpoint()

    # -- the app's side -------------------------------------------------------------------------

    async def _run_app(self) -> None:
        async with self._app_outbox:
            try:
                receive = (
                    self._app_inbox.receive if self._channel_receive else self._receive_for_app
                )
                await self._app(self._scope, receive, self._send_from_app)
            except Exception as error:
                self._app_error = _unwrap(error)
            finally:
                self._app_done.set()
                self._disconnect(1000, "")

    async def _receive_for_app(self) -> Message:
        # After the disconnect every receive says so again (the channel's own receive raises
        # EndOfChannel instead).
        try:
            return await self._app_inbox.receive()
        except trio.EndOfChannel:
            assert self._disconnect_message is not None
            return dict(self._disconnect_message)

    async def _send_from_app(self, message: Message) -> None:
        await trio.lowlevel.checkpoint()
        kind, state = message["type"], self._app_state
        if self._client_closed or state == "closed":
            return  # as Hypercorn does: the app may finish sending after a close
        if state == "connecting" and kind == "websocket.accept":
            chosen = message.get("subprotocol")
            if chosen is not None and chosen not in self._scope.get("subprotocols", ()):
                # RFC 6455 4.1: the client must fail such a connection (and Hypercorn errors).
                raise RuntimeError(f"the app accepted subprotocol {chosen!r}, never offered")
            self._app_state = "connected"
        elif state == "connecting" and kind == "websocket.http.response.start":
            self._app_state = "responding"
        elif state == "responding" and kind == "websocket.http.response.body":
            if not message.get("more_body", False):
                self._app_state = "closed"
                self._disconnect(1000, "")
        elif kind == "websocket.close" and state in {"connecting", "connected"}:
            self._app_state = "closed"
            self._app_close = (int(message.get("code") or 1000), message.get("reason") or "")
            self._disconnect(*self._app_close)
        elif not (state == "connected" and kind == "websocket.send"):
            raise RuntimeError(f"the app sent {kind!r} while the WebSocket was {state}")
        elif (message.get("text") is None) == (message.get("bytes") is None):
            raise RuntimeError("websocket.send needs exactly one of 'text' and 'bytes'")
        self._app_outbox.send_nowait(dict(message))

    def _disconnect(self, code: int, reason: str) -> None:
        """Tell the app the client is gone; every later app receive() says so again."""
        if self._disconnect_message is None:
            self._disconnect_message = {
                "type": "websocket.disconnect",
                "code": code,
                "reason": reason,
            }
            self._to_app.send_nowait(self._disconnect_message)
            self._to_app.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _require_entered(self) -> None:
        if self._nursery is None:
            raise RuntimeError(
                "the app is not running: use 'async with client.websocket_connect(...) as ws:'"
            )

    async def _next(self) -> Message:
        """The next message from the app, within the timeout; raises once the app is gone."""
        with trio.move_on_after(self.timeout):
            try:
                return await self._from_app.receive()
            except trio.EndOfChannel:
                pass
            self._raise_app_gone()
        raise TimeoutError(f"the app sent nothing within {self.timeout}s")

    async def _handshake(self) -> None:
        try:
            message = await self._next()
        except TimeoutError:
            raise TimeoutError(
                f"the app neither accepted nor refused the WebSocket to "
                f"{self._scope.get('path')!r} within {self.timeout}s"
            ) from None
        if message["type"] == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            self.accept_headers = list(message.get("headers") or [])
            return
        if message["type"] == "websocket.close":
            raise WebSocketDenied(httpx.Response(403))
        body = b""
        while True:
            part = await self._next()
            body += part.get("body", b"")
            if not part.get("more_body", False):
                break
        raise WebSocketDenied(
            httpx.Response(message["status"], headers=message.get("headers") or [], content=body)
        )

    def _take_app_error(self) -> Exception | None:
        """The app's exception, once, if it is to be raised in the test."""
        error, self._app_error = self._app_error, None
        return error if self._raise_server_exceptions else None

    async def _wait_app_done_or_blocked(self) -> None:
        async def first(wait: Any, done: trio.CancelScope) -> None:
            await wait()
            done.cancel()

        with trio.move_on_after(self.timeout):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(first, self._app_done.wait, nursery.cancel_scope)
                nursery.start_soon(first, trio.testing.wait_all_tasks_blocked, nursery.cancel_scope)

    def _raise_app_gone(self) -> None:
        """Raise why the app no longer talks: its exception, its close, or Hypercorn's default."""
        error = self._take_app_error()
        if error is not None:
            raise error
        if self._app_state == "connecting":
            raise WebSocketDenied(httpx.Response(500))
        if self.close_code is None:
            self.close_code, self.close_reason = self._app_close or (1011, "")
        raise WebSocketClosed(self.close_code, self.close_reason or "")

    async def _finish(self) -> bool:
        """Disconnect, give the app ``timeout`` to return, then cancel it; True if it returned."""
        assert self._nursery is not None
        with trio.CancelScope(shield=True):
            self._disconnect(1000, "")
            with trio.move_on_after(self.timeout):
                await self._app_done.wait()
        returned = self._app_done.is_set()
        self._nursery.cancel_scope.cancel()
        await self._nursery_manager.__aexit__(None, None, None)
        self._from_app.close()
        return returned
