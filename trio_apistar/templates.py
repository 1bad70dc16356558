"""``Templates``: Jinja2 templates as a component, rendered in a worker thread.

Jinja2 is an optional dependency: ``pip install 'trio_apistar[templates]'``. ::

    templates = Templates("templates")
    app = ASyncApp(routes=[Route("/", "GET", home)], components=[templates])

    async def home(templates: Templates) -> http.Response:
        return await templates.render("home.html", user="Ada")

Autoescaping is on for every template. Loading (a ``stat`` of the file, to reload it when it
changed) and rendering run in a worker thread (``trio.to_thread``), so neither a slow disk nor a
large page holds up the other connections. Templates can call ``url_for(name, **params)`` (the
app's ``reverse_url``) and ``static_url(path)`` (the URL of a file under the ``Static`` route
named ``static``).
"""

import functools
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio

from .app import ASyncApp
from .exceptions import ConfigurationError, NotFound
from .http import HTMLResponse
from .injector import Component

if TYPE_CHECKING:
    import jinja2

__all__ = ["Templates"]

_Directory = str | os.PathLike[str]


def _jinja2() -> Any:
    try:
        import jinja2
    except ImportError as exc:
        raise ConfigurationError(
            "Templates need Jinja2, an optional dependency: pip install 'trio_apistar[templates]'"
        ) from exc
    return jinja2


def _unbound(*args: Any, **kwargs: Any) -> str:
    raise RuntimeError(
        "url_for and static_url need the app: ask for the templates in the handler "
        "(templates: Templates) rather than using the component itself"
    )


class Templates(Component):
    """Renders the Jinja2 templates in ``directory`` (or a list of directories, searched in
    order); handlers get it by asking for ``templates: Templates``.

    ``globals`` are available in every template; ``static_route`` is the route name
    ``static_url()`` builds URLs for. For anything else Jinja2 offers (filters, extensions,
    another loader), pass a ready ``environment`` instead of a directory: its autoescaping is
    then yours to set. Raises ``ConfigurationError`` if Jinja2 is not installed, for neither
    or both of ``directory`` and ``environment``, and for an async environment (whose templates
    would render on the event loop).
    """

    def __init__(
        self,
        directory: _Directory | Sequence[_Directory] | None = None,
        *,
        environment: "jinja2.Environment | None" = None,
        globals: Mapping[str, Any] | None = None,
        static_route: str = "static",
    ) -> None:
        jinja = _jinja2()
        if (directory is None) == (environment is None):
            raise ConfigurationError("Templates take a directory or an environment (one of them)")
        if environment is None:
            environment = jinja.Environment(
                loader=jinja.FileSystemLoader(directory), autoescape=True
            )
        elif environment.is_async:
            raise ConfigurationError(
                "Templates render in a worker thread: pass an environment without enable_async"
            )
        self.environment: jinja2.Environment = environment
        self.environment.globals.update(globals or {})
        self.environment.globals.setdefault("url_for", _unbound)
        self.environment.globals.setdefault("static_url", _unbound)
        self.static_route = static_route
        self._per_app: weakref.WeakKeyDictionary[ASyncApp, Templates] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Templates({self.environment.loader!r})"

    def resolve(self, app: ASyncApp) -> "Templates":
        """These templates, with ``url_for`` and ``static_url`` bound to ``app``."""
        bound = self._per_app.get(app)
        if bound is None:
            bound = self._per_app[app] = self._bind(app)
        return bound

    def _bind(self, app: ASyncApp) -> "Templates":
        # An overlay shares the loader and settings but compiles (and caches) its own
        # templates, whose globals are its own: the helpers that know this app.
        overlay = self.environment.overlay()
        overlay.globals = {
            **self.environment.globals,
            "url_for": _url_for(weakref.ref(app)),
            "static_url": _static_url(weakref.ref(app), self.static_route),
        }
        bound = object.__new__(Templates)
        bound.environment = overlay
        bound.static_route = self.static_route
        bound._per_app = weakref.WeakKeyDictionary()
        return bound

    async def render(self, name: str, /, **context: Any) -> HTMLResponse:
        """Render template ``name`` with ``context`` as an ``HTMLResponse`` (status 200).

        Raises Jinja2's ``TemplateNotFound``, ``TemplateSyntaxError`` and the errors the
        template itself raises (unhandled, they are a 500 with the traceback in the log).
        """
        return HTMLResponse(await self.render_to_string(name, **context))

    async def render_to_string(self, name: str, /, **context: Any) -> str:
        """Render template ``name`` with ``context`` as a string (a WebSocket message, an
        email, a response of another type); raises as :meth:`render` does."""
        render = functools.partial(self._render, name, context)
        result: str = await trio.to_thread.run_sync(render)
        return result

    def _render(self, name: str, context: dict[str, Any]) -> str:
        rendered: str = self.environment.get_template(name).render(context)
        return rendered


def _live(app_ref: "weakref.ref[ASyncApp]") -> ASyncApp:
    app = app_ref()
    if app is None:
        raise RuntimeError("The app these templates were bound to is gone")
    return app


def _url_for(app_ref: "weakref.ref[ASyncApp]") -> Callable[..., str]:
    def url_for(name: str, /, **params: Any) -> str:
        """The URL of the route called ``name``, as ``app.reverse_url`` builds it."""
        try:
            return _live(app_ref).reverse_url(name, **params)
        except NotFound:
            # The template's own mistake: a server error, not a 404 for the client.
            raise LookupError(f"url_for: no route named {name!r}") from None

    return url_for


def _static_url(app_ref: "weakref.ref[ASyncApp]", route: str) -> Callable[[str], str]:
    def static_url(path: str) -> str:
        """The URL of the static file ``path`` (relative to the static directory)."""
        try:
            return _live(app_ref).reverse_url(route, path=path.lstrip("/"))
        except NotFound:
            raise LookupError(
                f"static_url: no route named {route!r} (add Static(..., name={route!r}) to the "
                "routes, or pass Templates(static_route=...))"
            ) from None

    return static_url
