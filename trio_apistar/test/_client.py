"""``TestClient``: in-process HTTP (httpx's ASGI transport), lifespan and WebSockets."""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping, Sequence
from types import EllipsisType, TracebackType
from typing import Any

import httpx
import trio

from .._types import ASGIApp, Message, Receive, Scope, Send
from ..context import RAISE_EXTENSION
from ._errors import LifespanFailed, _timeout_of, _unwrap
from ._websocket import WebSocketSession


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

    ``root_path`` plays a server that mounts the app under a prefix (``hypercorn --root-path``):
    it is the scope's ``root_path``, and request paths include it (``client.get("/app/items")``).
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
        root_path: str = "",
    ) -> None:
        self.app = app
        self.root_path = root_path
        self.raise_server_exceptions = raise_server_exceptions
        self.lifespan_state: dict[str, Any] = {}
        self._extensions: dict[str, Any] = {RAISE_EXTENSION: {}} if raise_server_exceptions else {}
        self._lifespan: _Lifespan | None = None
        super().__init__(
            transport=_Transport(
                self._call_app, raise_app_exceptions=raise_server_exceptions, root_path=root_path
            ),
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
        self._lifespan = _Lifespan(
            self.app, self.lifespan_state, _timeout_of(self.timeout.read), self._extensions
        )
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
        """Run the lifespan shutdown and close the client; raises ``LifespanFailed``.

        When the block itself raised, that exception wins: a shutdown failure is added to it
        as a note rather than hiding the test's own failure.
        """
        lifespan, self._lifespan = self._lifespan, None
        try:
            if lifespan is not None:
                await lifespan.__aexit__(exc_type, exc, tb)
        except Exception as shutdown_error:
            # pytest.fail() and pytest.skip() raise BaseExceptions: they count as the test's.
            if exc is None or isinstance(exc, trio.Cancelled | KeyboardInterrupt | SystemExit):
                raise
            exc.add_note(f"then the app's lifespan shutdown failed: {shutdown_error!r}")
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
        if self.is_closed:
            raise RuntimeError("this TestClient is closed: open WebSockets inside its 'async with'")
        request = self.build_request("GET", url, params=params, headers=headers)
        ws_timeout = self.timeout.read if isinstance(timeout, EllipsisType) else timeout
        return WebSocketSession(
            self._call_app,
            _websocket_scope(request, subprotocols, self.root_path),
            timeout=_timeout_of(ws_timeout),
            raise_server_exceptions=self.raise_server_exceptions,
        )


def _websocket_scope(
    request: httpx.Request, subprotocols: Sequence[str], root_path: str = ""
) -> Scope:
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
        "root_path": root_path,
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

    def __init__(
        self, app: ASGIApp, state: dict[str, Any], timeout: float, extensions: dict[str, Any]
    ) -> None:
        self._app = app
        self._state = state
        self._extensions = extensions
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
            "extensions": dict(self._extensions),
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
