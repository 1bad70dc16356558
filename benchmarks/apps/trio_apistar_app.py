"""The benchmark app written the way a trio_apistar user would write it."""

from trio_apistar import ASyncApp, Route, WebSocket


async def echo(ws: WebSocket) -> None:
    """Echo every message until the client leaves."""
    await ws.connect()
    async for message in ws:
        await ws.send(message)


def hello() -> dict[str, str]:
    """Return a small JSON document."""
    return {"hello": "world"}


app = ASyncApp(routes=[Route("/ws", "GET", echo), Route("/json", "GET", hello)])
