"""``app.openapi()`` and ``app.asyncapi()``: what they describe, and that they validate against
the official schemas (openapi-spec-validator; AsyncAPI's JSON Schema from ``@asyncapi/specs``,
which ``scripts/test`` installs)."""

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from pydantic import BaseModel

from tests.apps.types_app import Product, Update, app
from trio_apistar import ASyncApp, Component, Route, WebSocket, http
from trio_apistar.apidocs import docs_routes
from trio_apistar.test import TestClient

ROOT = Path(__file__).resolve().parent.parent
ASYNCAPI_SCHEMA = ROOT / ".cache/npm/node_modules/@asyncapi/specs/schemas/3.0.0.json"


def validate_asyncapi(document: dict[str, Any]) -> None:
    """Validate against AsyncAPI 3.0.0's official JSON Schema; raises ``ValidationError``."""
    if not ASYNCAPI_SCHEMA.exists():
        message = "the AsyncAPI schema is missing: scripts/test installs @asyncapi/specs"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    validator.validate(document)


class Room(BaseModel):
    """A chat room's message."""

    text: str


class Auth:
    def on_request(self, authorization: http.Header) -> None:
        pass


Token = http.QueryParam


class User(str):
    pass


class UserComponent(Component):
    def resolve(self, token: int) -> User:  # a query parameter the handler never names
        return User(str(token))


async def room(ws: WebSocket, room_id: int, user: User, mode: str = "chat") -> None:
    """A room.

    Say things."""


def whoami(user: User) -> dict[str, str]:
    return {"user": user}


def raw(data: http.RequestData) -> http.JSONResponse:
    return http.JSONResponse(data)


def page() -> str:
    return "<p>hi</p>"


def nothing() -> None:
    pass


def build() -> ASyncApp:
    return ASyncApp(
        routes=[
            Route("/rooms/{room_id}", "GET", room, receives=[Room], sends=Room),
            Route("/whoami", "GET", whoami),
            Route("/raw", "POST", raw),
            Route("/page", "GET", page),
            Route("/nothing", "DELETE", nothing),
            *docs_routes("/docs", title="Rooms"),
        ],
        components=[UserComponent()],
        event_hooks=[Auth()],
    )


def test_the_openapi_document_describes_bodies_parameters_and_responses() -> None:
    document = app.openapi(title="Shop", version="2.0", description="Things for sale")
    validate_openapi(document)  # type: ignore[arg-type]
    assert document["info"] == {"title": "Shop", "version": "2.0", "description": "Things for sale"}
    paths = document["paths"]
    assert "/stream" not in paths and "/strict-stream" not in paths  # WebSockets: AsyncAPI
    create = paths["/products"]["post"]
    assert create["summary"] == "Create a product."
    assert create["requestBody"]["required"] is True
    body = create["requestBody"]["content"]
    assert set(body) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    product_ref = body["application/json"]["schema"]["$ref"]
    product = document["components"]["schemas"][product_ref.rsplit("/", 1)[1]]
    assert product["required"] == ["name", "price"]
    ok = create["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/StoredProduct"}
    assert set(create["responses"]) == {"200", "400", "413", "415"}
    error = create["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
    assert error == "#/components/schemas/ValidationError"

    params = {p["name"]: p for p in paths["/page"]["get"]["parameters"]}
    assert params["page"]["schema"] == {"default": 1, "minimum": 1, "type": "integer"} or (
        params["page"]["schema"]["minimum"] == 1
    )
    assert params["page"]["required"] is False
    assert params["ids"]["schema"]["anyOf"][0] == {"items": {"type": "integer"}, "type": "array"}
    assert params["order"]["schema"]["enum"] == ["asc", "desc"]
    item = paths["/items/{item_id}"]["get"]["parameters"]
    assert item == [
        {
            "name": "item_id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
        }
    ]
    optional = {(p["in"], p["name"]) for p in paths["/optional"]["get"]["parameters"]}
    assert optional == {
        ("query", "q"),
        ("header", "user-agent"),
        ("cookie", "session"),
        ("query", "limit"),
    }
    found = paths["/found/{product_id}"]["get"]["responses"]
    assert set(found) >= {"200", "204"}
    assert "requestBody" not in paths["/page"]["get"]


def test_what_hooks_and_components_read_is_documented_too() -> None:
    document = build().openapi()
    validate_openapi(document)  # type: ignore[arg-type]
    paths = document["paths"]
    assert not any(path.startswith("/docs") for path in paths)
    whoami = {(p["in"], p["name"], p["required"]) for p in paths["/whoami"]["get"]["parameters"]}
    assert whoami == {("query", "token", True), ("header", "authorization", False)}
    assert set(paths["/raw"]["post"]["requestBody"]["content"]) >= {"application/json"}
    assert paths["/raw"]["post"]["responses"]["200"]["content"] == {"application/json": {}}
    assert paths["/page"]["get"]["responses"]["200"]["content"]["text/html"]
    assert set(paths["/nothing"]["delete"]["responses"]) == {"204"}


def test_the_asyncapi_document_describes_channels_and_messages() -> None:
    document = build().asyncapi(title="Rooms", version="1.0")
    validate_asyncapi(document)
    assert document["asyncapi"] == "3.0.0"
    channel = document["channels"]["room"]
    assert channel["address"] == "/rooms/{room_id}"
    assert channel["summary"] == "A room."
    assert channel["parameters"] == {"room_id": {"description": "Path parameter (int)"}}
    query = channel["bindings"]["ws"]["query"]
    assert set(query["properties"]) == {"token", "mode"}
    assert query["required"] == ["token"]
    assert channel["bindings"]["ws"]["headers"]["properties"] == {
        "authorization": {"type": "string"}
    }
    assert channel["messages"] == {"Room": {"$ref": "#/components/messages/Room"}}
    operations = document["operations"]
    assert operations["room.receive"]["action"] == "receive"
    assert operations["room.send"]["messages"] == [{"$ref": "#/channels/room/messages/Room"}]
    message = document["components"]["messages"]["Room"]
    assert message["summary"] == "A chat room's message."
    assert message["payload"] == {"$ref": "#/components/schemas/Room"}
    assert document["components"]["schemas"]["Room"]["required"] == ["text"]


def test_the_types_app_asyncapi_document_validates() -> None:
    document = app.asyncapi()
    validate_asyncapi(document)
    messages = document["components"]["messages"]
    stream = document["operations"]
    assert stream["stream.receive"]["messages"] == [{"$ref": "#/channels/stream/messages/Product"}]
    assert stream["stream.send"]["messages"] == [{"$ref": "#/channels/stream/messages/Update"}]
    # Product is read from a number or a string (Decimal) but sent as a string: two messages
    sent = stream["strict_stream.send"]["messages"][0]["$ref"].rsplit("/", 1)[1]
    assert sent == "ProductSent"
    assert messages["Product"]["payload"] != messages["ProductSent"]["payload"]
    assert Product.__name__ in messages and Update.__name__ in messages


def test_the_validators_used_here_do_reject_broken_documents() -> None:
    openapi = app.openapi()
    broken = copy.deepcopy(openapi)
    broken["paths"]["/page"]["get"]["parameters"][0]["in"] = "body"
    with pytest.raises(Exception, match="body"):
        validate_openapi(broken)  # type: ignore[arg-type]
    asyncapi = build().asyncapi()
    del asyncapi["operations"]["room.receive"]["action"]
    with pytest.raises(jsonschema.ValidationError):
        validate_asyncapi(asyncapi)


async def test_docs_routes_serve_both_documents_and_the_page() -> None:
    rooms = build()
    async with TestClient(rooms) as client:
        openapi = await client.get("/docs/openapi.json")
        asyncapi = await client.get("/docs/asyncapi.json")
        page = await client.get("/docs")
    assert openapi.json() == rooms.openapi(title="Rooms")
    assert asyncapi.json() == rooms.asyncapi(title="Rooms")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "openapi.json" in page.text and "asyncapi.json" in page.text
    assert "<script src" not in page.text and "https://" not in page.text  # self-contained
