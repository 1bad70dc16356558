"""``app.openapi()``: an OpenAPI 3.1 document describing the app's HTTP routes.

Paths and operations come from the routes; parameters and request bodies from what the routes'
plans read (handler, hooks and components alike); responses from each handler's return
annotation, plus the error responses the framework itself may answer with. Schemas are
pydantic's JSON Schemas (OpenAPI 3.1 speaks JSON Schema 2020-12, as pydantic does).
WebSocket routes are described by ``app.asyncapi()`` instead.
"""

import inspect
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import schema, validation
from .http import HTMLResponse, JSONResponse, PlainTextResponse, Response
from .injector import signature
from .routing import Router

if TYPE_CHECKING:
    from .planning import RoutePlan
    from .routing import Route

__all__ = ["openapi"]

_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_ERROR_SCHEMAS: dict[str, Any] = {
    "HTTPError": {
        "type": "object",
        "title": "HTTPError",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationError": {
        "type": "object",
        "title": "ValidationError",
        "description": "One message for the whole input, or dotted field paths to messages.",
        "properties": {
            "detail": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": {"type": "string"}},
                ]
            }
        },
        "required": ["detail"],
    },
}

_BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")


def _error(description: str, name: str = "HTTPError") -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def openapi(
    router: Router,
    plans: Mapping["Route", "RoutePlan"],
    *,
    title: str,
    version: str,
    description: str | None = None,
    servers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the HTTP routes of ``router``, planned as ``plans``."""
    schemas = schema.SchemaSet()
    routes = []
    for compiled in router.routes:
        route, plan = compiled.route, plans[compiled.route]
        if plan.kind != "http" or not route.include_in_schema:
            continue
        if route.method.lower() not in _METHODS:
            continue
        params = schema.parameters(route, plan)
        returns = signature(route.handler).return_annotation
        for param in params:
            schemas.add(param.annotation)
        outputs = _outputs(returns)
        for output in outputs:
            schemas.add(output, "serialization")
        routes.append((compiled.url, compiled.name, route, plan, params, returns, outputs))
    schemas.build()

    paths: dict[str, dict[str, Any]] = {}
    for url, name, route, plan, params, returns, outputs in routes:
        operation = _operation(name, route, plan, params, returns, outputs, schemas)
        paths.setdefault(schema.openapi_path(url), {})[route.method.lower()] = operation
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    document: dict[str, Any] = {"openapi": "3.1.0", "info": info}
    if servers:
        document["servers"] = servers
    document["paths"] = paths
    document["components"] = {"schemas": {**schemas.definitions, **_ERROR_SCHEMAS}}
    return document


def _outputs(returns: Any) -> list[Any]:
    """The types a return annotation describes as JSON (``None`` and responses left out)."""
    if returns in (Any, None, type(None), inspect.Signature.empty):
        return []
    if isinstance(returns, type) and issubclass(returns, Response | str | bytes):
        return []
    if _is_optional(returns):
        returns = validation.body_type(returns)[0]
    return [returns]


def _is_optional(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return type(None) in args and typing.get_origin(annotation) is not typing.Annotated


def _operation(
    name: str,
    route: "Route",
    plan: "RoutePlan",
    params: list[schema.Parameter],
    returns: Any,
    outputs: list[Any],
    schemas: schema.SchemaSet,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": name}
    namespace, _, _ = name.rpartition(":")
    if namespace:
        operation["tags"] = [namespace.replace(":", ".")]
    first, rest = schema.summary(route.handler)
    if first:
        operation["summary"] = first
    if rest:
        operation["description"] = rest
    listed = []
    body = None
    for param in params:
        if param.location == "body":
            body = param
            continue
        item: dict[str, Any] = {
            "name": param.name,
            "in": param.location,
            "required": param.required,
            "schema": schemas.get(param.annotation),
        }
        listed.append(item)
    if listed:
        operation["parameters"] = listed
    if body is not None:
        # A form is a flat set of fields: a list of models comes as JSON only.
        kinds = _BODY_TYPES if validation.is_model_type(body.annotation) else _BODY_TYPES[:1]
        content = {kind: {"schema": schemas.get(body.annotation)} for kind in kinds}
        operation["requestBody"] = {"required": body.required, "content": content}
    elif schema.reads_body(plan):
        operation["requestBody"] = {"content": {kind: {} for kind in _BODY_TYPES}}
    operation["responses"] = _responses(returns, outputs, schemas, params, body, plan)
    return operation


def _responses(
    returns: Any,
    outputs: list[Any],
    schemas: schema.SchemaSet,
    params: list[schema.Parameter],
    body: schema.Parameter | None,
    plan: "RoutePlan",
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if returns in (None, type(None)):
        responses["204"] = {"description": "No content"}
    elif outputs:
        content = {"application/json": {"schema": schemas.get(outputs[0], "serialization")}}
        responses["200"] = {"description": "OK", "content": content}
        if _is_optional(returns):
            responses["204"] = {"description": "No content"}
    else:
        responses["200"] = {"description": "OK", **_media(returns)}
    if any(p.location in ("query", "path") for p in params) or body is not None:
        responses["400"] = _error("The parameters or body are not valid", "ValidationError")
    if body is not None or schema.reads_body(plan):
        responses["413"] = _error("The request body is too large")
        responses["415"] = _error("The request body's content type cannot be parsed")
    return responses


def _media(returns: Any) -> dict[str, Any]:
    """The content of a response whose annotation is a ``Response`` class, ``str`` or ``bytes``."""
    string = {"schema": {"type": "string"}}
    if returns is str or returns is HTMLResponse:
        return {"content": {"text/html": string}}
    if returns is PlainTextResponse:
        return {"content": {"text/plain": string}}
    if returns is bytes:
        return {"content": {"application/octet-stream": string}}
    if returns is JSONResponse:
        return {"content": {"application/json": {}}}
    media_type = getattr(returns, "media_type", None)
    if isinstance(media_type, str):
        return {"content": {media_type: {}}}
    return {}
