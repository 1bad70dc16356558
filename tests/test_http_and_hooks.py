"""HTTP responses, request bodies, errors, event hooks and lifespan (in-process)."""

import logging
from typing import Any

import pytest
import trio
import trio.testing

from trio_apistar import AppNursery, ASGISend, ASyncApp, Route, WebSocket, http
from trio_apistar.exceptions import BadRequest, Forbidden, NotFound
from trio_apistar.forms import UploadedFile
from trio_apistar.test import LifespanFailed, TestClient


async def _get(app: ASyncApp, path: str, **kwargs: Any) -> Any:
    async with TestClient(app, raise_server_exceptions=False) as client:
        return await client.get(path, **kwargs)


async def test_return_values_become_responses() -> None:
    def as_dict() -> dict[str, int]:
        return {"a": 1}

    def as_list() -> list[int]:
        return [1, 2]

    def as_none() -> None:
        return None

    def as_html() -> str:
        return "<p>hi</p>"

    async def as_response() -> http.Response:
        return http.Response(b"raw", 201, {"x-custom": "1"}, media_type="text/plain")

    def streaming() -> http.StreamingResponse:
        async def chunks() -> Any:
            for i in range(3):
                yield f"chunk{i};"
                await trio.lowlevel.checkpoint()

        return http.StreamingResponse(chunks(), media_type="text/plain")

    app = ASyncApp(
        routes=[
            Route("/dict", "GET", as_dict),
            Route("/list", "GET", as_list),
            Route("/none", "GET", as_none),
            Route("/html", "GET", as_html),
            Route("/response", "GET", as_response),
            Route("/stream", "GET", streaming),
        ]
    )
    async with TestClient(app) as client:
        d = await client.get("/dict")
        assert (d.status_code, d.json(), d.headers["content-type"]) == (
            200,
            {"a": 1},
            "application/json",
        )
        assert (await client.get("/list")).json() == [1, 2]
        none = await client.get("/none")
        assert (none.status_code, none.content) == (204, b"")
        html = await client.get("/html")
        assert html.headers["content-type"] == "text/html; charset=utf-8"
        assert html.text == "<p>hi</p>"
        raw = await client.get("/response")
        assert (raw.status_code, raw.content, raw.headers["x-custom"]) == (201, b"raw", "1")
        assert (await client.get("/stream")).text == "chunk0;chunk1;chunk2;"


async def test_body_and_request_data() -> None:
    async def echo(data: http.RequestData, body: http.Body, request: http.Request) -> Any:
        return {"data": data, "size": len(body), "method": request.method}

    app = ASyncApp(routes=[Route("/echo", "POST", echo)], max_body_size=100)
    async with TestClient(app) as client:
        ok = await client.post("/echo", json={"x": [1, 2]})
        assert ok.json() == {"data": {"x": [1, 2]}, "size": 11, "method": "POST"}
        form = await client.post("/echo", data={"a": "1"})
        assert form.json()["data"] == {"a": "1"}
        bad = await client.post(
            "/echo", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        assert bad.json()["detail"].startswith("Malformed JSON in the request body")
        wrong_type = await client.post(
            "/echo", content=b"<x/>", headers={"content-type": "application/xml"}
        )
        assert wrong_type.status_code == 415
        too_big = await client.post("/echo", json={"x": "y" * 200})
        assert too_big.status_code == 413
        assert too_big.json() == {"detail": "The request body is over 100 bytes"}


async def test_http_exceptions_render_as_json() -> None:
    def forbidden() -> None:
        raise Forbidden("No entry")

    def teapot() -> None:
        raise BadRequest({"field": "wrong"}, status_code=418)

    app = ASyncApp(routes=[Route("/f", "GET", forbidden), Route("/t", "GET", teapot)])
    assert (await _get(app, "/f")).json() == {"detail": "No entry"}
    assert (await _get(app, "/f")).status_code == 403
    teapot_response = await _get(app, "/t")
    assert (teapot_response.status_code, teapot_response.json()) == (
        418,
        {"detail": {"field": "wrong"}},
    )


async def test_unhandled_error_is_500_without_internals_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom() -> None:
        raise ValueError("secret internal detail")

    app = ASyncApp(routes=[Route("/boom", "GET", boom)])
    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        response = await _get(app, "/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert any(
        r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records
    )


async def test_unhandled_error_is_raised_to_the_test_client_by_default() -> None:
    def boom() -> None:
        raise KeyError("boom")

    async with TestClient(ASyncApp(routes=[Route("/b", "GET", boom)])) as client:
        with pytest.raises(KeyError, match="boom"):
            await client.get("/b")


async def test_hooks_order_state_and_replacement() -> None:
    events: list[str] = []

    class First:
        def __init__(self) -> None:
            self.started = False

        def on_request(self) -> None:
            self.started = True
            events.append("first.request")

        async def on_response(self, response: http.Response) -> http.Response:
            assert self.started  # same instance as on_request: state kept per request
            events.append("first.response")
            response.headers["x-first"] = "1"
            return response

    class Second:
        async def on_request(self, method: http.Method) -> None:
            events.append(f"second.request {method}")

        def on_response(self, response: http.Response) -> None:
            events.append("second.response")

    def handler() -> dict[str, bool]:
        events.append("handler")
        return {"ok": True}

    app = ASyncApp(routes=[Route("/", "GET", handler)], event_hooks=[First, Second()])
    response = await _get(app, "/")
    assert response.headers["x-first"] == "1"
    assert events == [
        "first.request",
        "second.request GET",
        "handler",
        "second.response",
        "first.response",
    ]


async def test_http_exception_in_on_request_becomes_the_response() -> None:
    called: list[str] = []

    class Auth:
        def on_request(self, authorization: http.Header) -> None:
            if authorization != "secret":
                raise Forbidden("Bad credentials")

    def handler() -> dict[str, bool]:
        called.append("handler")
        return {"ok": True}

    app = ASyncApp(routes=[Route("/", "GET", handler)], event_hooks=[Auth])
    denied = await _get(app, "/")
    assert (denied.status_code, denied.json()) == (403, {"detail": "Bad credentials"})
    assert called == []
    assert (await _get(app, "/", headers={"authorization": "secret"})).json() == {"ok": True}


async def test_on_error_hooks_run_in_reverse_and_may_replace_the_response() -> None:
    seen: list[str] = []

    class Log:
        def on_error(self, error: Exception) -> None:
            seen.append(f"log {type(error).__name__}")

    class Render:
        async def on_error(self, error: Exception) -> http.Response:
            seen.append("render")
            return http.JSONResponse({"detail": "custom"}, 503)

    def boom() -> None:
        raise RuntimeError("x")

    app = ASyncApp(routes=[Route("/", "GET", boom)], event_hooks=[Log, Render])
    response = await _get(app, "/")
    assert (response.status_code, response.json()) == (503, {"detail": "custom"})
    assert seen == ["render", "log RuntimeError"]


async def test_on_error_is_not_run_for_http_exceptions() -> None:
    seen: list[str] = []

    class Log:
        def on_error(self, error: Exception) -> None:
            seen.append("error")

    def missing() -> None:
        raise NotFound()

    app = ASyncApp(routes=[Route("/", "GET", missing)], event_hooks=[Log])
    assert (await _get(app, "/")).status_code == 404
    assert seen == []


async def test_sync_and_async_handlers_and_lifespan() -> None:
    log: list[str] = []

    def sync_start(app: ASyncApp) -> None:
        log.append("sync start")

    async def async_start(nursery: AppNursery) -> None:
        await trio.lowlevel.checkpoint()
        nursery.start_soon(trio.sleep_forever)  # cancelled at shutdown
        log.append("async start")

    async def stop() -> None:
        log.append("stop")

    async def handler() -> dict[str, list[str]]:
        return {"log": log}

    app = ASyncApp(
        routes=[Route("/", "GET", handler)],
        on_startup=[sync_start, async_start],
        on_shutdown=[stop],
    )
    async with TestClient(app) as client:
        assert (await client.get("/")).json() == {"log": ["sync start", "async start"]}
    assert log == ["sync start", "async start", "stop"]


async def test_failing_startup_reports_the_reason() -> None:
    def broken() -> None:
        raise RuntimeError("database unreachable")

    app = ASyncApp(routes=[], on_startup=[broken])
    with pytest.raises(LifespanFailed, match="database unreachable"):
        async with TestClient(app):
            pass


async def test_app_nursery_without_lifespan_is_a_clear_error() -> None:
    async def handler(nursery: AppNursery) -> None: ...

    app = ASyncApp(routes=[Route("/", "GET", handler)])
    with pytest.raises(RuntimeError, match="only available while the ASGI lifespan runs"):
        await handler_without_lifespan(app)


async def handler_without_lifespan(app: ASyncApp) -> None:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)


async def test_a_failing_app_task_is_logged_and_the_app_keeps_its_nursery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    crashed = trio.Event()

    async def crash() -> None:
        try:
            raise ValueError("background job broke")
        finally:
            crashed.set()

    async def sibling() -> None:
        try:
            await trio.sleep_forever()
        finally:
            log.append("sibling cancelled")

    async def start(nursery: AppNursery, job: str) -> dict[str, str]:
        nursery.start_soon(crash if job == "crash" else sibling)
        return {"started": job}

    async def stop(nursery: AppNursery) -> None:
        nursery.start_soon(trio.sleep, 0)  # still usable at shutdown
        log.append("shutdown hook ran")

    app = ASyncApp(routes=[Route("/start", "GET", start)], on_shutdown=[stop])
    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        async with TestClient(app, raise_server_exceptions=False) as client:
            assert (await client.get("/start?job=sleep")).status_code == 200
            assert (await client.get("/start?job=crash")).status_code == 200
            with trio.fail_after(2):
                await crashed.wait()
            await trio.testing.wait_all_tasks_blocked()
            assert log == ["sibling cancelled"]
            assert (await client.get("/start?job=sleep")).json() == {"started": "sleep"}
    assert log == ["sibling cancelled", "shutdown hook ran", "sibling cancelled"]
    failures = [r for r in caplog.records if "AppNursery failed" in r.getMessage()]
    assert len(failures) == 1


async def test_a_failing_app_task_reaches_the_test_at_exit_by_default() -> None:
    async def start(nursery: AppNursery) -> None:
        async def crash() -> None:
            raise ValueError("background job broke")

        nursery.start_soon(crash)

    app = ASyncApp(routes=[Route("/start", "GET", start)])
    with pytest.raises(ValueError, match="background job broke"):
        async with TestClient(app) as client:
            assert (await client.get("/start")).status_code == 204


async def test_a_handler_answering_through_asgi_send_gets_no_second_response() -> None:
    async def raw(send: ASGISend) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"raw"})

    async def raw_async(send: ASGISend, body: http.Body) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": body})

    app = ASyncApp(routes=[Route("/raw", "GET", raw), Route("/raw", "POST", raw_async)])
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append((message["type"], message.get("status"), message.get("body")))

    for method, body in (("GET", b""), ("POST", b"echo")):
        scope = {
            "type": "http",
            "method": method,
            "path": "/raw",
            "headers": [],
            "query_string": b"",
        }
        to_app, inbox = trio.open_memory_channel[dict[str, Any]](1)
        to_app.send_nowait({"type": "http.request", "body": body})
        with trio.fail_after(2):
            await app(scope, inbox.receive, send)
    assert sent == [
        ("http.response.start", 200, None),
        ("http.response.body", None, b"raw"),
        ("http.response.start", 201, None),
        ("http.response.body", None, b"echo"),
    ]


async def test_responses_http_cannot_carry_are_500s_logged_like_handler_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad_header() -> http.Response:
        return http.Response("x", headers={"x-price": "5 €"})

    def not_json() -> dict[str, float]:
        return {"x": float("nan")}

    class LateHeader:
        def on_response(self, response: http.Response, path: http.Path) -> None:
            if path == "/late":
                response.headers["x-note"] = "naïve ✓"

    def late() -> dict[str, str]:
        return {"ok": "yes"}

    async def broken_stream() -> http.StreamingResponse:
        async def chunks() -> Any:
            yield b"part"
            raise OSError("disk gone")

        return http.StreamingResponse(chunks())

    app = ASyncApp(
        routes=[
            Route("/bad-header", "GET", bad_header),
            Route("/nan", "GET", not_json),
            Route("/late", "GET", late),
            Route("/stream", "GET", broken_stream),
        ],
        event_hooks=[LateHeader()],
    )
    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        async with TestClient(app, raise_server_exceptions=False) as client:
            for path in ("/bad-header", "/nan", "/late"):
                response = await client.get(path)
                assert response.status_code == 500, path
                assert response.json() == {"detail": "Internal server error"}
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append((message.get("status"), message.get("body"), message.get("more_body")))

        to_app, inbox = trio.open_memory_channel[dict[str, Any]](1)
        to_app.send_nowait({"type": "http.request", "body": b""})
        scope = {"type": "http", "method": "GET", "path": "/stream", "headers": []}
        with trio.fail_after(2):
            await app(scope, inbox.receive, send)
    assert sent == [(200, None, None), (None, b"part", True)]  # cut short: the status was out
    logged = [type(r.exc_info[1]).__name__ for r in caplog.records if r.exc_info]
    assert logged == ["ValueError", "ValueError", "UnicodeEncodeError", "OSError"]


async def test_on_response_hooks_see_the_errors_made_before_any_handler() -> None:
    """A CORS hook must reach 404s, the 405 an OPTIONS preflight gets, 413s and 426s."""
    seen: list[tuple[str, int, object]] = []

    class Cors:
        def on_response(self, request: http.Request, response: http.Response, route: Route) -> None:
            seen.append((request.url.path, response.status_code, route and route.url))
            response.headers["access-control-allow-origin"] = "*"

    def items() -> list[int]:
        return [1]

    def upload(body: http.Body) -> dict[str, int]:
        return {"size": len(body)}  # pragma: no cover

    async def ws(ws: WebSocket) -> None:
        await ws.connect()  # pragma: no cover

    app = ASyncApp(
        routes=[
            Route("/items", "GET", items),
            Route("/upload", "POST", upload),
            Route("/ws", "GET", ws),
        ],
        event_hooks=[Cors],
        max_body_size=10,
    )
    async with TestClient(app) as client:
        responses = [
            await client.get("/items"),
            await client.get("/nowhere"),
            await client.options("/items"),
            await client.post("/upload", content=b"x" * 11),
            await client.get("/ws"),
        ]
    assert [r.status_code for r in responses] == [200, 404, 405, 413, 426]
    assert all(r.headers["access-control-allow-origin"] == "*" for r in responses)
    assert responses[2].headers["allow"] == "GET"
    assert responses[1].json() == {"detail": "Not found"}
    assert seen == [
        ("/items", 200, "/items"),
        ("/nowhere", 404, None),
        ("/items", 405, None),
        ("/upload", 413, "/upload"),
        ("/ws", 426, "/ws"),
    ]


async def test_multipart_forms_become_request_data_with_uploaded_files() -> None:
    def upload(data: http.RequestData) -> dict[str, Any]:
        return {
            name: (
                [value.filename, value.content_type, value.content.decode()]
                if isinstance(value, UploadedFile)
                else value
            )
            for name, value in data.items()
        }

    app = ASyncApp(routes=[Route("/upload", "POST", upload)], max_body_size=2000)
    async with TestClient(app) as client:
        ok = await client.post(
            "/upload",
            data={"title": "Café", "tag": "x"},
            files={"doc": ("notes.txt", b"hello\r\n--not a boundary", "text/plain")},
        )
        no_boundary = await client.post(
            "/upload", content=b"x", headers={"content-type": "multipart/form-data"}
        )
        truncated = await client.post(
            "/upload",
            content=b'--b\r\ncontent-disposition: form-data; name="a"\r\n\r\nvalue',
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        too_big = await client.post("/upload", files={"doc": ("big.bin", b"x" * 3000)})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "title": "Café",
        "tag": "x",
        "doc": ["notes.txt", "text/plain", "hello\r\n--not a boundary"],
    }
    assert no_boundary.status_code == 400
    assert "boundary" in no_boundary.json()["detail"]
    assert truncated.status_code == 400
    assert truncated.json()["detail"].startswith("Malformed multipart body")
    assert too_big.status_code == 413


async def test_errors_made_before_any_handler_run_only_unpaired_on_response_hooks() -> None:
    """A hook with only on_response (CORS, even asking for ASGISend) sees a 404/405; a hook
    whose on_request never ran (nothing was routed) is left out rather than half run."""
    seen: list[str] = []

    class Timing:
        def on_request(self, method: http.Method) -> None:
            self.method = method

        def on_response(self, response: http.Response) -> None:
            seen.append(f"timing {self.method} {response.status_code}")

    class Cors:
        def on_response(self, response: http.Response, send: ASGISend) -> None:
            seen.append(f"cors {response.status_code} {send is not None}")

    app = ASyncApp(routes=[Route("/", "GET", lambda: {"ok": True})], event_hooks=[Timing, Cors])
    async with TestClient(app) as client:
        assert (await client.get("/missing")).status_code == 404
        assert (await client.post("/")).status_code == 405
        assert (await client.get("/")).status_code == 200
    assert seen == ["cors 404 True", "cors 405 True", "cors 200 True", "timing GET 200"]


async def test_a_request_during_an_app_task_failure_gets_a_nursery_that_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    unwinding = trio.Event()
    ran_event = trio.Event()

    async def crash() -> None:
        await trio.sleep(0.01)
        raise ValueError("boom")

    async def slow_sibling() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                unwinding.set()
                await trio.sleep(0.2)  # a long, shielded cleanup

    async def start(nursery: AppNursery, job: str) -> None:
        if job == "ran":

            async def ran() -> None:
                await trio.lowlevel.checkpoint()  # cancelled here in a nursery going away
                log.append("ran")
                ran_event.set()

            nursery.start_soon(ran)
        else:
            nursery.start_soon(slow_sibling)
            nursery.start_soon(crash)

    app = ASyncApp(routes=[Route("/start", "GET", start)])
    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        async with TestClient(app, raise_server_exceptions=False) as client:
            await client.get("/start?job=crash")
            with trio.fail_after(2):
                await unwinding.wait()
            await client.get("/start?job=ran")  # while the failed nursery still unwinds
            with trio.fail_after(2):
                await ran_event.wait()
    assert log == ["ran"]


async def test_cookies_are_read_by_name_and_set_one_header_each() -> None:
    def me(session: http.Cookie, cookies: http.Cookies, theme: http.Cookie = "light") -> Any:
        return {"session": session, "cookies": cookies, "theme": theme}

    def login() -> http.Response:
        response = http.JSONResponse({"ok": True})
        response.set_cookie("session", "s1", max_age=60, httponly=True, secure=True)
        response.set_cookie("theme", "dark", samesite="strict")
        response.delete_cookie("legacy")
        return response

    def bad() -> http.Response:
        http.Response().set_cookie("no;pe", "x")
        raise AssertionError  # pragma: no cover

    app = ASyncApp(
        routes=[Route("/me", "GET", me), Route("/login", "POST", login), Route("/bad", "GET", bad)]
    )
    async with TestClient(app, raise_server_exceptions=False) as client:
        anonymous = (await client.get("/me")).json()
        login_response = await client.post("/login")
        set_cookies = login_response.headers.get_list("set-cookie")
        known = (await client.get("/me", headers={"cookie": "session=s1; theme=dark"})).json()
        assert (await client.get("/bad")).status_code == 500
    assert anonymous == {"session": None, "cookies": {}, "theme": "light"}
    assert set_cookies == [
        "session=s1; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax",
        "theme=dark; Path=/; SameSite=Strict",
        "legacy=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax",
    ]
    assert known == {
        "session": "s1",
        "cookies": {"session": "s1", "theme": "dark"},
        "theme": "dark",
    }


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; weird[x]=2; session=abc", {"a": "1", "weird[x]": "2", "session": "abc"}),
        ("name=é; session=abc", {"name": "é", "session": "abc"}),
        ('a=1 2; session="abc"', {"a": "1 2", "session": "abc"}),
        ("domain=foo; session=abc; path=/x", {"domain": "foo", "session": "abc", "path": "/x"}),
        ("session=first; session=second; junk; =x", {"session": "first"}),
    ],
)
async def test_one_odd_cookie_never_hides_the_others(header: str, expected: dict[str, str]) -> None:
    def cookies(jar: http.Cookies) -> dict[str, str]:
        return jar

    async with TestClient(ASyncApp(routes=[Route("/", "GET", cookies)])) as client:
        raw = header.encode("latin-1")  # as a browser may send it; httpx sends str as ASCII
        assert (await client.get("/", headers={"cookie": raw})).json() == expected


def test_set_cookie_follows_rfc_6265_and_refuses_what_browsers_would_drop() -> None:
    import datetime

    response = http.Response()
    when = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    response.set_cookie("a", "x", expires=when, max_age=datetime.timedelta(hours=1))
    response.set_cookie("__Host-s", "y", secure=True, samesite="none")
    response.delete_cookie("__Host-s", secure=True, samesite="none")
    assert response.cookies == [
        "a=x; Path=/; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; SameSite=Lax",
        "__Host-s=y; Path=/; Secure; SameSite=None",
        "__Host-s=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; "
        "SameSite=None",
    ]
    for kwargs, message in [
        ({"key": "a b"}, "not a cookie name"),
        ({"value": "€"}, "cannot carry"),
        ({"value": "a,b"}, "cannot carry"),
        ({"max_age": 1.5}, "whole seconds"),
        ({"samesite": "bogus"}, "samesite must be"),
        ({"samesite": "none"}, "needs secure=True"),
        ({"path": "/;x"}, "cannot be a cookie attribute"),
    ]:
        with pytest.raises(ValueError, match=message):
            response.set_cookie(**{"key": "k", "value": "v", **kwargs})  # type: ignore[arg-type]
