"""``CORS``: an event hook for browsers on other origins, over HTTP and WebSockets.

HTTP requests get the ``Access-Control-*`` headers of the Fetch standard, and preflight
``OPTIONS`` requests are answered (204) where no route takes ``OPTIONS`` (the router's 405). A
WebSocket handshake is not covered by CORS at all: a page on any site may open a socket to your
app with the user's cookies (cross-site WebSocket hijacking), so the ``Origin`` of handshakes
from browsers is checked too: the app's own origin and the listed ones pass, others get 403.

List it first in ``event_hooks``, before any hook that accepts WebSockets::

    app = ASyncApp(routes, event_hooks=[CORS(["https://app.example.com"]), ...])
"""

from collections.abc import Iterable, MutableMapping

from .datastructures import Headers
from .exceptions import WebSocketProtocolError
from .http import Method, Response, Scheme
from .websocket import WebSocket

__all__ = ["CORS"]

_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
#: Request headers a browser may always send (the Fetch standard's CORS-safelisted names).
_SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})


class CORS:
    """Allow the browsers of ``allow_origins`` (``"*"`` for any) to call this app.

    ``allow_methods`` and ``allow_headers`` answer preflights (``"*"`` allows whatever the
    browser asks for); ``allow_credentials`` lets pages send cookies (then the origin is echoed,
    never ``*``, and ``"*"`` origins are refused: list the sites you trust); ``expose_headers``
    lets scripts read more response headers; ``max_age`` is how long browsers may cache a
    preflight, in seconds. ``check_websocket_origin=False`` leaves WebSocket handshakes alone.
    Raises ``ValueError`` for ``"*"`` origins with credentials.
    """

    def __init__(
        self,
        allow_origins: Iterable[str] = (),
        *,
        allow_methods: Iterable[str] = _ALL_METHODS,
        allow_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        expose_headers: Iterable[str] = (),
        max_age: int = 600,
        check_websocket_origin: bool = True,
    ) -> None:
        self.allow_origins = frozenset(o.lower().rstrip("/") for o in allow_origins)
        if allow_credentials and "*" in self.allow_origins:
            raise ValueError(
                "CORS with credentials from any origin lets every site read your users' data: "
                "list the origins allowed to send credentials"
            )
        self.allow_methods = [method.upper() for method in allow_methods]
        self.allow_headers = frozenset(header.lower() for header in allow_headers)
        self.allow_credentials = allow_credentials
        self.expose_headers = ", ".join(expose_headers)
        self.max_age = max_age
        self.check_websocket_origin = check_websocket_origin

    def allows(self, origin: str) -> bool:
        """Whether a page on ``origin`` may call the app."""
        return "*" in self.allow_origins or origin.lower() in self.allow_origins

    def on_request(self, ws: WebSocket, headers: Headers, scheme: Scheme) -> None:
        """Refuse (403) a browser's WebSocket handshake from a page on another site."""
        origin = headers.get("origin")
        if not self.check_websocket_origin or origin is None or self.allows(origin):
            return
        own = f"{'https' if scheme in ('wss', 'https') else 'http'}://{headers.get('host', '')}"
        if origin.lower() != own.lower():
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
        if preflight:
            return self._preflight(origin, headers)
        cors = self._origin_headers(origin)
        if self.expose_headers:
            cors["access-control-expose-headers"] = self.expose_headers
        _merge(response.headers, cors)
        return None

    def _preflight(self, origin: str, headers: Headers) -> Response:
        method = headers["access-control-request-method"].upper()
        if "*" not in self.allow_methods and method not in self.allow_methods:
            return Response(f"Method {method} is not allowed", 400, {"vary": "Origin"})
        cors = self._origin_headers(origin)
        # Echo what was asked for: a literal '*' means nothing to a credentialed request.
        cors["access-control-allow-methods"] = (
            method if "*" in self.allow_methods else ", ".join(self.allow_methods)
        )
        requested = headers.get("access-control-request-headers", "")
        names = {name.strip().lower() for name in requested.split(",") if name.strip()}
        if names and ("*" in self.allow_headers or names <= self.allow_headers | _SAFELISTED):
            cors["access-control-allow-headers"] = requested
        cors["access-control-max-age"] = str(self.max_age)
        return Response(b"", 204, cors)

    def _origin_headers(self, origin: str) -> dict[str, str]:
        if "*" in self.allow_origins:
            return {"access-control-allow-origin": "*"}
        cors = {"access-control-allow-origin": origin, "vary": "Origin"}
        if self.allow_credentials:
            cors["access-control-allow-credentials"] = "true"
        return cors


def _merge(target: MutableMapping[str, str], cors: dict[str, str]) -> None:
    """Set ``cors`` in a response's headers, whatever case the handler wrote them in; ``Vary``
    is added to, never replaced."""
    existing = {name.lower(): name for name in target}
    for name, value in cors.items():
        if name == "vary" and "vary" in existing:
            current = target[existing["vary"]]
            if value.lower() not in {v.strip().lower() for v in current.split(",")}:
                target[existing["vary"]] = f"{current}, {value}"
            continue
        if name in existing:
            del target[existing[name]]
        target[name] = value
