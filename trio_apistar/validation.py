"""Typed data: which annotations are validated, how, and how their errors read.

Built on pydantic v2. A handler parameter annotated with a pydantic model, a dataclass or a
``TypedDict`` (or a list of them) is the request body; one annotated with a plain value type
(``int``, ``Decimal``, ``UUID``, an ``Enum``, ``Annotated[int, Field(ge=1)]``, ``list[int]``,
...) is a query or path parameter. Each annotation gets one pydantic ``TypeAdapter``, made when
the app is built and kept for the life of the process, so per request only the validation runs.

Errors read as API Star wrote them: a map from each failing field's dotted path
(``"items.0.price"``) to a plain message, or a single message when the value as a whole is wrong.

Pure Python: nothing here knows about ASGI or trio.
"""

import dataclasses
import datetime
import decimal
import enum
import inspect
import re
import types
import typing
import uuid
from collections.abc import Callable, Hashable
from typing import Annotated, Any, Literal

import pydantic
import typing_extensions

from . import _json
from ._json import jsonable
from .exceptions import ValidationError

__all__ = [
    "ErrorDetail",
    "adapter",
    "body_type",
    "error_detail",
    "is_body_annotation",
    "is_model_type",
    "is_query_annotation",
    "loads",
    "output_serializer",
    "param_checker",
    "parse_json",
    "to_jsonable",
]

#: An error's detail: one message for the whole value, else dotted field paths to messages.
ErrorDetail = str | dict[str, str]

#: Value types a query or path parameter can have (plus Enums and Literals).
_PLAIN_TYPES: frozenset[Any] = frozenset(
    {
        str,
        int,
        float,
        bool,
        decimal.Decimal,
        uuid.UUID,
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
    }
)

_ADAPTERS: dict[Hashable, pydantic.TypeAdapter[Any]] = {}


def adapter(annotation: Any) -> pydantic.TypeAdapter[Any]:
    """The pydantic ``TypeAdapter`` of ``annotation``, made once per annotation.

    Raises ``pydantic.PydanticSchemaGenerationError`` (a ``TypeError``) or
    ``pydantic.PydanticUserError`` when pydantic cannot validate that type.
    """
    try:
        return _ADAPTERS[annotation]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation: not cached, the caller keeps the adapter
        return pydantic.TypeAdapter(annotation)
    made = _ADAPTERS[annotation] = pydantic.TypeAdapter(annotation)
    return made


def _strip(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)``: ``annotation`` without ``Annotated[...]`` and ``| None``."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, optional
            annotation, optional = args[0], True
        else:
            return annotation, optional


def is_model_type(annotation: Any) -> bool:
    """True for a pydantic model, a dataclass or a ``TypedDict`` class."""
    if not isinstance(annotation, type):
        return False
    return (
        issubclass(annotation, pydantic.BaseModel)
        or dataclasses.is_dataclass(annotation)
        or typing_extensions.is_typeddict(annotation)
    )


def _is_plain(annotation: Any) -> bool:
    base, _ = _strip(annotation)
    if base in _PLAIN_TYPES:
        return True
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return True
    return typing.get_origin(base) is Literal


def _contains_model(annotation: Any) -> bool:
    base, _ = _strip(annotation)
    if is_model_type(base):
        return True
    return any(_contains_model(arg) for arg in typing.get_args(base) if arg is not Ellipsis)


def is_body_annotation(annotation: Any) -> bool:
    """True when a parameter so annotated is the request body: a model, dataclass or
    ``TypedDict``, or a list of them, optionally ``Annotated`` and/or ``| None``."""
    base, _ = _strip(annotation)
    if is_model_type(base):
        return True
    if typing.get_origin(base) is list:
        (item,) = typing.get_args(base) or (Any,)
        return is_body_annotation(item)
    return False


def body_type(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of a body parameter's annotation (``Annotated`` kept)."""
    _, optional = _strip(annotation)
    if not optional:
        return annotation, False
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return annotation, True  # ``Annotated[Model | None, ...]``: pydantic takes None itself
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0], True


def is_query_annotation(annotation: Any) -> bool:
    """True for the annotations a query parameter can have: a plain value type (``int``,
    ``Decimal``, ``UUID``, ``date``, an ``Enum``, a ``Literal``, ...) or a ``list`` of one (a
    repeated parameter), optionally ``Annotated`` with constraints and/or ``| None``."""
    base, _ = _strip(annotation)
    if typing.get_origin(base) is list:
        args = typing.get_args(base)
        return len(args) == 1 and _is_plain(args[0])
    return _is_plain(base)


def is_list_annotation(annotation: Any) -> bool:
    """True for ``list[...]`` (possibly ``Annotated`` and/or ``| None``)."""
    return typing.get_origin(_strip(annotation)[0]) is list


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def error_detail(exc: pydantic.ValidationError, prefix: str = "") -> ErrorDetail:
    """API Star's shape for a validation failure: the message alone when the value as a whole
    is wrong (and ``prefix`` is empty), else ``{"dotted.path": "message"}``, one message per
    path (the first), ``prefix`` (a parameter's name) leading every path."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not prefix and all(not error["loc"] for error in errors):
        return errors[0]["msg"]
    detail: dict[str, str] = {}
    for error in errors:
        path = _path((prefix, *error["loc"]) if prefix else error["loc"])
        detail.setdefault(path, error["msg"])
    return detail


# -- JSON --------------------------------------------------------------------------------------

#: What may parse to a number no double holds: an exponent of three digits or more, or a run of
#: 300 digits (only in a body at least that long); and JavaScript's ``NaN``/``Infinity``. Only a
#: body with one of these is parsed the slow way, every number checked.
_EXPONENT_BYTES = re.compile(rb"[0-9][eE]\+?[0-9]{3}")
_EXPONENT_TEXT = re.compile(r"[0-9][eE]\+?[0-9]{3}")
_RUN_BYTES = re.compile(rb"[0-9]{300}")
_RUN_TEXT = re.compile(r"[0-9]{300}")


def _suspect(data: str | bytes) -> bool:
    if isinstance(data, str):
        return (
            "NaN" in data
            or "Infinity" in data
            or _EXPONENT_TEXT.search(data) is not None
            or (len(data) >= 300 and _RUN_TEXT.search(data) is not None)
        )
    return (
        b"NaN" in data
        or b"Infinity" in data
        or _EXPONENT_BYTES.search(data) is not None
        or (len(data) >= 300 and _RUN_BYTES.search(data) is not None)
    )


def loads(data: str | bytes) -> Any:
    """Parse a JSON request body or message (bytes must be UTF-8, as RFC 8259 says; see
    ``_json.loads``).

    Stricter than ``json.loads`` where a reply could not be JSON again, or where a client
    could push on the interpreter: numbers too large for a double (``1e400``), ``NaN`` and
    ``Infinity``, and nesting past 128 levels are refused. Raises ``ValueError`` (``JSONError``,
    its message in plain words, fit for the client) for those, for malformed JSON and invalid
    UTF-8.
    """
    return _json.loads(data)


def parse_json(validator: pydantic.TypeAdapter[Any], data: str | bytes) -> Any:
    """``data`` parsed as JSON and validated; ``pydantic.ValidationError`` if it is not JSON
    (the error says ``Invalid JSON: ...``) or not valid, with the same refusals as
    :func:`loads`."""
    if not _suspect(data):
        return validator.validate_json(data)
    try:
        value = loads(data)
    except ValueError as exc:
        raise pydantic.ValidationError.from_exception_data(
            "json", [{"type": "json_invalid", "loc": (), "input": "", "ctx": {"error": str(exc)}}]
        ) from None
    return validator.validate_python(value)


def to_jsonable(value: Any) -> Any:
    """The ``default`` of our JSON encoder (``_json.jsonable``): models, dataclasses, dates, UUIDs,
    Decimals, Enums and the like as JSON values; ``TypeError`` for anything else, as ``json``."""
    return jsonable(value)


# -- parameters and results ----------------------------------------------------------------------


_UNCHECKED: frozenset[Any] = frozenset({int, float, str, Any, inspect.Parameter.empty})


def param_checker(name: str, annotation: Any) -> Callable[[Any], Any] | None:
    """A function validating a path parameter already converted by the router, or ``None`` when
    the annotation has nothing to check (``int``, ``float``, ``str``, no annotation). It raises
    :class:`~trio_apistar.exceptions.ValidationError` (400), ``{name: message}``."""
    if annotation in _UNCHECKED or hasattr(annotation, "__supertype__"):
        return None
    validator = adapter(annotation)

    def check(value: Any) -> Any:
        try:
            if isinstance(value, str):
                return validator.validate_strings(value)
            return validator.validate_python(value)
        except pydantic.ValidationError as exc:
            raise ValidationError(error_detail(exc, name)) from None

    return check


def output_serializer(annotation: Any) -> Callable[[Any], bytes] | None:
    """For a return annotation that names a model, dataclass or ``TypedDict`` (also inside a
    list, dict, union ...): a function turning a handler's result into JSON by that type
    (subclass fields and anything else the type does not declare are left out). ``None`` for
    other annotations. The function raises ``TypeError`` when the result does not match."""
    if not _contains_model(annotation):
        return None
    validator = adapter(annotation)

    def serialize(result: Any) -> bytes:
        try:
            value = validator.validate_python(result)
        except pydantic.ValidationError as exc:
            raise TypeError(
                f"The handler's result does not match its return annotation: {error_detail(exc)}"
            ) from None
        return validator.dump_json(value)

    return serialize
