"""The one JSON encoding trio_apistar sends, over HTTP and WebSockets alike.

Compact (no spaces after ``,`` and ``:``), UTF-8 text as it is (not ``\\u``-escaped), and no
``NaN``/``Infinity``, which are not JSON (``ValueError``). Pydantic models, dataclasses, dates,
UUIDs, Decimals and Enums, also inside dicts and lists, become the JSON values their types say.
"""

import json
from typing import Any

import pydantic_core

__all__ = ["dumps", "jsonable"]


def jsonable(value: Any) -> Any:
    """The encoder's ``default``: ``value`` as plain JSON values; ``TypeError`` if it has none."""
    try:
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable") from None


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=jsonable
)


def dumps(data: Any) -> str:
    """``data`` as compact JSON text; ``TypeError``/``ValueError`` for what JSON cannot hold."""
    return _ENCODER.encode(data)
