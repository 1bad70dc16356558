"""ASGI 3 type aliases shared by every layer.

``Scope``, ``Message``, ``Receive`` and ``Send`` are the plain shapes the server hands us.
``ASGIScope``, ``ASGIReceive`` and ``ASGISend`` are the same objects under distinct names so
that a handler can ask for them by annotation (``def handler(scope: ASGIScope)``).
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, NewType, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ASGIScope = NewType("ASGIScope", dict[str, Any])


class ASGIReceive(Protocol):
    """The ASGI ``receive`` callable of the current connection."""

    def __call__(self) -> Awaitable[Message]: ...


class ASGISend(Protocol):
    """The ASGI ``send`` callable of the current connection."""

    def __call__(self, message: Message, /) -> Awaitable[None]: ...
