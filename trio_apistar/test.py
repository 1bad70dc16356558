"""Test any ASGI 3 app in-process under Trio, and serve it under a real Hypercorn for network tests.

``TestClient`` is an ``httpx.AsyncClient`` whose requests go straight to the app (no sockets).
Used as ``async with``, it also runs the app's lifespan; ``websocket_connect()`` opens a WebSocket
session over Trio memory channels with the app running in a nursery task::

    async with TestClient(app) as client:           # lifespan startup ... shutdown
        response = await client.get("/items/1")
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "hi"

``run_hypercorn()`` serves an app, given by import path, from a ``hypercorn --worker-class trio``
subprocess on 127.0.0.1, for tests that need a real socket (browsers, other clients).

Exceptions raised here, besides the app's own (re-raised, see ``TestClient``)::

    TestClientError
    ├── LifespanFailed      the app sent lifespan.startup.failed or lifespan.shutdown.failed
    ├── WebSocketDenied     the app refused the handshake; carries the HTTP status, headers, body
    ├── WebSocketClosed     the app closed the socket; carries the close code and reason
    └── ServerStartError    run_hypercorn(): the server exited or did not listen in time
    TimeoutError            the app sent nothing, or did not finish, within the client's timeout
"""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType, TracebackType
from typing import Any

import httpx
import trio

from ._types import ASGIApp, Message, Receive, Scope, Send
from .app import RAISE_EXTENSION

__all__ = [
    "RAISE_EXTENSION",
    "LifespanFailed",
    "LiveServer",
    "ServerStartError",
    "TestClient",
    "TestClientError",
    "WebSocketClosed",
    "WebSocketDenied",
    "WebSocketSession",
    "run_hypercorn",
]


class TestClientError(Exception):
    """Base class of the exceptions the test helpers raise about the app's behaviour."""

    __test__ = False


class LifespanFailed(TestClientError):
    """The app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``.

    Raised by ``TestClient.__aenter__`` (startup) or ``__aexit__`` (shutdown); ``message`` is the
    app's message.
    """

    def __init__(self, phase: str, message: str) -> None:
        self.phase = phase
        self.message = message
        super().__init__(f"lifespan {phase} failed: {message}")


class WebSocketDenied(TestClientError):
    """The app refused the WebSocket handshake with an HTTP response.

    A ``websocket.close`` before ``websocket.accept`` is a 403 with an empty body; the denial
    response extension gives any status, headers and body. ``response`` is that response as an
    ``httpx.Response`` (``.json()``, ``.text``).
    """

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.content = response.content
        super().__init__(f"WebSocket handshake denied with HTTP {response.status_code}")


class WebSocketClosed(TestClientError):
    """The app closed the WebSocket (``websocket.close``) with ``code`` and ``reason``.

    Raised by the session's ``receive*()`` once the close is the next message, and by its
    ``send*()`` after the app closed.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(code, reason)

    def __repr__(self) -> str:
        return f"WebSocketClosed(code={self.code}, reason={self.reason!r})"


class ServerStartError(TestClientError):
    """``run_hypercorn()`` could not get the server listening; the message ends with its log."""


def _unwrap(error: Exception) -> Exception:
    """The one exception inside nested single-member ``ExceptionGroup``s, else ``error`` itself."""
    while isinstance(error, ExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _timeout_of(value: float | None) -> float:
    return math.inf if value is None else value


class _Transport(httpx.ASGITransport):
    """httpx's ASGI transport, bounded by the request's read timeout, unwrapping app errors."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = _timeout_of(request.extensions.get("timeout", {}).get("read", math.inf))
        with trio.move_on_after(timeout) as scope:
            try:
                return await super().handle_async_request(request)
            except ExceptionGroup as group:
                error = _unwrap(group)
                if error is group:
                    raise
        if scope.cancelled_caught:
            raise TimeoutError(
                f"{request.method} {request.url.path}: no complete response within {timeout}s"
            )
        raise error


class TestClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that calls an ASGI 3 app in-process, for Trio tests.

    Every ``httpx.AsyncClient`` method works (``get``, ``post(json=...)``, ``request``, cookies,
    ``base_url``). As ``async with TestClient(app) as client:`` it runs the app's lifespan:
    startup on enter (``LifespanFailed`` if the app reports a failure; an app that does not
    support lifespan is tolerated) and shutdown on exit. ``websocket_connect()`` opens a
    WebSocket session.

    With ``raise_server_exceptions`` (the default) an exception the app raises is raised by the
    call that made it (the request, a WebSocket receive, or the session's exit), unwrapped from a
    single-member ``ExceptionGroup``; the scope's extensions carry ``RAISE_EXTENSION`` so
    that a framework which renders errors as 500 / close 1011 re-raises them too. Without it, the
    test sees the 500 or the close code.

    ``timeout`` (seconds, ``None`` for none) bounds each request, each WebSocket receive, the
    lifespan phases and the wait for the app when a session ends; going over raises
    ``TimeoutError`` so that a broken app fails the test instead of hanging it.
    """

    __test__ = False

    def __init__(
        self,
        app: ASGIApp,
        *,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        timeout: float | None = 5.0,
        headers: Mapping[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.lifespan_state: dict[str, Any] = {}
        self._extensions: dict[str, Any] = {RAISE_EXTENSION: {}} if raise_server_exceptions else {}
        self._lifespan: _Lifespan | None = None
        super().__init__(
            transport=_Transport(self._call_app, raise_app_exceptions=raise_server_exceptions),
            base_url=base_url,
            timeout=timeout,
            headers=headers,
            cookies=cookies,
            follow_redirects=follow_redirects,
        )

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the app with the lifespan state and the test extensions added to ``scope``."""
        scope = dict(scope)
        scope["extensions"] = {**(scope.get("extensions") or {}), **self._extensions}
        scope["state"] = dict(self.lifespan_state)
        await self.app(scope, receive, send)

    async def __aenter__(self) -> TestClient:
        """Open the client and run the app's lifespan startup; raises ``LifespanFailed``."""
        await super().__aenter__()
        self._lifespan = _Lifespan(self.app, self.lifespan_state, _timeout_of(self.timeout.read))
        try:
            await self._lifespan.__aenter__()
        except BaseException:
            self._lifespan = None
            await super().__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """Run the lifespan shutdown and close the client; raises ``LifespanFailed``."""
        lifespan, self._lifespan = self._lifespan, None
        try:
            if lifespan is not None:
                await lifespan.__aexit__(exc_type, exc, tb)
        finally:
            await super().__aexit__(exc_type, exc, tb)

    def websocket_connect(
        self,
        url: str,
        *,
        subprotocols: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | EllipsisType | None = ...,
    ) -> WebSocketSession:
        """A WebSocket session to ``url``, to use as ``async with``; the handshake runs on enter.

        Entering raises ``WebSocketDenied`` if the app refuses the handshake and ``TimeoutError``
        if it neither accepts nor refuses in time. ``timeout`` defaults to the client's.
        """
        request = self.build_request("GET", url, params=params, headers=headers)
        ws_timeout = self.timeout.read if isinstance(timeout, EllipsisType) else timeout
        return WebSocketSession(
            self._call_app,
            _websocket_scope(request, subprotocols),
            timeout=_timeout_of(ws_timeout),
            raise_server_exceptions=self.raise_server_exceptions,
        )


def _websocket_scope(request: httpx.Request, subprotocols: Sequence[str]) -> Scope:
    """The ASGI ``websocket`` scope for an upgrade ``request`` (built by httpx, so base URL,
    default headers, cookies and params are merged the same way as for HTTP)."""
    key = base64.b64encode(os.urandom(16))
    skip = {b"connection", b"upgrade", b"accept-encoding", b"keep-alive"}
    headers = [(k.lower(), v) for k, v in request.headers.raw if k.lower() not in skip]
    headers += [
        (b"connection", b"upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-key", key),
    ]
    if subprotocols:
        headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    url = request.url
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "wss" if url.scheme == "https" else "ws",
        "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        "client": ("127.0.0.1", 123),
        "root_path": "",
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "headers": headers,
        "subprotocols": list(subprotocols),
        "extensions": {"websocket.http.response": {}},
    }


class _Lifespan:
    """Runs an app's ``lifespan`` scope in a nursery task between enter and exit.

    An app that raises or returns before asking for ``lifespan.startup`` does not support the
    lifespan protocol and is tolerated (as servers do); once it asked, its errors are raised.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any], timeout: float) -> None:
        self._app = app
        self._state = state
        self._timeout = timeout
        self._to_app, self._app_inbox = trio.open_memory_channel[Message](2)
        self._app_outbox, self._from_app = trio.open_memory_channel[Message](math.inf)
        self._asked = False
        self._supported = False
        self._error: Exception | None = None
        self._nursery_manager = trio.open_nursery()
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> None:
        self._nursery = await self._nursery_manager.__aenter__()
        self._nursery.start_soon(self._run)
        self._to_app.send_nowait({"type": "lifespan.startup"})
        try:
            self._supported = await self._wait("startup")
        except BaseException:
            await self._close()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._supported:
                self._to_app.send_nowait({"type": "lifespan.shutdown"})
                with trio.CancelScope(shield=True):
                    await self._wait("shutdown")
        finally:
            await self._close()

    async def _close(self) -> None:
        # The app may stay in receive() after answering shutdown: that is allowed.
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        await self._nursery_manager.__aexit__(None, None, None)

    async def _run(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self._state,
        }
        async with self._app_outbox:
            try:
                await self._app(scope, self._receive, self._app_outbox.send)
            except Exception as error:
                self._error = _unwrap(error)

    async def _receive(self) -> Message:
        self._asked = True
        return await self._app_inbox.receive()

    async def _wait(self, phase: str) -> bool:
        """Wait for the app's answer to ``phase``; False if the app does not do lifespan.

        Raises ``LifespanFailed``, the app's own exception, or ``TimeoutError``.
        """
        with trio.move_on_after(self._timeout):
            try:
                message: Message | None = await self._from_app.receive()
            except trio.EndOfChannel:
                message = None
            if message is None:
                if self._error is not None and self._asked:
                    raise self._error
                return False
            if message["type"] == f"lifespan.{phase}.complete":
                return True
            if message["type"] == f"lifespan.{phase}.failed":
                raise LifespanFailed(phase, message.get("message", ""))
            raise RuntimeError(f"unexpected {message['type']!r} during lifespan {phase}")
        raise TimeoutError(f"the app did not answer lifespan {phase} within {self._timeout}s")


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

    The app side follows Hypercorn: messages the app sends after a close are dropped; an app that
    returns before accepting is a 500 and after accepting without closing a 1011.
    """

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
        text = json.dumps(data, separators=(",", ":"))
        await (self.send_bytes(text.encode()) if binary else self.send_text(text))

    async def receive(self) -> Message:
        """The next ``websocket.send`` message from the app, as the raw ASGI dict.

        Raises ``WebSocketClosed`` when the app closed, the app's exception, ``TimeoutError``,
        and ``trio.ClosedResourceError`` after ``close()``.
        """
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
                with trio.move_on_after(self.timeout):
                    await self._app_done.wait()
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
                await self._app(self._scope, self._receive_for_app, self._send_from_app)
            except Exception as error:
                self._app_error = _unwrap(error)
            finally:
                self._app_done.set()
                self._disconnect(1000, "")

    async def _receive_for_app(self) -> Message:
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
        message = await self._next()
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


@dataclass(frozen=True)
class LiveServer:
    """A server started by ``run_hypercorn()``: its address, process and log file."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """The base HTTP URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The base WebSocket URL, e.g. ``ws://127.0.0.1:8123``."""
        return f"ws://{self.host}:{self.port}"

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (Hypercorn then shuts down gracefully), else SIGKILL the whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # its worker process too
    except ProcessLookupError:
        pass
    process.wait()


@contextmanager
def run_hypercorn(
    app_path: str,
    *args: str,
    host: str = "127.0.0.1",
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 20.0,
) -> Iterator[LiveServer]:
    """Serve ``app_path`` with ``hypercorn --worker-class trio`` in a subprocess on a free port.

    ``app_path`` is Hypercorn's ``"module:attr"`` or ``"path/to/file.py:attr"``, imported from
    ``cwd``; ``args`` are extra Hypercorn options and ``env`` extra environment variables. Yields
    a ``LiveServer`` once Hypercorn reports it is running (the app's lifespan startup is done
    and the port listens); raises ``ServerStartError`` (with the
    server's log) if the server exits first or is not listening within ``timeout`` seconds. On
    exit the server gets SIGTERM and ``timeout`` seconds to shut down gracefully (lifespan
    shutdown included), then SIGKILL. It blocks: use it from a synchronous (e.g. session-scoped)
    fixture.
    """
    full_env = {**os.environ, **(env or {})}
    fd, log_name = tempfile.mkstemp(prefix="hypercorn-", suffix=".log")
    log_path = Path(log_name)
    try:
        with os.fdopen(fd, "wb") as log:
            for _attempt in range(3):  # the free port may be taken before Hypercorn binds it
                port = _free_port(host)
                command = [sys.executable, "-m", "hypercorn", "--worker-class", "trio"]
                command += ["--bind", f"{host}:{port}", *args, app_path]
                process = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                server = LiveServer(host, port, process, log_path)
                # Printed once the lifespan startup is done and the socket listens.
                ready = f"Running on http://{host}:{port} "
                try:
                    deadline = time.monotonic() + timeout
                    while process.poll() is None and ready not in server.log():
                        if time.monotonic() > deadline:
                            raise ServerStartError(
                                f"{app_path} not listening on {host}:{port} within {timeout}s:"
                                f"\n{server.log()}"
                            )
                        time.sleep(0.05)
                    if process.poll() is None:
                        yield server
                        return
                finally:
                    _stop(process, timeout)
                if "Address already in use" not in server.log():
                    break
            raise ServerStartError(f"{app_path}: the server exited:\n{server.log()}")
    finally:
        log_path.unlink(missing_ok=True)
