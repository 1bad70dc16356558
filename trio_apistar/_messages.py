"""What a WebSocket message becomes when a handler asks for JSON, or for a type.

``WebSocket.receive_json`` and ``WebSocket.iter_json`` (``websocket.py``) take a message and
hand it here: parsed as JSON (with the limits of ``_json``), validated into a type through its
cached pydantic validator, or given to a parser of the handler's own. Whatever the client sent,
what comes out is a value or a ``WebSocketInvalidData`` whose reason is plain words (the 1007
close reason), never a parser's own wording.
"""

import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pydantic

from . import validation
from .exceptions import WebSocketDisconnect, WebSocketInvalidData, WebSocketValidationError

__all__ = ["JSONMessages", "decode_json"]

_T = TypeVar("_T")


def _is_type(candidate: Any) -> bool:
    """A type to validate into (a class, ``list[X]``, ``X | Y``, ``Annotated[...]``), as opposed
    to a ``loads`` function."""
    return isinstance(candidate, type) or typing.get_origin(candidate) is not None


def decode_json(data: str | bytes, loads: Any = None) -> Any:
    """``data`` parsed as JSON (``loads=None``), validated into the type ``loads``, or given to
    the parser ``loads``. Raises ``WebSocketInvalidData`` (and its subclass
    ``WebSocketValidationError`` for a value not of the type)."""
    if loads is not None and _is_type(loads):
        validator = validation.adapter(loads)
        try:
            return validation.parse_json(validator, data)
        except pydantic.ValidationError as exc:
            raise WebSocketValidationError(validation.error_detail(exc)) from None
    if loads is None:
        try:
            return validation.loads(data)
        except ValueError as exc:  # JSONError: its message is plain and meant for clients
            raise WebSocketInvalidData(f"Invalid JSON message: {exc}") from None
    try:
        return loads(data)
    except (ValueError, RecursionError) as exc:
        # Another parser's wording is its own: the client gets a plain reason.
        raise WebSocketInvalidData("Invalid JSON message") from exc


class JSONMessages(AsyncIterator[_T]):
    """What ``WebSocket.iter_json`` returns: each message as ``kind``, until the client leaves."""

    __slots__ = ("_kind", "_receive_json")

    def __init__(self, receive_json: Callable[[Any], Awaitable[Any]], kind: Any) -> None:
        self._receive_json = receive_json
        self._kind = kind

    async def __anext__(self) -> _T:
        try:
            message: _T = await self._receive_json(self._kind)
            return message
        except WebSocketDisconnect:
            raise StopAsyncIteration from None
