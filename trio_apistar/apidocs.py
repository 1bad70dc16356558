"""Opt-in routes that serve the app's OpenAPI and AsyncAPI documents and a page rendering them.

```python
app = ASyncApp(routes=[*routes, *docs_routes("/docs", title="Shop")])
```

``GET /docs`` is the page, ``/docs/openapi.json`` and ``/docs/asyncapi.json`` the documents.
The page is self-contained (no script or style from elsewhere). The routes leave themselves out
of the documents. Each document is made once per app, at its first request.
"""

import weakref
from importlib.resources import files
from typing import Any

from .app import ASyncApp
from .http import HTMLResponse, JSONResponse
from .routing import Route

__all__ = ["docs_routes"]


def docs_routes(
    url: str = "/docs", *, title: str = "API", version: str = "0.1.0", **info: Any
) -> list[Route]:
    """The page at ``url`` and the documents at ``url + '/openapi.json'`` and
    ``url + '/asyncapi.json'``, named ``api_docs``, ``openapi_json`` and ``asyncapi_json``.

    ``title``, ``version`` and ``info`` (``description``, ``servers``) go to
    :meth:`ASyncApp.openapi` and :meth:`ASyncApp.asyncapi`. Raises ``ConfigurationError`` for a
    ``url`` that does not start with ``/``.
    """
    url = url.rstrip("/") or ""
    page = files(__package__).joinpath("apidocs.html").read_text(encoding="utf-8")
    made: weakref.WeakKeyDictionary[ASyncApp, dict[str, Any]] = weakref.WeakKeyDictionary()

    def document(app: ASyncApp, kind: str) -> dict[str, Any]:
        documents = made.setdefault(app, {})
        if kind not in documents:
            build = app.openapi if kind == "openapi" else app.asyncapi
            documents[kind] = build(title=title, version=version, **info)
        made_document: dict[str, Any] = documents[kind]
        return made_document

    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)

    def openapi_json(app: ASyncApp) -> JSONResponse:
        return JSONResponse(document(app, "openapi"))

    def asyncapi_json(app: ASyncApp) -> JSONResponse:
        return JSONResponse(document(app, "asyncapi"))

    return [
        Route(url or "/", "GET", api_docs, include_in_schema=False),
        Route(f"{url}/openapi.json", "GET", openapi_json, include_in_schema=False),
        Route(f"{url}/asyncapi.json", "GET", asyncapi_json, include_in_schema=False),
    ]
