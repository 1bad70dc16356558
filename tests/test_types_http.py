"""Typed HTTP input and output: validated bodies and parameters, results serialised by type."""

import logging
from typing import Any

import pytest
from pydantic import BaseModel

from tests.apps.types_app import app
from trio_apistar import ASyncApp, Route, http
from trio_apistar.exceptions import ConfigurationError
from trio_apistar.test import TestClient


@pytest.fixture
async def client() -> Any:
    async with TestClient(app) as client:
        yield client


async def test_a_model_parameter_is_the_validated_json_body(client: TestClient) -> None:
    response = await client.post("/products", json={"name": "pen", "price": "1.50"})
    assert response.status_code == 200
    # serialised by the return annotation: StoredProduct's fields, never a field it lacks
    assert response.json() == {
        "name": "pen",
        "price": "1.50",
        "tags": [],
        "size": None,
        "id": 1,
        "secret": "never shown",
    }
    assert response.headers["content-type"] == "application/json"


async def test_invalid_bodies_get_400_with_dotted_paths_to_plain_messages(
    client: TestClient,
) -> None:
    response = await client.post(
        "/products",
        json={"name": "", "price": -1, "tags": ["ok", 3], "size": {"width": "wide"}},
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": {
            "name": "String should have at least 1 character",
            "price": "Input should be greater than or equal to 0",
            "tags.1": "Input should be a valid string",
            "size.width": "Input should be a valid number, unable to parse string as a number",
            "size.height": "Field required",
        }
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[1, 2]", "Input should be an object"),
        (b'"pen"', "Input should be an object"),
        (b"null", "Input should be an object"),
        (b"{nope", None),
        (b'{"name": "pen"}', {"price": "Field required"}),
        (b'{"name": 7, "price": "1"}', {"name": "Input should be a valid string"}),
        (b'{"name": "pen", "price": 1e400}', None),
        (b'{"name": "pen", "price": NaN}', None),
        (b'{"name": "pen", "price": Infinity}', None),
        (b'{"name": "pen", "price": ' + b"9" * 5000 + b"}", None),
        (b'{"name": "pen", "price": 1' + b"0" * 400 + b".5}", None),
        (b'{"name": "pen", "price": 1, "tags": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", None),
        (b"\xff\xfe", None),
    ],
)
async def test_hostile_bodies_are_400_never_500(
    client: TestClient, body: bytes, detail: object
) -> None:
    response = await client.post(
        "/products", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    if detail is not None:
        assert response.json() == {"detail": detail}
    else:
        assert isinstance(response.json()["detail"], str | dict)


async def test_deeply_nested_models_are_400(client: TestClient) -> None:
    nested: dict[str, Any] = {}
    for _ in range(50):
        nested = {"child": nested}
    assert (await client.post("/deep", json=nested)).json() == {"ok": True}
    deep = b'{"child": ' * 5000 + b"{}" + b"}" * 5000
    response = await client.post(
        "/deep", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "recursion" in response.json()["detail"] or "deep" in response.json()["detail"]


async def test_extra_fields_are_ignored_unless_the_model_forbids_them(client: TestClient) -> None:
    ok = await client.post("/products", json={"name": "pen", "price": 1, "colour": "red"})
    assert ok.status_code == 200 and "colour" not in ok.json()
    refused = await client.post("/strict", json={"name": "x", "admin": True})
    assert refused.status_code == 400
    assert refused.json() == {"detail": {"admin": "Extra inputs are not permitted"}}


async def test_forms_are_validated_like_json(client: TestClient) -> None:
    form = await client.post("/products", data={"name": "pen", "price": "2"})
    assert form.json()["price"] == "2"
    bad = await client.post("/products", data={"name": "pen", "price": "two"})
    assert bad.status_code == 400
    assert bad.json() == {"detail": {"price": "Input should be a valid decimal"}}
    multipart = await client.post(
        "/products", data={"name": "pen", "price": "3"}, files={"x": ("a.txt", b"a")}
    )
    assert multipart.status_code == 200 and multipart.json()["price"] == "3"


async def test_dataclass_typeddict_and_list_bodies(client: TestClient) -> None:
    assert (await client.post("/point", json={"x": 1, "y": "2"})).json() == {"x": 1, "y": 2}
    bad_point = await client.post("/point", json={"x": 1})
    assert bad_point.json() == {"detail": {"y": "Field required"}}
    assert (await client.post("/tag", json={"label": "a", "weight": 1})).json() == {
        "label": "a",
        "weight": 1.0,
    }
    many = await client.post("/products/many", json=[{"name": "a", "price": 1}, {"name": "b"}])
    assert many.status_code == 400
    assert many.json() == {"detail": {"1.price": "Field required"}}


async def test_empty_missing_and_unsupported_bodies(client: TestClient) -> None:
    assert (await client.post("/maybe")).json() == {"name": None}
    assert (await client.post("/maybe", json={"name": "a", "price": 1})).json() == {"name": "a"}
    empty = await client.post("/products")
    assert empty.status_code == 400
    assert empty.json() == {"detail": "This endpoint needs a request body"}
    xml = await client.post("/products", content=b"<p/>", headers={"content-type": "text/xml"})
    assert xml.status_code == 415


async def test_constrained_and_typed_query_parameters(client: TestClient) -> None:
    plain = await client.get("/page")
    assert plain.json() == {
        "page": 1,
        "ids": None,
        "tags": [],
        "price": None,
        "color": "red",
        "day": None,
        "order": "asc",
    }
    query = "page=3&ids=1&ids=2&tags=a&tags=b&price=1.25&color=blue&day=2024-02-29&order=desc"
    assert (await client.get(f"/page?{query}")).json() == {
        "page": 3,
        "ids": [1, 2],
        "tags": ["a", "b"],
        "price": "1.25",
        "color": "blue",
        "day": "2024-02-29",
        "order": "desc",
    }
    bad = await client.get("/page?page=0&ids=1&ids=x&color=green&day=2023-02-29&order=up")
    assert bad.status_code == 400
    detail = bad.json()["detail"]
    assert detail == {
        "page": "Input should be greater than or equal to 1",
        "ids.1": "Input should be a valid integer, unable to parse string as an integer",
    } or set(detail) <= {"page", "ids.1", "color", "day", "order"}
    for query, key in [
        ("page=0", "page"),
        ("ids=x", "ids.0"),
        ("color=green", "color"),
        ("day=2023-02-29", "day"),
        ("order=up", "order"),
        ("page=" + "9" * 5000, "page"),
    ]:
        response = await client.get(f"/page?{query}")
        assert response.status_code == 400, query
        assert list(response.json()["detail"]) == [key], query


async def test_constrained_and_typed_path_parameters(client: TestClient) -> None:
    assert (await client.get("/items/5")).json() == {"id": 5}
    too_small = await client.get("/items/0")
    assert too_small.status_code == 400
    assert too_small.json() == {"detail": {"item_id": "Input should be greater than or equal to 1"}}
    assert (await client.get("/items/1001")).status_code == 400
    assert (await client.get("/items/x")).status_code == 404  # not an int: no route matches
    key = "12345678-1234-5678-1234-567812345678"
    assert (await client.get(f"/keys/{key}")).json() == {"key": key, "type": "UUID"}
    bad_key = await client.get("/keys/nope")
    assert bad_key.status_code == 400 and list(bad_key.json()["detail"]) == ["key"]


async def test_every_marker_and_scalar_may_be_optional(client: TestClient) -> None:
    none = (await client.get("/optional")).json()
    assert none.pop("user_agent").startswith("python-httpx")
    assert none == {"q": None, "session": None, "limit": None}
    given = await client.get(
        "/optional?q=x&limit=3", headers={"user-agent": "me", "cookie": "session=s1"}
    )
    assert given.json() == {"q": "x", "user_agent": "me", "session": "s1", "limit": 3}


async def test_optional_components_of_any_kind_resolve() -> None:
    def handler(request: http.Request | None, headers: http.Headers | None = None) -> str:
        assert request is not None and headers is not None
        return request.method

    async with TestClient(ASyncApp(routes=[Route("/", "GET", handler)])) as client:
        assert (await client.get("/")).text == "GET"


async def test_typed_results(client: TestClient) -> None:
    assert (await client.get("/found/1")).json() == {
        "name": "found",
        "price": "1.5",
        "tags": [],
        "size": None,
    }
    assert (await client.get("/found/0")).status_code == 204


async def test_a_result_not_of_the_declared_type_is_a_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with TestClient(app, raise_server_exceptions=False) as client:
        with caplog.at_level(logging.ERROR, logger="trio_apistar"):
            response = await client.get("/lies")
    assert (response.status_code, response.json()) == (500, {"detail": "Internal server error"})
    assert "does not match its return annotation" in caplog.text


async def test_models_inside_untyped_results_are_serialised() -> None:
    class Pet(BaseModel):
        name: str

    def pets() -> dict[str, Any]:
        return {"pets": [Pet(name="rex")]}

    async with TestClient(ASyncApp(routes=[Route("/", "GET", pets)])) as client:
        assert (await client.get("/")).json() == {"pets": [{"name": "rex"}]}


async def test_untyped_request_data_refuses_what_could_not_be_answered() -> None:
    # json.loads raised RecursionError (a 500) for deep nesting, and gave inf for 1e400, which
    # the JSON reply then could not encode (another 500).
    def echo(data: http.RequestData) -> Any:
        return data

    async with TestClient(ASyncApp(routes=[Route("/", "POST", echo)])) as client:
        for body in (b"[" * 100_000 + b"]" * 100_000, b'{"x": 1e400}', b"[NaN]", b"[-Infinity]"):
            response = await client.post(
                "/", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, body[:20]
            assert response.json()["detail"].startswith("Malformed JSON")
        fine = await client.post("/", json={"x": 1e300, "text": "NaN 1e400"})
        assert fine.json() == {"x": 1e300, "text": "NaN 1e400"}


def test_unsupported_parameter_types_are_refused_saying_what_is_supported() -> None:
    def handler(amounts: set[str]) -> None:
        pass

    with pytest.raises(ConfigurationError) as refused:
        ASyncApp(routes=[Route("/", "GET", handler)])
    message = str(refused.value)
    assert "Cannot resolve parameter 'amounts'" in message
    assert "a query or path parameter of a plain type" in message
    assert "list[X]" in message and "pydantic model" in message
    assert "Component (by matching)" not in message
    assert "QueryParamComponent" not in message


def test_a_type_pydantic_cannot_validate_is_refused_at_build() -> None:
    class Opaque:
        pass

    def handler(value: list[Opaque]) -> None:
        pass

    with pytest.raises(ConfigurationError, match="Cannot resolve parameter 'value'"):
        ASyncApp(routes=[Route("/", "GET", handler)])


def test_a_path_parameter_of_an_unsupported_type_is_refused() -> None:
    def handler(key: dict[str, str]) -> None:
        pass

    with pytest.raises(ConfigurationError, match="path parameter 'key'"):
        ASyncApp(routes=[Route("/{key}", "GET", handler)])


async def test_decimal_query_parameter_used_to_be_refused() -> None:
    from decimal import Decimal

    def handler(amount: Decimal) -> dict[str, str]:
        return {"amount": str(amount)}

    async with TestClient(ASyncApp(routes=[Route("/", "GET", handler)])) as client:
        assert (await client.get("/?amount=1.10")).json() == {"amount": "1.10"}
        missing = await client.get("/")
        assert missing.json() == {"detail": {"amount": "This query parameter is required."}}
