"""The code in README.md and docs/websockets.md, docs/concurrency.md, docs/http.md,
docs/static-and-templates.md, docs/types.md, docs/broadcast.md and docs/deployment.md runs and
does what the text says (docs/testing.md is checked by tests/test_testclient.py)."""

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_apistar import ASyncApp, Route
from trio_apistar.test import TestClient, WebSocketClosed, WebSocketDenied

ROOT = Path(__file__).resolve().parent.parent


def _run_blocks(name: str) -> dict[str, Any]:
    """Execute every ```python block of a document, in order, in one namespace."""
    text = (ROOT / name).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, f"no python blocks in {name}"
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(name).stem}"}
    for block in blocks:
        exec(compile(block, name, "exec"), namespace)
    return namespace


async def test_readme_example() -> None:
    ns = _run_blocks("README.md")
    async with TestClient(ns["app"]) as client:
        assert (await client.get("/users/3", params={"fields": "name"})).json() == {
            "id": 3,
            "fields": "name",
        }
        async with client.websocket_connect("/echo") as ws:
            await ws.send_bytes(b"\x01")
            assert await ws.receive_bytes() == b"\x01"
        async with client.websocket_connect("/ticker?every=0.01") as ws:
            assert "now" in await ws.receive_json()
            assert "now" in await ws.receive_json()


@pytest.fixture(scope="module")
def guide() -> dict[str, Any]:
    return _run_blocks("docs/websockets.md")


async def test_guide_handlers(guide: dict[str, Any]) -> None:
    async with TestClient(guide["app"]) as client:
        for path in ("/hello", "/hello-noclose"):
            async with client.websocket_connect(path) as ws:
                assert [await ws.receive_text() for _ in range(100)] == ["Hello World!"] * 100
                with pytest.raises(WebSocketClosed) as closed:
                    await ws.receive()
                assert closed.value.code == 1000
        async with client.websocket_connect("/rooms/7?user=ada") as ws:
            assert await ws.receive_json() == {"room": 7, "user": "ada"}
        async with client.websocket_connect("/hello-json") as ws:
            assert [await ws.receive_json() for _ in range(100)][-1] == {
                "index": 99,
                "text": "Hello World!",
            }
        async with client.websocket_connect("/forever") as ws:
            assert (await ws.receive_json())["text"] == "Hello World!"
        async with client.websocket_connect("/pingpong") as ws:
            await ws.send_text("ping")
            assert await ws.receive_text() == "pong"
        async with client.websocket_connect("/pingpong-json") as ws:
            await ws.send_json({"paddle": "ping"})
            assert await ws.receive_json() == {"paddle": "pong"}
        async with client.websocket_connect("/echo") as ws:
            await ws.send_text("echo")
            assert await ws.receive_text() == "echo"
        async with client.websocket_connect("/pingpong-once") as ws:
            await ws.send_text("ping")
            assert await ws.receive_text() == "pong"
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive()
            assert closed.value.code == 1000


async def test_guide_hooks(guide: dict[str, Any]) -> None:
    async def greet(ws: Any) -> None:
        await ws.send("connected" if ws.connected else "not connected")

    greet.__annotations__["ws"] = guide["WebSocket"]

    def plain() -> dict[str, bool]:
        return {"http": True}

    routes = [Route("/greet", "GET", greet), Route("/plain", "GET", plain)]
    hooks = [guide["WebSocketEvents"], guide["GoodbyeEvents"]]
    async with TestClient(ASyncApp(routes=routes, event_hooks=hooks)) as client:
        async with client.websocket_connect("/greet") as ws:
            assert await ws.receive_text() == "connected"
            assert await ws.receive_json() == {"status": "ok", "message": "Have a nice Day!"}
        assert (await client.get("/plain")).json() == {"http": True}

    protocol_app = ASyncApp(routes=routes, event_hooks=[guide["ProtocolEvents"]])
    async with TestClient(protocol_app) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/greet"):
                pass
        assert denied.value.status_code == 403
        assert json.loads(denied.value.response.content) == {
            "detail": "Protocol my.protocol.example.io is required"
        }
        async with client.websocket_connect(
            "/greet", subprotocols=["my.protocol.example.io"]
        ) as ws:
            assert ws.subprotocol == "my.protocol.example.io"
            assert await ws.receive_text() == "connected"
        assert (await client.get("/plain")).json() == {"http": True}


async def test_guide_origins(guide: dict[str, Any]) -> None:
    async with TestClient(guide["origins_app"]) as client:
        site = {"origin": "https://news.example.com"}
        async with client.websocket_connect("/news", headers=site) as ws:
            assert await ws.receive_text() == "Hello from our own site"
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/news", headers={"origin": "https://evil.test"}):
                pass  # pragma: no cover
    assert denied.value.status_code == 403


async def test_guide_cancel_on_disconnect(guide: dict[str, Any], capsys: Any) -> None:
    app = ASyncApp(routes=[Route("/wait", "GET", guide["websocket_wait"])])
    async with TestClient(app) as client:
        async with client.websocket_connect("/wait") as ws:
            await trio.sleep(0.01)
            await ws.close(4001)
    assert "client left with 4001" in capsys.readouterr().out


async def test_concurrency_guide() -> None:
    ns = _run_blocks("docs/concurrency.md")
    log: list[str] = ns["log"]
    async with TestClient(ns["app"]) as client:
        for _ in range(100):  # the app nursery task started at startup runs soon after
            if log:
                break
            await trio.sleep(0.001)
        assert log == ["tick"]
        async with client.websocket_connect("/heartbeat") as ws:
            assert await ws.receive_text() == "beat"
            await ws.send_text("hi")
            for _ in range(100):
                if await ws.receive_text() == "echo: hi":
                    break
            else:
                raise AssertionError("no echo")
        response = await client.post("/report")
        assert response.json() == {"status": "accepted"}
        assert "audited" in log  # the call returned once the background task had finished

    slow = ASyncApp(routes=[Route("/slow", "GET", ns["slow_query"])])
    async with TestClient(slow) as client:
        async with client.websocket_connect("/slow") as ws:
            assert await ws.receive_text() == "done"
    for _ in range(100):
        if "query abandoned: client left" in log:
            break
        await trio.sleep(0.01)
    assert "query abandoned: client left" in log


def _write_files(name: str, into: Path) -> list[str]:
    """Write every html/javascript/css block of a document whose first line is a comment
    naming its file (``<!-- templates/index.html -->``) under ``into``; return the names."""
    text = (ROOT / name).read_text()
    written = []
    pattern = r"```(?:html|javascript|css)\n(?:<!--|//|/\*) (\S+)(?: -->| \*/)?\n(.*?)```"
    for path, content in re.findall(pattern, text, flags=re.DOTALL):
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        (into / path).write_text(content)
        written.append(path)
    return written


async def test_static_and_templates_guide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _write_files("docs/static-and-templates.md", tmp_path)
    assert sorted(files) == [
        "static/chat.js",
        "static/style.css",
        "templates/index.html",
        "templates/message.html",
    ]
    monkeypatch.chdir(tmp_path)  # the guide's paths are relative to the app's directory
    ns = _run_blocks("docs/static-and-templates.md")
    async with TestClient(ns["app"]) as client:
        page = await client.get("/", params={"room": "<b>"})
        assert page.status_code == 200
        assert "<title>&lt;b&gt;</title>" in page.text
        assert 'href="/static/style.css"' in page.text
        assert 'data-socket="/rooms/%3Cb%3E/ws"' in page.text
        script = await client.get("/static/chat.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        cached = await client.get(
            "/static/chat.js", headers={"if-none-match": script.headers["etag"]}
        )
        assert cached.status_code == 304
        async with client.websocket_connect("/rooms/%3Cb%3E/ws") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "<b>: hi"

    async with TestClient(ns["api"]) as client:
        response = await client.get("/v1/assets/style.css")
        assert response.headers["cache-control"] == "public, max-age=3600"
        assert (await client.get("/v1/assets/")).status_code == 404  # index=None
    async with TestClient(ns["site"]) as client:
        assert (await client.get("/files/chat.js")).status_code == 200

    Templates = ns["Templates"]
    routes = [
        Route("/fragment", "GET", ns["fragment"]),
        Route("/missing", "GET", ns["missing"]),
        Route("/export", "GET", ns["export"]),
        Route("/rooms/{room}/ws", "GET", ns["chat"]),
        ns["Static"]("/static", directory="static"),
    ]
    app = ASyncApp(routes=routes, components=[Templates("templates")])
    async with TestClient(app) as client:
        async with client.websocket_connect("/fragment") as ws:
            await ws.send_text("<script>")
            assert await ws.receive_text() == "<li>&lt;script&gt;</li>"
        missing = await client.get("/missing")
        assert (missing.status_code, "<title>nowhere</title>" in missing.text) == (404, True)
        export = await client.get("/export")
        assert export.headers["content-disposition"] == 'attachment; filename="chat.css"'
        assert export.text == (tmp_path / "static" / "style.css").read_text()
    shouting = ns["shouting"]
    assert await shouting.render_to_string("message.html", text="<b>") == "<li>&lt;b&gt;</li>"


async def test_types_guide() -> None:
    ns = _run_blocks("docs/types.md")
    async with TestClient(ns["app"]) as client:
        created = await client.post("/products", json={"name": "pen", "price": "1.50"})
        assert created.json() == {"name": "pen", "price": "1.50", "tags": [], "id": 1, "cost": "0"}
        listed = await client.get("/products")
        assert listed.json() == [{"name": "pen", "price": "1.50", "tags": []}]
        invalid = await client.post("/products", json={"name": "", "price": 1, "tags": ["a", 1]})
        assert invalid.status_code == 400
        assert invalid.json() == {
            "detail": {
                "name": "String should have at least 1 character",
                "tags.1": "Input should be a valid string",
            }
        }
    async with TestClient(ns["catalogue"]) as client:
        bad_page = await client.get("/search?page=0&tag=a&tag=b")
        assert bad_page.status_code == 400
        assert bad_page.json() == {"detail": {"page": "Input should be greater than or equal to 1"}}
        found = await client.get("/search?page=2&tag=a&tag=b&sort=price&q=ink")
        assert found.json() == {
            "page": 2,
            "tag": ["a", "b"],
            "sort": "price",
            "order": "asc",
            "q": "ink",
        }
        assert (await client.get("/products/0")).json() == {
            "detail": {"product_id": "Input should be greater than or equal to 1"}
        }
        assert (await client.get("/products/x")).status_code == 404
        assert (await client.get("/products/3")).text == "<h1>Product 3</h1>"
    async with TestClient(ns["shop"]) as client:
        async with client.websocket_connect("/orders") as ws:
            await ws.send_json({"product_id": 1, "quantity": 0})
            assert await ws.receive_json() == {
                "errors": {"quantity": "Input should be greater than 0"}
            }
            await ws.send_json({"product_id": 1, "quantity": 2})
            assert await ws.receive_json() == {"product_id": 1, "total": 2}
        async with client.websocket_connect("/strict-orders") as ws:
            await ws.send_json({"product_id": "one"})
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive()
        assert closed.value.code == 1007
    async with TestClient(ns["documented"]) as client:
        assert (await client.get("/docs/openapi.json")).json() == ns["openapi"]
        assert (await client.get("/docs/asyncapi.json")).json() == ns["asyncapi"]
        assert (await client.get("/docs")).status_code == 200


async def test_http_guide() -> None:
    ns = _run_blocks("docs/http.md")
    async with TestClient(ns["app"]) as client:
        assert (await client.get("/api/items")).json() == [{"id": 1, "name": "apple", "price": 0.5}]
        assert (await client.get("/api/items/1")).json()["name"] == "apple"
        missing = await client.get("/api/items/9")
        assert (missing.status_code, missing.json()) == (404, {"detail": "No item 9"})
        assert (await client.get("/api/items/abc")).status_code == 404
        assert (await client.get("/api/files/docs/a.txt")).json() == {"file": "docs/a.txt"}
        assert (await client.get("/links")).json() == {
            "item": "/api/items/1",
            "file": "/api/files/docs/a%20b.txt",
        }

        found = await client.get("/search", params={"q": "pear"}, headers={"user-agent": "ua"})
        assert found.json() == {"q": "pear", "limit": 10, "client": "ua"}
        no_q = await client.get("/search")
        assert (no_q.status_code, no_q.json()) == (
            400,
            {"detail": {"q": "This query parameter is required."}},
        )
        seen = await client.post("/request?tag=a&tag=b", json={"x": 1})
        assert seen.json() == {
            "method": "POST",
            "path": "/request",
            "tags": ["a", "b"],
            "json": {"x": 1},
        }

        created = await client.post("/api/items", json={"name": "pear", "price": 1.0})
        assert created.status_code == 201
        assert created.headers["location"] == "/api/items/2"
        assert created.content == b'{"id":2,"name":"pear","price":1.0}'
        renamed = await client.patch("/api/items/2", json={"name": "nashi"})
        assert renamed.json()["name"] == "nashi"
        invalid = await client.patch("/api/items/2", json={"name": 3})
        assert (invalid.status_code, invalid.json()) == (
            400,
            {"detail": {"name": "A string is required."}},
        )
        deleted = await client.delete("/api/items/2")
        assert (deleted.status_code, deleted.content) == (204, b"")
        robots = await client.get("/robots.txt")
        assert robots.headers["content-type"] == "text/plain; charset=utf-8"

        negotiated = await client.get(
            "/negotiate", headers={"accept-language": "fr-FR", "accept": "application/json"}
        )
        assert negotiated.json() == {"language": "fr", "accepts": "application/json"}
        assert negotiated.headers["cache-control"] == "no-store"
        assert negotiated.headers["vary"] == "Accept-Language"
        assert "seen=yes" in negotiated.headers["set-cookie"]

        anonymous = await client.get("/admin")
        assert (anonymous.status_code, anonymous.headers["www-authenticate"]) == (401, "Bearer")
        assert anonymous.json() == {"detail": "Log in first"}
        wrong = await client.get("/admin", headers={"authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()) == (403, {"detail": "Forbidden"})
        admin = await client.get("/admin", headers={"authorization": "Bearer admin-token"})
        assert admin.json() == {"admin": "yes"}

        stream = await client.get("/countdown", params={"start": 2})
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert stream.text == "data: 2\n\ndata: 1\n\ndata: liftoff\n\n"

        assert (await client.get("/whoami")).status_code == 401
        me = await client.get("/whoami", headers={"authorization": "Bearer admin-token"})
        assert me.json() == {"name": "admin-token", "admin": True}
        assert (await client.get("/pricing")).json() == {"currency": "EUR", "region": "eu-west"}

        assert me.headers["server-timing"].startswith("app;dur=")  # the Timing hook


async def _check_broadcast_guide(ns: dict[str, Any], app: Any) -> None:
    async with TestClient(app) as client:
        async with (
            client.websocket_connect("/chat/tea") as ann,
            client.websocket_connect("/chat/tea") as bob,
        ):
            # Both are subscribed once the broadcast counts them (the handler sends nothing).
            while app.broadcast.statistics().subscriptions < 2:  # noqa: ASYNC110
                await trio.sleep(0.01)
            await ann.send_text("hello")
            assert await ann.receive_text() == "hello"
            assert await bob.receive_text() == "hello"
        async with client.websocket_connect("/lobby?nick=ann") as ann:
            assert await ann.receive_json() == {"here": ["ann"]}
            assert await ann.receive_json() == {"join": "ann"}
            async with client.websocket_connect("/lobby?nick=bob") as bob:
                assert await bob.receive_json() == {"here": ["ann", "bob"]}
                assert await ann.receive_json() == {"join": "bob"}
            assert await ann.receive_json() == {"leave": "bob"}


async def test_broadcast_guide() -> None:
    ns = _run_blocks("docs/broadcast.md")
    app = ns["app"]
    await _check_broadcast_guide(ns, app)
    async with TestClient(app) as client:
        first = await app.broadcast.publish("news", "one")
        second = await app.broadcast.publish("news", "two")
        async with client.websocket_connect(f"/feed?since={first}") as ws:
            assert await ws.receive_json() == {"id": second, "data": "two"}
        async with client.websocket_connect("/feed?since=nonsense") as ws:
            assert await ws.receive_json() == {"reload": True}
        stats = await ns["health"](app.broadcast)
        assert stats == {"connected": True, "subscriptions": 0, "dropped": 0, "reconnects": 0}
    assert await ns["main"]() == ["0", "1", "2"]
    assert ns["redis_app"].broadcast.url == "redis://127.0.0.1:6379/0"


async def test_broadcast_guide_on_redis(redis: Any) -> None:
    """The same handlers across processes' worth of Redis (the guide's URL, our server)."""
    ns = _run_blocks("docs/broadcast.md")
    routes = [Route("/chat/{room}", "GET", ns["chat"]), Route("/lobby", "GET", ns["lobby"])]
    app = ASyncApp(routes, broadcast=ns["Broadcast"](redis.url, history=100))
    await _check_broadcast_guide(ns, app)


async def test_deployment_guide(tmp_path: Path) -> None:
    """Its examples run; its Hypercorn config file says what the text says; its limits table
    names every limit the app takes, with the app's own defaults."""
    ns = _run_blocks("docs/deployment.md")
    async with TestClient(ns["app"]) as client:
        assert (await client.get("/")).text == "<p>Hello</p>"
    text = (ROOT / "docs" / "deployment.md").read_text()
    (toml,) = re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)
    (tmp_path / "hypercorn.toml").write_text(toml)
    from hypercorn.config import Config

    config = Config.from_toml(tmp_path / "hypercorn.toml")
    assert config.websocket_max_message_size == ASyncApp([]).websocket_max_message_size
    assert (config.graceful_timeout, config.keep_alive_timeout) == (5, 5)
    table = text[text.index("## Limits and timeouts") : text.index("## Running behind a proxy")]
    defaults = {
        "max_body_size": "1 MiB",
        "body_timeout": "60 s",
        "websocket_max_message_size": "1 MiB",
        "websocket_queue_size": "4",
        "websocket_send_timeout": "20 s",
        "websocket_idle_timeout": "300 s",
        "max_websockets": '`"auto"`',
    }
    signature = inspect.signature(ASyncApp).parameters
    for name, default in defaults.items():
        (row,) = [line for line in table.splitlines() if f"ASyncApp({name}=...)" in line]
        assert row.split("|")[2].strip().startswith(default), row
        assert signature[name].default in (1024 * 1024, 60.0, 4, 20.0, 300.0, "auto")
