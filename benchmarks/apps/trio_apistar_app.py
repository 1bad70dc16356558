"""The benchmark app written the way a trio_apistar user would write it.

``app`` serves ``/json`` with an ``async def`` handler, as users write them; ``app_def`` is the
same app with a plain ``def`` handler there (system ``trio_apistar_def``, HTTP rows only).
"""

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


app = ASyncApp(routes=[Route("/ws", "GET", echo), Route("/json", "GET", hello)])
app_def = ASyncApp(routes=[Route("/ws", "GET", echo), Route("/json", "GET", hello_def)])
