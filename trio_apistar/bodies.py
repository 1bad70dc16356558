"""The request body, as handlers ask for it: parsed (``http.RequestData``) or typed.

A parameter annotated with a pydantic model, a dataclass or a ``TypedDict`` (or a list of them)
is the body validated into that type (:class:`BodyComponent`); ``http.RequestData`` is the body
parsed by its content type, unvalidated. Both read JSON, url-encoded forms and multipart forms.
"""

import inspect
from typing import Any

import pydantic

from . import validation
from .datastructures import Headers
from .exceptions import BadRequest, ConfigurationError, UnsupportedMediaType, ValidationError
from .forms import parse_multipart, parse_urlencoded
from .http import Body, RequestData
from .injector import Component

__all__ = ["BodyComponent", "RequestDataComponent"]


def _content_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _unsupported(content_type: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"Cannot parse a {content_type or 'body without content-type'}: send "
        "application/json, application/x-www-form-urlencoded or multipart/form-data"
    )


class BodyComponent(Component):
    """A parameter annotated with a pydantic model, a dataclass or a ``TypedDict`` (or a list of
    them) is the request body, JSON or a form, validated into that type.

    Raises ``ValidationError`` (400, ``{"field.path": "message"}``) for a body that is not of the
    type, ``BadRequest`` for an empty one (unless the annotation allows ``None`` or there is a
    default) and ``UnsupportedMediaType`` (415) for other content types.
    """

    def resolve(self, parameter: inspect.Parameter, body: Body, headers: Headers) -> Any:
        annotation, optional = validation.body_type(parameter.annotation)
        if not body:
            if parameter.default is not inspect.Parameter.empty:
                return parameter.default
            if optional:
                return None
            raise BadRequest("This endpoint needs a request body")
        validator = validation.adapter(annotation)
        content_type = _content_type(headers)
        try:
            if _is_json(content_type):
                return validation.parse_json(validator, body)
            if content_type == "application/x-www-form-urlencoded":
                return validator.validate_python(parse_urlencoded(body))
            if content_type == "multipart/form-data":
                return validator.validate_python(parse_multipart(body, headers["content-type"]))
        except pydantic.ValidationError as exc:
            raise ValidationError(validation.error_detail(exc)) from None
        raise _unsupported(content_type)

    def can_handle_parameter(self, parameter: inspect.Parameter) -> bool:
        if not validation.is_body_annotation(parameter.annotation):
            return False
        annotation = validation.body_type(parameter.annotation)[0]
        try:
            validation.adapter(annotation)  # made now, at build, and kept
        except pydantic.PydanticUserError as exc:
            message = str(exc).splitlines()[0]
            raise ConfigurationError(
                f"Parameter {parameter.name!r}: pydantic cannot validate {annotation!r}: {message}"
            ) from None
        return True


class RequestDataComponent(Component):
    """The body parsed by its content type: JSON, a url-encoded form or a multipart form (a
    dict, with :class:`~trio_apistar.forms.UploadedFile` for files); ``None`` if empty."""

    def resolve(self, body: Body, headers: Headers) -> RequestData:
        if not body:
            return RequestData(None)
        content_type = _content_type(headers)
        if _is_json(content_type):
            try:
                return RequestData(validation.loads(body))
            except ValueError as exc:
                raise BadRequest(f"Malformed JSON in the request body: {exc}") from None
        if content_type == "application/x-www-form-urlencoded":
            return RequestData(parse_urlencoded(body))
        if content_type == "multipart/form-data":
            return RequestData(parse_multipart(body, headers["content-type"]))
        raise _unsupported(content_type)
