"""``CORS``: an event hook for browsers on other origins, over HTTP and WebSockets.

HTTP requests get the ``Access-Control-*`` headers of the Fetch standard, and preflight
``OPTIONS`` requests are answered (204) whether or not a route takes ``OPTIONS``. WebSocket
handshakes are not covered by CORS at all: a page on any site may open a socket to your app
with the user's cookies (cross-site WebSocket hijacking), so the same list of origins is
checked on them and others are refused with 403.

List it first in ``event_hooks``, before any hook that accepts WebSockets::

    app = ASyncApp(routes, event_hooks=[CORS(["https://app.example.com"]), ...])
"""

from collections.abc import Iterable

from .exceptions import WebSocketProtocolError
from .http import Headers, Method, Response
from .websocket import WebSocket

__all__ = ["CORS"]

_SAFE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class CORS:
    """Allow the browsers of ``allow_origins`` (``"*"`` for any) to call this app.

    ``allow_methods`` and ``allow_headers`` answer preflights (``allow_headers=["*"]`` allows
    whatever the browser asks for); ``allow_credentials`` lets pages send cookies (then the
    origin is echoed, never ``*``); ``expose_headers`` lets scripts read more response
    headers; ``max_age`` is how long browsers may cache a preflight, in seconds.
    ``check_websocket_origin=False`` leaves WebSocket handshakes alone.
    """

    def __init__(
        self,
        allow_origins: Iterable[str] = (),
        *,
        allow_methods: Iterable[str] = _SAFE_METHODS,
        allow_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        expose_headers: Iterable[str] = (),
        max_age: int = 600,
        check_websocket_origin: bool = True,
    ) -> None:
        self.allow_origins = frozenset(allow_origins)
        self.allow_methods = ", ".join(method.upper() for method in allow_methods)
        self.allow_headers = [header.lower() for header in allow_headers]
        self.allow_credentials = allow_credentials
        self.expose_headers = ", ".join(expose_headers)
        self.max_age = max_age
        self.check_websocket_origin = check_websocket_origin

    def allows(self, origin: str) -> bool:
        """Whether a page on ``origin`` may call the app."""
        return "*" in self.allow_origins or origin in self.allow_origins

    def on_request(self, ws: WebSocket, headers: Headers) -> None:
        """Refuse (403) a WebSocket handshake from a page on an origin not allowed."""
        origin = headers.get("origin")
        if self.check_websocket_origin and origin is not None and not self.allows(origin):
            raise WebSocketProtocolError(f"Origin {origin!r} is not allowed", status_code=403)

    def on_response(self, method: Method, headers: Headers, response: Response) -> Response | None:
        """Answer a preflight, or add the CORS headers to an allowed origin's response."""
        origin = headers.get("origin")
        if origin is None:
            return None
        preflight = method == "OPTIONS" and "access-control-request-method" in headers
        if not self.allows(origin):
            if preflight:
                return Response(f"Origin {origin!r} is not allowed", 400, {"vary": "Origin"})
            return None
        cors = self._origin_headers(origin)
        if preflight:
            cors["access-control-allow-methods"] = self.allow_methods
            requested = headers.get("access-control-request-headers", "")
            if requested and ("*" in self.allow_headers or self._all_allowed(requested)):
                cors["access-control-allow-headers"] = requested
            cors["access-control-max-age"] = str(self.max_age)
            return Response(b"", 204, cors)
        if self.expose_headers:
            cors["access-control-expose-headers"] = self.expose_headers
        response.headers.update(cors)
        return None

    def _origin_headers(self, origin: str) -> dict[str, str]:
        if "*" in self.allow_origins and not self.allow_credentials:
            return {"access-control-allow-origin": "*"}
        cors = {"access-control-allow-origin": origin, "vary": "Origin"}
        if self.allow_credentials:
            cors["access-control-allow-credentials"] = "true"
        return cors

    def _all_allowed(self, requested: str) -> bool:
        names = [name.strip().lower() for name in requested.split(",") if name.strip()]
        return all(name in self.allow_headers for name in names)
