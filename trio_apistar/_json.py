"""JSON as trio_apistar reads it from clients and writes it to them, over HTTP and WebSockets.

Writing (``dumps``): compact (no spaces after ``,`` and ``:``), UTF-8 text as it is (not
``\\u``-escaped), and no ``NaN``/``Infinity``, which are not JSON (``ValueError``). Pydantic models,
dataclasses, dates, UUIDs, Decimals and Enums, also inside dicts and lists, become the JSON values
their types say.

Reading (``loads``): ``json.loads`` with the edges a client could push on filed off, each refused
with ``JSONError`` (a ``ValueError``) whose message is plain enough to send back as is:

* nesting deeper than ``MAX_DEPTH`` (``json.loads`` would raise ``RecursionError`` near a
  thousand levels, and anything that walks the result later would too);
* ``NaN``, ``Infinity`` and numbers that overflow to infinity (not JSON, and refused by every
  encoder that follows the standard, ``dumps`` included: a handler echoing one back would fail);
* integers past Python's digit limit, text that is not UTF-8, and syntax errors (located by line
  and column, without Python's own wording).
"""

import json
import math
import re
from typing import Any, NoReturn

import pydantic_core

__all__ = ["MAX_DEPTH", "JSONError", "dumps", "jsonable", "loads"]


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


#: The deepest nesting of arrays and objects accepted.
MAX_DEPTH = 128

# A string (escapes included) or a bracket: enough to measure nesting outside strings.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JSONError(ValueError):
    """Input that is not JSON we accept; the message says why in plain words, to follow a
    prefix such as ``"Malformed JSON in the request body: "``."""


def _refuse_constant(name: str) -> NoReturn:
    raise JSONError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONError("a number is too large")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def _check_depth(text: str) -> None:
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise JSONError(f"nested deeper than {MAX_DEPTH} levels")
        elif bracket in ("]", "}"):
            depth -= 1


def loads(data: str | bytes | bytearray | memoryview) -> Any:
    """Parse ``data`` (text, or UTF-8 bytes) as JSON; raises ``JSONError``."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONError("the text is not UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    _check_depth(text)
    try:
        return _DECODER.decode(text)
    except JSONError:
        raise
    except json.JSONDecodeError as exc:
        raise JSONError(f"syntax error at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise JSONError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        # int() past sys.get_int_max_str_digits(): the only other ValueError json raises.
        raise JSONError("a number has too many digits") from None
