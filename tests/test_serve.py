"""trio_apistar.serve: Hypercorn's trio worker in-process, with the task-status protocol."""

from functools import partial

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from trio_apistar import ASyncApp, Route, WebSocket
from trio_apistar.exceptions import WebSocketDisconnect
from trio_apistar.serve import make_config, serve

pytestmark = pytest.mark.network


async def test_serve_reports_its_url_and_closes_websockets_1001_on_shutdown() -> None:
    seen: list[int] = []

    async def wait(ws: WebSocket) -> None:
        await ws.connect()
        try:
            await ws.receive()
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    def hello() -> dict[str, str]:
        return {"hello": "world"}

    app = ASyncApp(routes=[Route("/ws", "GET", wait), Route("/", "GET", hello)])
    stop = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(serve, app, "127.0.0.1", 0, shutdown_trigger=stop.wait)
            )
            (url,) = urls
            assert url.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/")).json() == {"hello": "world"}
            async with open_websocket_url(url.replace("http", "ws") + "/ws") as ws:
                stop.set()
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
    assert closed.value.reason.code == 1001
    assert seen == [1001]


def test_unknown_hypercorn_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="no config option 'gracefull_timeout'"):
        make_config(gracefull_timeout=3)
    config = make_config("::1", 9000, graceful_timeout=2)
    assert (config.bind, config.graceful_timeout) == (["[::1]:9000"], 2)
