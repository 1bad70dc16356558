"""Routing, path parameters, reverse_url and dependency injection (in-process)."""

import inspect
from typing import Any

import pytest
import trio

from trio_apistar import ASGIScope, ASyncApp, Component, Include, Route, WebSocket, http
from trio_apistar.exceptions import ConfigurationError
from trio_apistar.injector import Injector, is_async
from trio_apistar.test import TestClient


def _user(user_id: int) -> dict[str, Any]:
    return {"user_id": user_id}


def _price(amount: float) -> dict[str, Any]:
    return {"amount": amount}


def _name(name: str) -> dict[str, Any]:
    return {"name": name}


def _files(path: str) -> dict[str, Any]:
    return {"path": path}


def _create() -> dict[str, str]:
    return {"created": "yes"}


routes = [
    Route("/users/{user_id}", "GET", _user, name="detail"),
    Route("/prices/{amount}", "GET", _price),
    Route("/names/{name}", "GET", _name),
    Route("/files/{+path}", "GET", _files),
    Route("/users", "POST", _create),
    Include("/api", "api", [Route("/users/{user_id}", "GET", _user, name="user")]),
]


@pytest.fixture
async def client() -> Any:
    async with TestClient(ASyncApp(routes=routes)) as c:
        yield c


async def test_path_parameters_are_typed_by_annotation(client: TestClient) -> None:
    assert (await client.get("/users/42")).json() == {"user_id": 42}
    assert (await client.get("/prices/2.5")).json() == {"amount": 2.5}
    assert (await client.get("/names/ada")).json() == {"name": "ada"}
    assert (await client.get("/files/a/b/c.txt")).json() == {"path": "a/b/c.txt"}
    assert (await client.get("/api/users/7")).json() == {"user_id": 7}


async def test_int_parameter_does_not_match_text(client: TestClient) -> None:
    response = await client.get("/users/ada")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found"}


async def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


async def test_wrong_method_is_json_405_with_allow(client: TestClient) -> None:
    response = await client.delete("/users")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method not allowed"}
    assert response.headers["allow"] == "POST"


async def test_head_falls_back_to_get(client: TestClient) -> None:
    response = await client.head("/users/1")
    assert response.status_code == 200
    assert response.content == b""


def test_reverse_url_with_namespaces() -> None:
    app = ASyncApp(routes=routes)
    assert app.reverse_url("detail", user_id=3) == "/users/3"
    assert app.reverse_url("api:user", user_id=9) == "/api/users/9"
    assert app.reverse_url("_files", path="x/y") == "/files/x/y"
    with pytest.raises(ValueError, match="takes parameters"):
        app.reverse_url("detail")


async def test_reverse_url_quotes_values_and_checks_they_lead_back(client: TestClient) -> None:
    app = ASyncApp(routes=routes)
    assert app.reverse_url("_name", name="a b?c#d") == "/names/a%20b%3Fc%23d"
    assert app.reverse_url("_files", path="x y/z") == "/files/x%20y/z"
    for route_name, params in [
        ("detail", {"user_id": "abc"}),
        ("_name", {"name": "a/b"}),
        ("_price", {"amount": "cheap"}),
    ]:
        with pytest.raises(ValueError, match="does not match"):
            app.reverse_url(route_name, **params)
    response = await client.get(app.reverse_url("_name", name="a b?c#d"))
    assert response.json() == {"name": "a b?c#d"}


def test_two_routes_for_the_same_dynamic_url_and_method_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"Two routes for GET /users/\{user_id\}"):
        ASyncApp(
            routes=[
                Route("/users/{user_id}", "GET", _user),
                Route("/users/{user_id}", "GET", _user, name="again"),
            ]
        )


def test_path_parameter_must_be_a_handler_parameter() -> None:
    def handler() -> None: ...

    with pytest.raises(ConfigurationError, match="no parameter 'user_id'"):
        ASyncApp(routes=[Route("/u/{user_id}", "GET", handler)])


def test_duplicate_route_names_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="named"):
        ASyncApp(routes=[Route("/a", "GET", _create, "x"), Route("/b", "GET", _create, "x")])


def test_unresolvable_parameter_names_handler_parameter_and_offer() -> None:
    class Unknown:
        pass

    def needs(thing: Unknown) -> None: ...

    with pytest.raises(ConfigurationError) as error:
        ASyncApp(routes=[Route("/", "GET", needs)])
    message = str(error.value)
    assert "'thing'" in message
    assert "needs" in message
    assert "Unknown" in message
    assert "Headers" in message  # what is on offer


async def test_request_parts_are_injected() -> None:
    def handler(
        method: http.Method,
        url: http.URL,
        path: http.Path,
        query: http.QueryParams,
        page: http.QueryParam,
        headers: http.Headers,
        user_agent: http.Header,
        scope: ASGIScope,
    ) -> dict[str, Any]:
        return {
            "method": method,
            "url": url,
            "path": path,
            "query": dict(query),
            "page": page,
            "x": headers["x-thing"],
            "user_agent": user_agent,
            "type": scope["type"],
        }

    async with TestClient(ASyncApp(routes=[Route("/p", "GET", handler)])) as client:
        response = await client.get(
            "/p", params={"page": "2"}, headers={"x-thing": "1", "user-agent": "ua/1"}
        )
    assert response.json() == {
        "method": "GET",
        "url": "http://testserver/p?page=2",
        "path": "/p",
        "query": {"page": "2"},
        "page": "2",
        "x": "1",
        "user_agent": "ua/1",
        "type": "http",
    }


async def test_scalar_parameters_are_query_parameters() -> None:
    def handler(limit: int, ratio: float = 0.5, flag: bool = False, q: str | None = None) -> Any:
        return {"limit": limit, "ratio": ratio, "flag": flag, "q": q}

    async with TestClient(ASyncApp(routes=[Route("/s", "GET", handler)])) as client:
        ok = await client.get("/s", params={"limit": "3", "flag": "true"})
        missing = await client.get("/s")
        bad = await client.get("/s", params={"limit": "x"})
    assert ok.json() == {"limit": 3, "ratio": 0.5, "flag": True, "q": None}
    assert missing.status_code == 400
    assert missing.json() == {"detail": {"limit": "This query parameter is required."}}
    assert bad.status_code == 400
    assert bad.json() == {"detail": {"limit": "Must be a valid int."}}


async def test_a_parameter_name_shared_by_hook_and_handler_keeps_each_its_own_type() -> None:
    seen: list[Any] = []

    class Log:
        def on_request(self, limit: str, x_mode: http.Header = None) -> None:  # type: ignore[assignment]
            seen.append((limit, x_mode))

    def handler(limit: int, x_mode: http.Header = "default") -> Any:  # type: ignore[assignment]
        return {"limit": limit, "type": type(limit).__name__, "mode": x_mode}

    app = ASyncApp(routes=[Route("/s", "GET", handler)], event_hooks=[Log])
    async with TestClient(app) as client:
        response = await client.get("/s", params={"limit": "3"})
    assert response.json() == {"limit": 3, "type": "int", "mode": "default"}
    assert seen == [("3", None)]


class Counter:
    def __init__(self) -> None:
        self.resolved = 0


class User:
    def __init__(self, name: str) -> None:
        self.name = name


class CounterComponent(Component):
    def __init__(self) -> None:
        self.counter = Counter()

    def resolve(self) -> Counter:
        self.counter.resolved += 1
        return self.counter


class UserComponent(Component):
    async def resolve(self, authorization: http.Header, counter: Counter) -> User:
        return User(authorization or "anonymous")


async def test_user_components_resolve_once_per_request_with_their_own_deps() -> None:
    counters = CounterComponent()

    class Hook:
        def on_request(self, user: User, counter: Counter) -> None:
            assert user.name == "ada"

    def handler(user: User, again: User, counter: Counter) -> dict[str, Any]:
        assert user is again
        return {"user": user.name, "resolved": counter.resolved}

    app = ASyncApp(
        routes=[Route("/me", "GET", handler)],
        components=[counters, UserComponent()],
        event_hooks=[Hook],
    )
    async with TestClient(app) as client:
        first = await client.get("/me", headers={"authorization": "ada"})
        second = await client.get("/me", headers={"authorization": "ada"})
    assert first.json() == {"user": "ada", "resolved": 1}
    assert second.json() == {"user": "ada", "resolved": 2}


async def test_component_may_receive_the_requesting_parameter() -> None:
    class Setting(str):
        pass

    class SettingComponent(Component):
        def resolve(self, parameter: inspect.Parameter) -> Setting:
            return Setting(parameter.name.upper())

    def handler(debug: Setting, color: Setting) -> list[str]:
        return [debug, color]

    app = ASyncApp(routes=[Route("/", "GET", handler)], components=[SettingComponent()])
    async with TestClient(app) as client:
        assert (await client.get("/")).json() == ["DEBUG", "COLOR"]


def test_plans_are_built_when_the_app_is_built() -> None:
    calls: list[str] = []

    class Spy(Component):
        def resolve(self) -> Counter:
            calls.append("resolve")
            return Counter()

    def handler(counter: Counter) -> None: ...

    app = ASyncApp(routes=[Route("/", "GET", handler)], components=[Spy()])
    plan = app._context.routes[app.router.routes[0].route].handler
    assert [type(step.func.__self__).__name__ for step in plan.steps] == ["Spy"]
    assert calls == []


async def test_app_and_route_are_injected() -> None:
    def handler(app: ASyncApp, route: Route) -> dict[str, str]:
        return {"route": route.name, "url": app.reverse_url("handler")}

    async with TestClient(ASyncApp(routes=[Route("/r", "GET", handler)])) as client:
        assert (await client.get("/r")).json() == {"route": "handler", "url": "/r"}


async def test_string_annotations_are_resolved() -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "from trio_apistar import http\n"
        "def handler(method: http.Method, n: int) -> dict:\n"
        "    return {'method': method, 'n': n}\n",
        namespace,
    )
    app = ASyncApp(routes=[Route("/s/{n}", "GET", namespace["handler"])])
    async with TestClient(app) as client:
        assert (await client.get("/s/5")).json() == {"method": "GET", "n": 5}


async def _returns() -> int:
    return 1


async def _awaits() -> int:
    return await _returns()


async def _iterates(items: Any) -> None:
    async for _ in items:
        pass


async def _enters(manager: Any) -> None:
    async with manager:
        pass


async def _defines_an_awaiting_function() -> Any:
    async def inner() -> int:
        return await _returns()

    return inner  # defined, not awaited: this one cannot suspend


async def _comprehends(items: Any) -> list[int]:
    return [await _returns() for _ in items]


def _plain() -> None:
    pass


class _AwaitingObject:
    async def __call__(self) -> int:
        return await _returns()


class _ImmediateObject:
    async def __call__(self) -> int:
        return 1


class _PlainObject:
    def __call__(self) -> int:
        return 1


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        (_plain, False),
        (_returns, False),
        (_defines_an_awaiting_function, False),
        (_awaits, True),
        (_iterates, True),
        (_enters, True),
        (_comprehends, True),
        (_AwaitingObject(), True),
        (_ImmediateObject(), False),
        (_PlainObject(), False),
    ],
)
def test_a_plan_knows_whether_its_function_can_suspend(func: Any, expected: bool) -> None:
    plan = Injector([]).plan(func, {Any})
    assert plan.can_suspend is expected


def test_an_async_component_that_awaits_makes_the_plan_able_to_suspend() -> None:
    class Awaiting(Component):
        async def resolve(self) -> int:
            return await _returns()

    class Immediate(Component):
        async def resolve(self) -> str:
            return "at once"

    def handler(number: int) -> int:
        return number

    def other(text: str) -> str:
        return text

    assert Injector([Awaiting()]).plan(handler, ()).can_suspend
    assert not Injector([Immediate()]).plan(other, ()).can_suspend


async def test_handlers_written_as_objects_with_async_call_are_awaited() -> None:
    """An object whose ``__call__`` is ``async def`` is an async handler, hook or component
    resolver, as a coroutine function is (not a plain function returning a coroutine)."""

    class Greeting:
        def __init__(self, word: str) -> None:
            self.word = word

        async def __call__(self, name: str) -> dict[str, str]:
            await trio.lowlevel.checkpoint()  # a handler that can suspend
            return {self.word: name}

    class Echo:
        async def __call__(self, ws: WebSocket) -> None:
            await ws.accept()
            await ws.send(await ws.receive_text())

    class Stamp:
        def __init__(self) -> None:
            self.seen: list[int] = []

        async def on_response(self, response: http.Response) -> None:
            self.seen.append(response.status_code)

    stamp = Stamp()
    app = ASyncApp(
        routes=[Route("/hi", "GET", Greeting("hello")), Route("/ws", "GET", Echo())],
        event_hooks=[stamp],
    )
    async with TestClient(app) as client:
        response = await client.get("/hi", params={"name": "ada"})
        assert response.status_code == 200
        assert response.json() == {"hello": "ada"}
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text("ping")
            assert await ws.receive_text() == "ping"
    assert stamp.seen == [200]
    assert is_async(Greeting("x")) and is_async(Echo())
