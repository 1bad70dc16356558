"""``app.asyncapi()``: an AsyncAPI 3.0 document describing the app's WebSocket routes.

Each WebSocket route is a channel at its URL (path parameters as channel parameters, query
parameters and headers in the channel's ``ws`` binding). The messages the route receives and
sends are the types its ``Route(..., receives=..., sends=...)`` names, a handler's signature
cannot show them. The app's operations are ``receive`` (what clients send it) and ``send``
(what it sends them). Payloads are pydantic's JSON Schemas, as in ``app.openapi()``.
"""

import re
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import schema
from .routing import Router

if TYPE_CHECKING:
    from .planning import RoutePlan
    from .routing import Route

__all__ = ["asyncapi"]

#: AsyncAPI's pattern for component and channel names.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _key(name: str) -> str:
    return _UNSAFE.sub("_", name.replace(":", "."))


def _message_name(kind: Any) -> str:
    name = getattr(kind, "__name__", None)
    if isinstance(name, str) and typing.get_origin(kind) is None:
        return _key(name)
    return _key(repr(kind).replace("typing.", ""))


def asyncapi(
    router: Router,
    plans: Mapping["Route", "RoutePlan"],
    *,
    title: str,
    version: str,
    description: str | None = None,
    servers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the WebSocket routes of ``router``, planned as ``plans``."""
    schemas = schema.SchemaSet()
    routes = []
    for compiled in router.routes:
        route, plan = compiled.route, plans[compiled.route]
        if plan.kind != "websocket" or not route.include_in_schema:
            continue
        params = schema.parameters(route, plan)
        for param in params:
            if param.location in ("query", "header"):
                schemas.add(param.annotation)
        for kind in route.receives:
            schemas.add(kind, "validation")
        for kind in route.sends:
            schemas.add(kind, "serialization")
        routes.append((compiled.url, compiled.name, route, params))
    schemas.build()

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for url, name, route, params in routes:
        channel_id = _key(name)
        channel: dict[str, Any] = {"address": schema.openapi_path(url)}
        first, rest = schema.summary(route.handler)
        if first:
            channel["summary"] = first
        if rest:
            channel["description"] = rest
        path_params = {
            p.name: {"description": f"Path parameter ({_type_name(p.annotation)})"}
            for p in params
            if p.location == "path"
        }
        if path_params:
            channel["parameters"] = path_params
        binding = _binding(params, schemas)
        if binding:
            channel["bindings"] = {"ws": binding}
        channel_messages: dict[str, Any] = {}
        for action, kinds, mode in (
            ("receive", route.receives, "validation"),
            ("send", route.sends, "serialization"),
        ):
            refs = []
            for kind in schema.each(kinds):
                payload = schemas.get(kind, mode)  # type: ignore[arg-type]
                message_name = _message(messages, kind, payload, action)
                channel_messages[message_name] = {"$ref": f"#/components/messages/{message_name}"}
                refs.append({"$ref": f"#/channels/{channel_id}/messages/{message_name}"})
            if refs:
                operations[f"{channel_id}.{action}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "messages": refs,
                }
        channel["messages"] = channel_messages
        channels[channel_id] = channel

    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    document: dict[str, Any] = {"asyncapi": "3.0.0", "info": info}
    if servers:
        document["servers"] = servers
    document["defaultContentType"] = "application/json"
    document["channels"] = channels
    document["operations"] = operations
    document["components"] = {"messages": messages, "schemas": schemas.definitions}
    return document


def _message(messages: dict[str, Any], kind: Any, payload: dict[str, Any], action: str) -> str:
    """Add ``kind``'s message to ``messages`` (once per payload); return its name."""
    base = _message_name(kind)
    name, number = base, 1
    while name in messages and messages[name]["payload"] != payload:
        # Another type of the same name, or this one sent and received with different schemas
        # (a Decimal is read from a number or a string, sent as a string).
        number += 1
        name = f"{base}{'Sent' if action == 'send' else 'Received'}{'' if number == 2 else number}"
    if name not in messages:
        message: dict[str, Any] = {"name": name, "contentType": "application/json"}
        first, rest = schema.summary(kind)
        if first:
            message["summary"] = first
        if rest:
            message["description"] = rest
        message["payload"] = payload
        messages[name] = message
    return name


def _binding(params: list[schema.Parameter], schemas: schema.SchemaSet) -> dict[str, Any]:
    """The ``ws`` channel binding: the handshake's query parameters and headers."""
    binding: dict[str, Any] = {}
    for location, field in (("query", "query"), ("header", "headers")):
        listed = [p for p in params if p.location == location]
        if not listed:
            continue
        properties = {p.name: schemas.get(p.annotation) for p in listed}
        shape: dict[str, Any] = {"type": "object", "properties": properties}
        required = [p.name for p in listed if p.required]
        if required:
            shape["required"] = required
        binding[field] = shape
    if binding:
        binding["bindingVersion"] = "0.1.0"
    return binding


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)
