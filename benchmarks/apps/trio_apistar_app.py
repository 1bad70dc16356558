"""The benchmark app written the way a trio_apistar user would write it.

``app`` serves ``/json`` with an ``async def`` handler, as users write them; ``app_def`` is the
same app with a plain ``def`` handler there (system ``trio_apistar_def``, HTTP rows only).
``app_awaits`` and ``app_yields`` show what an ``async def`` handler that awaits costs: one
awaits a coroutine that returns at once, the other yields to Trio once (a checkpoint, as any
Trio call does): for ``benchmarks.icount`` and ``benchmarks.inprocess``, not the full run.
"""

import trio

from trio_apistar import ASyncApp, Route, WebSocket


async def echo(ws: WebSocket) -> None:
    """Echo every message until the client leaves."""
    await ws.connect()
    async for message in ws:
        await ws.send(message)


async def hello() -> dict[str, str]:
    """Return a small JSON document."""
    return {"hello": "world"}


def hello_def() -> dict[str, str]:
    """Return a small JSON document, from a plain function."""
    return {"hello": "world"}


async def _lookup() -> dict[str, str]:
    return {"hello": "world"}


async def hello_awaits() -> dict[str, str]:
    """Return a small JSON document, from a coroutine that returns at once."""
    return await _lookup()


async def hello_yields() -> dict[str, str]:
    """Return a small JSON document after yielding to Trio once."""
    await trio.lowlevel.checkpoint()
    return {"hello": "world"}


def _app(json_handler: object) -> ASyncApp:
    return ASyncApp(routes=[Route("/ws", "GET", echo), Route("/json", "GET", json_handler)])


app = _app(hello)
app_def = _app(hello_def)
app_awaits = _app(hello_awaits)
app_yields = _app(hello_yields)
