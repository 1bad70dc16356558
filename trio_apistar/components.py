"""The built-in components: facts of the ASGI scope, parts of the request, and parameters by name.

The application provides a few values per connection itself (the scope, receive and send, the
route, the ``WebSocket``, the request body, the nurseries); everything here is derived from those,
lazily, and at most once per connection.
"""

import inspect
import types
import typing
from typing import Any

import pydantic

from . import validation
from ._types import ASGIScope
from .bodies import BodyComponent, RequestDataComponent
from .datastructures import URL, Headers, QueryParams
from .exceptions import ValidationError
from .http import (
    Body,
    Cookie,
    Cookies,
    Header,
    Host,
    Method,
    Path,
    PathParams,
    Port,
    QueryParam,
    QueryString,
    Request,
    Scheme,
)
from .injector import Component

__all__ = ["BUILTIN_COMPONENTS", "ScalarQueryParamComponent"]


class MethodComponent(Component):
    def resolve(self, scope: ASGIScope) -> Method:
        return Method(scope.get("method", "GET"))


class SchemeComponent(Component):
    def resolve(self, scope: ASGIScope) -> Scheme:
        return Scheme(scope.get("scheme", "http"))


class HostComponent(Component):
    def resolve(self, url: URL) -> Host:
        return Host(url.components.hostname or "")


class PortComponent(Component):
    def resolve(self, url: URL) -> Port:
        port = url.components.port
        if port is None:
            port = 443 if url.scheme in ("https", "wss") else 80
        return Port(port)


class PathComponent(Component):
    def resolve(self, scope: ASGIScope) -> Path:
        return Path(scope["path"])


class QueryStringComponent(Component):
    def resolve(self, scope: ASGIScope) -> QueryString:
        return QueryString(scope.get("query_string", b"").decode("latin-1"))


class URLComponent(Component):
    def resolve(self, scope: ASGIScope) -> URL:
        return URL.from_scope(scope)


class HeadersComponent(Component):
    def resolve(self, scope: ASGIScope) -> Headers:
        return Headers.from_raw(scope.get("headers", ()))


class HeaderComponent(Component):
    """``user_agent: http.Header`` reads the ``User-Agent`` header (``None`` if absent)."""

    def resolve(self, parameter: inspect.Parameter, headers: Headers) -> Header | None:
        value = headers.get(parameter.name.replace("_", "-"))
        if value is None:
            return None if parameter.default is inspect.Parameter.empty else parameter.default
        return Header(value)

    def can_handle_parameter(self, parameter: inspect.Parameter) -> bool:
        return parameter.annotation is Header


class CookiesComponent(Component):
    """The request's cookies, parsed as browsers send them: ``name=value`` pairs split on
    ``;``, the first of a repeated name kept (RFC 6265 sends the most specific path first). A
    malformed pair is skipped, never the whole header."""

    def resolve(self, headers: Headers) -> Cookies:
        cookies: dict[str, str] = {}
        for header in headers.getlist("cookie"):
            for pair in header.split(";"):
                name, equals, value = pair.partition("=")
                name, value = name.strip(), value.strip()
                if not equals or not name:
                    continue
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                cookies.setdefault(name, value)
        return Cookies(cookies)


class CookieComponent(Component):
    """``session: http.Cookie`` reads the ``session`` cookie (``None`` if absent)."""

    def resolve(self, parameter: inspect.Parameter, cookies: Cookies) -> Cookie | None:
        value = cookies.get(parameter.name)
        if value is None:
            return None if parameter.default is inspect.Parameter.empty else parameter.default
        return Cookie(value)

    def can_handle_parameter(self, parameter: inspect.Parameter) -> bool:
        return parameter.annotation is Cookie


class QueryParamsComponent(Component):
    def resolve(self, scope: ASGIScope) -> QueryParams:
        return QueryParams.from_query_string(scope.get("query_string", b""))


class QueryParamComponent(Component):
    """``page: http.QueryParam`` reads ``?page=`` (``None`` if absent)."""

    def resolve(self, parameter: inspect.Parameter, params: QueryParams) -> QueryParam | None:
        value = params.get(parameter.name)
        if value is None:
            return None if parameter.default is inspect.Parameter.empty else parameter.default
        return QueryParam(value)

    def can_handle_parameter(self, parameter: inspect.Parameter) -> bool:
        return parameter.annotation is QueryParam


_SCALARS: dict[Any, Any] = {str: str, int: int, float: float, bool: bool}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def _scalar_type(annotation: Any) -> tuple[Any, bool] | None:
    """``(type, optional)`` for ``str``/``int``/``float``/``bool`` and their Optionals."""
    if annotation in _SCALARS:
        return annotation, False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and args[0] in _SCALARS and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return None


class ScalarQueryParamComponent(Component):
    """API Star's rule: a parameter of a plain value type that is not a path parameter is a
    query parameter of the same name, converted to that type.

    ``str``/``int``/``float``/``bool`` (and their ``| None``) convert here directly; any other
    plain type (``Decimal``, ``UUID``, ``date``, an ``Enum``, ``Annotated[int, Field(ge=1)]``)
    and ``list[...]`` of them (a repeated parameter, ``[]`` when absent) are validated by
    pydantic. A missing parameter with no default is a ``ValidationError`` (400), as is one that
    does not convert.
    """

    def resolve(self, parameter: inspect.Parameter, params: QueryParams) -> Any:
        scalar = _scalar_type(parameter.annotation)
        if scalar is None:
            return _validated_query(parameter, params)
        kind, optional = scalar
        raw = params.get(parameter.name)
        if raw is None:
            if parameter.default is not inspect.Parameter.empty:
                return parameter.default
            if optional:
                return None
            raise ValidationError({parameter.name: "This query parameter is required."})
        if kind is bool:
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValidationError({parameter.name: "Must be a valid boolean."})
        try:
            return kind(raw)
        except ValueError:
            raise ValidationError({parameter.name: f"Must be a valid {kind.__name__}."}) from None

    def can_handle_parameter(self, parameter: inspect.Parameter) -> bool:
        annotation = parameter.annotation
        if _scalar_type(annotation) is not None:
            return True
        if not validation.is_query_annotation(annotation):
            return False
        try:
            validation.adapter(annotation)  # made now, at build, and kept
        except pydantic.PydanticUserError:
            return False  # refused with the list of what is supported
        return True


def _validated_query(parameter: inspect.Parameter, params: QueryParams) -> Any:
    name, annotation = parameter.name, parameter.annotation
    raw: str | list[str] | None
    if validation.is_list_annotation(annotation):
        raw = params.getlist(name)
        if not raw and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    else:
        raw = params.get(name)
        if raw is None:
            if parameter.default is not inspect.Parameter.empty:
                return parameter.default
            if validation.body_type(annotation)[1]:
                return None
            raise ValidationError({name: "This query parameter is required."})
    validator = validation.adapter(annotation)
    try:
        if isinstance(raw, str):
            return validator.validate_strings(raw)
        return validator.validate_python(raw)
    except pydantic.ValidationError as exc:
        raise ValidationError(validation.error_detail(exc, name)) from None


class RequestComponent(Component):
    def resolve(
        self,
        scope: ASGIScope,
        method: Method,
        url: URL,
        headers: Headers,
        query_params: QueryParams,
        path_params: PathParams,
        body: Body,
    ) -> Request:
        return Request(scope, method, url, headers, query_params, path_params, body)


BUILTIN_COMPONENTS: tuple[Component, ...] = (
    CookiesComponent(),
    CookieComponent(),
    MethodComponent(),
    SchemeComponent(),
    HostComponent(),
    PortComponent(),
    PathComponent(),
    QueryStringComponent(),
    URLComponent(),
    HeadersComponent(),
    HeaderComponent(),
    QueryParamsComponent(),
    QueryParamComponent(),
    RequestDataComponent(),
    RequestComponent(),
    ScalarQueryParamComponent(),
    BodyComponent(),
)
