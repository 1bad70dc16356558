"""In-process cost: each ASGI app called directly under Trio with synthetic messages, no server.

``python -m benchmarks.inprocess --system NAME`` prints one JSON object with µs per HTTP request,
per WebSocket message and per WebSocket handshake (open and close). The driver mimics
Hypercorn's side of ASGI: a fresh scope per request, ``receive`` backed by a small memory
channel (for HTTP, a function that waits after the body, as a keep-alive client does), lifespan
started first and shut down last. Times are the process's CPU time, not wall time, so other
work on the core does not count.
"""

import argparse
import importlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from .apps import APP_PATHS, HTTP_ONLY

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

PAYLOAD = "x" * 64
EXPECTED_JSON = {"hello": "world"}
_ASGI = {"version": "3.0", "spec_version": "2.3"}
#: Bound on any single wait for the app (startup, accept, shutdown, finishing after a disconnect).
STEP_TIMEOUT = 10.0


def load_app(system: str) -> ASGIApp:
    """Import and return the ASGI app of ``system`` (a key of ``APP_PATHS``)."""
    module, _, attribute = APP_PATHS[system].partition(":")
    app: ASGIApp = getattr(importlib.import_module(module), attribute)
    return app


def http_scope(state: dict[str, Any]) -> dict[str, Any]:
    """Return a new scope for ``GET /json``, shaped like Hypercorn's."""
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/json",
        "raw_path": b"/json",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": dict(state),
        "extensions": {},
    }


def websocket_scope(state: dict[str, Any]) -> dict[str, Any]:
    """Return a new scope for the ``/ws`` upgrade, shaped like Hypercorn's."""
    return {
        "type": "websocket",
        "asgi": _ASGI,
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "state": dict(state),
        "extensions": {"websocket.http.response": {}},
    }


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    """Run ``app``'s lifespan startup, yield its state dict, then run its shutdown.

    An app that does not speak lifespan (raises at once) is used without it, as servers do.
    Raises ``RuntimeError`` if startup or shutdown fails.
    """
    state: dict[str, Any] = {}
    to_app, app_inbox = trio.open_memory_channel[Message](1)
    app_outbox, from_app = trio.open_memory_channel[Message](math.inf)
    scope = {"type": "lifespan", "asgi": _ASGI, "state": state}
    async with trio.open_nursery() as nursery:
        unsupported = trio.Event()

        async def run() -> None:
            try:
                await app(scope, app_inbox.receive, app_outbox.send)
            except Exception:
                unsupported.set()
                app_outbox.send_nowait({"type": "lifespan.unsupported"})

        nursery.start_soon(run)
        with trio.fail_after(STEP_TIMEOUT):
            await to_app.send({"type": "lifespan.startup"})
            reply = await from_app.receive()
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"lifespan startup failed: {reply.get('message')}")
        try:
            yield state
        finally:
            if not unsupported.is_set():
                with trio.fail_after(STEP_TIMEOUT):
                    await to_app.send({"type": "lifespan.shutdown"})
                    reply = await from_app.receive()
                if reply["type"] != "lifespan.shutdown.complete":
                    raise RuntimeError(f"lifespan shutdown failed: {reply}")


async def http_exchange(app: ASGIApp, scope: dict[str, Any], body: bytes = b"") -> list[Message]:
    """Send one request (``scope`` and ``body``) through ``app`` and return what it sent back."""
    sent: list[Message] = []
    received = False
    disconnected = trio.Event()  # never set: the client stays until the response is done

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def one_http_request(app: ASGIApp, state: dict[str, Any]) -> list[Message]:
    """Send ``GET /json`` through ``app`` and return what it sent back."""
    return await http_exchange(app, http_scope(state))


def check_http(sent: list[Message]) -> None:
    """Raise ``RuntimeError`` unless ``sent`` is a 200 response with the expected JSON body."""
    status = sent[0].get("status") if sent else None
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if status != 200 or json.loads(body) != EXPECTED_JSON:
        raise RuntimeError(f"unexpected response: {sent!r}")


def check_echo(reply: Message) -> None:
    """Raise ``RuntimeError`` unless ``reply`` echoes ``PAYLOAD``."""
    if reply.get("text") != PAYLOAD:
        raise RuntimeError(f"unexpected echo: {reply!r}")


async def http_cost(
    app: ASGIApp,
    state: dict[str, Any],
    n: int,
    batches: int = 1,
    *,
    request: Callable[[ASGIApp, dict[str, Any]], Awaitable[list[Message]]] = one_http_request,
    check: Callable[[list[Message]], None] = check_http,
) -> float:
    """Return µs per ``request`` (by default ``GET /json``): ``batches`` runs of ``n`` sequential
    requests, the fastest.

    Timed in process CPU time; the fastest batch is the one least disturbed by the rest of the
    machine (timeit's rule). ``check`` sees the first response and the last of every batch.
    Raises ``RuntimeError`` (from ``check``) if a response is not the expected one.
    """
    check(await request(app, state))
    best = math.inf
    for _ in range(batches):
        start = time.process_time()
        for _ in range(n):
            sent = await request(app, state)
        best = min(best, time.process_time() - start)
        check(sent)
    return best / n * 1e6


async def websocket_cost(
    app: ASGIApp,
    state: dict[str, Any],
    n: int,
    batches: int = 1,
    *,
    text: str = PAYLOAD,
    check: Callable[[Message], None] = check_echo,
) -> float:
    """Return µs per message answered: ``batches`` runs of ``n`` ping-pongs of ``text`` (by
    default ``PAYLOAD``, echoed), the fastest; ``check`` sees the last reply of every batch.

    Raises ``RuntimeError`` if the app does not accept, answers wrongly (from ``check``), or does
    not finish within ``STEP_TIMEOUT`` seconds of the client's disconnect.
    """
    # Hypercorn feeds the app through a channel of this size (its max_app_queue_size default).
    to_app, app_inbox = trio.open_memory_channel[Message](10)
    app_outbox, from_app = trio.open_memory_channel[Message](math.inf)
    finished = trio.Event()

    async def run() -> None:
        try:
            await app(websocket_scope(state), app_inbox.receive, app_outbox.send)
        finally:
            finished.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        with trio.fail_after(STEP_TIMEOUT):
            await to_app.send({"type": "websocket.connect"})
            accept = await from_app.receive()
        if accept["type"] != "websocket.accept":
            raise RuntimeError(f"expected websocket.accept, got {accept!r}")
        message = {"type": "websocket.receive", "text": text}
        best = math.inf
        for _ in range(batches):
            with trio.fail_after(STEP_TIMEOUT + n * 0.01):
                start = time.process_time()
                for _ in range(n):
                    await to_app.send(message)
                    reply = await from_app.receive()
                best = min(best, time.process_time() - start)
            check(reply)
        await to_app.send({"type": "websocket.disconnect", "code": 1000})
        with trio.move_on_after(STEP_TIMEOUT) as waited:
            await finished.wait()
        if waited.cancelled_caught:
            nursery.cancel_scope.cancel()
            raise RuntimeError(f"app still running {STEP_TIMEOUT} s after the client left")
    return best / n * 1e6


async def one_handshake(app: ASGIApp, state: dict[str, Any]) -> list[Message]:
    """Open a WebSocket to ``/ws`` and close it from the client side; return what the app sent.

    The client's close is queued right behind the connect, as on a fast loopback: the app
    accepts, sees the client leave and returns.
    """
    to_app, app_inbox = trio.open_memory_channel[Message](10)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    to_app.send_nowait({"type": "websocket.connect"})
    to_app.send_nowait({"type": "websocket.disconnect", "code": 1000})
    await app(websocket_scope(state), app_inbox.receive, send)
    return sent


async def handshake_cost(app: ASGIApp, state: dict[str, Any], n: int, batches: int = 1) -> float:
    """Return µs per WebSocket opened and closed: ``batches`` runs of ``n``, the fastest.

    Raises ``RuntimeError`` if the app does not accept.
    """
    best = math.inf
    for _ in range(batches):
        with trio.fail_after(STEP_TIMEOUT + n * 0.01):
            start = time.process_time()
            for _ in range(n):
                sent = await one_handshake(app, state)
            best = min(best, time.process_time() - start)
        if not sent or sent[0]["type"] != "websocket.accept":
            raise RuntimeError(f"expected websocket.accept, got {sent!r}")
    return best / n * 1e6


async def measure(system: str, http_n: int, ws_n: int, batches: int = 5) -> dict[str, Any]:
    """Return the in-process cost of ``system``: µs per HTTP request, per WS message and per WS
    handshake (open and close; ``http_n`` of them per batch).

    Each figure is the fastest of ``batches`` batches of ``http_n`` requests / ``ws_n`` messages.
    Systems in ``HTTP_ONLY`` are measured on HTTP only.
    """
    app = load_app(system)
    websockets = system not in HTTP_ONLY
    result: dict[str, Any] = {"system": system, "http_n": http_n, "batches": batches}
    async with lifespan(app) as state:
        # Warm up every code path (imports, caches, lazily built structures) before timing.
        await http_cost(app, state, max(1, http_n // 10))
        if websockets:
            await websocket_cost(app, state, max(1, ws_n // 10))
            await handshake_cost(app, state, max(1, http_n // 10))
        result["inproc_http_us_per_req"] = await http_cost(app, state, http_n, batches)
        if websockets:
            result["inproc_ws_us_per_msg"] = await websocket_cost(app, state, ws_n, batches)
            result["inproc_ws_us_per_handshake"] = await handshake_cost(app, state, http_n, batches)
            result["ws_n"] = ws_n
    return result


def main() -> None:
    """Parse the command line, measure one system and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", required=True, choices=sorted(APP_PATHS))
    parser.add_argument("--http-n", type=int, default=1000, help="requests per batch")
    parser.add_argument("--ws-n", type=int, default=4000, help="messages per batch")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    async def bounded() -> dict[str, Any]:
        with trio.fail_after(args.timeout):
            return await measure(args.system, args.http_n, args.ws_n, args.batches)

    print(json.dumps(trio.run(bounded)))


if __name__ == "__main__":
    main()
