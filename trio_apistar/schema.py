"""What a route reads from a request, taken from its plans, and JSON Schemas for its types.

The OpenAPI and AsyncAPI documents are made from the same plans that serve requests: every
parameter a handler, its hooks or their components read by name (query, path, header, cookie)
and every body they validate is found among the plans' steps, so the documents cannot drift
from what the app does.
"""

import inspect
import re
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic.json_schema import JsonSchemaMode

from . import validation
from .bodies import BodyComponent, RequestDataComponent
from .components import CookieComponent, HeaderComponent, QueryParamComponent
from .components import ScalarQueryParamComponent as _Scalar
from .injector import Plan, signature
from .routing import Route

if TYPE_CHECKING:
    from .planning import RoutePlan

__all__ = ["Parameter", "SchemaSet", "each", "openapi_path", "parameters", "reads_body", "summary"]

_PARAM = re.compile(r"{\+?([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?}")

Location = Literal["query", "path", "header", "cookie", "body"]


@dataclass(frozen=True)
class Parameter:
    """One thing a route reads from the request: where, under what name, of what type."""

    location: Location
    name: str
    annotation: Any
    required: bool


def openapi_path(url: str) -> str:
    """``/files/{+path}`` and ``/n/{id:int}`` as OpenAPI and AsyncAPI write them: ``{path}``."""
    return _PARAM.sub(r"{\1}", url)


def _plans(route_plan: "RoutePlan") -> Iterator[Plan]:
    yield route_plan.handler
    for hook in (*route_plan.on_request, *route_plan.on_response):
        yield hook.plan


def _required(annotation: Any, default: Any) -> bool:
    if default is not inspect.Parameter.empty:
        return False
    return not validation.body_type(annotation)[1] and not validation.is_list_annotation(annotation)


def parameters(route: Route, route_plan: "RoutePlan") -> list[Parameter]:
    """Every parameter the route reads, path parameters first, each once."""
    found: dict[tuple[str, str], Parameter] = {}
    handler = signature(route.handler).parameters
    for name in route_plan.named:
        annotation = handler[name].annotation if name in handler else str
        found["path", name] = Parameter("path", name, annotation, True)
    for plan in _plans(route_plan):
        for key in (step.key for step in plan.steps):
            parameter = _parameter_of(key)
            if parameter is not None:
                found.setdefault((parameter.location, parameter.name), parameter)
    return list(found.values())


def _parameter_of(key: Hashable) -> Parameter | None:
    if not (isinstance(key, tuple) and len(key) == 4):
        return None
    component, name, annotation, default = key
    if isinstance(component, _Scalar):
        return Parameter("query", name, annotation, _required(annotation, default))
    if isinstance(component, QueryParamComponent):
        return Parameter("query", name, str, False)
    if isinstance(component, HeaderComponent):
        return Parameter("header", name.replace("_", "-"), str, False)
    if isinstance(component, CookieComponent):
        return Parameter("cookie", name, str, False)
    if isinstance(component, BodyComponent):
        body, optional = validation.body_type(annotation)
        required = not optional and default is inspect.Parameter.empty
        return Parameter("body", name, body, required)
    return None


def reads_body(route_plan: "RoutePlan") -> bool:
    """Whether the route parses the body without a type (``http.RequestData``)."""
    return any(
        isinstance(step.key, RequestDataComponent)
        for plan in _plans(route_plan)
        for step in plan.steps
    )


def summary(obj: Any) -> tuple[str | None, str | None]:
    """The first line of ``obj``'s own docstring, and the rest (a class's, not inherited, nor
    the one ``dataclass`` makes up)."""
    if isinstance(obj, type):
        own = vars(obj).get("__doc__")
        if not isinstance(own, str) or own.startswith(f"{obj.__name__}("):
            return None, None
        doc = inspect.cleandoc(own)
    else:
        doc = inspect.getdoc(obj) or ""
    if not doc:
        return None, None
    first, _, rest = doc.partition("\n")
    return first.strip(), rest.strip() or None


class SchemaSet:
    """JSON Schemas for many types, whose models are shared under ``components/schemas``.

    :meth:`add` a type, then :meth:`build` once; :meth:`get` then gives each type's schema (a
    ``$ref`` for a model). A type pydantic cannot describe gets ``{}`` (any value).
    """

    def __init__(self) -> None:
        self._inputs: dict[tuple[int, JsonSchemaMode], tuple[Any, JsonSchemaMode]] = {}
        self._schemas: dict[tuple[int, JsonSchemaMode], dict[str, Any]] = {}
        self.definitions: dict[str, Any] = {}

    def add(self, annotation: Any, mode: JsonSchemaMode = "validation") -> None:
        """Include ``annotation``'s schema, as input (``validation``) or output."""
        self._inputs.setdefault((id(annotation), mode), (annotation, mode))

    def build(self) -> None:
        """Make every schema added, sharing definitions."""
        inputs: list[tuple[Hashable, JsonSchemaMode, pydantic.TypeAdapter[Any]]] = []
        for key, (annotation, mode) in self._inputs.items():
            try:
                adapter = validation.adapter(annotation)
                adapter.json_schema(mode=mode)
            except (pydantic.PydanticUserError, TypeError):
                self._schemas[key] = {}
                continue
            inputs.append((key, mode, adapter))
        if not inputs:
            return
        made, definitions = pydantic.TypeAdapter.json_schemas(
            inputs, ref_template="#/components/schemas/{model}"
        )
        for (made_key, _), schema in made.items():
            assert isinstance(made_key, tuple)
            self._schemas[made_key] = dict(schema)
        self.definitions = dict(definitions.get("$defs", {}))

    def get(self, annotation: Any, mode: JsonSchemaMode = "validation") -> dict[str, Any]:
        """The schema of a type added before :meth:`build`."""
        return self._schemas.get((id(annotation), mode), {})


def each(items: Iterable[Any]) -> list[Any]:
    """``items`` without repeats, in order (types compared by identity)."""
    unique: dict[int, Any] = {}
    for item in items:
        unique.setdefault(id(item), item)
    return list(unique.values())
