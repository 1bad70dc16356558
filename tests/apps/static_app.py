"""A page rendered from a template, linking to its script under a Static route.

``STATIC_SITE`` names a folder with ``static/`` and ``templates/`` (the tests make it).
"""

import os
from pathlib import Path

from trio_apistar import ASyncApp, Route, Static, Templates, http

SITE = Path(os.environ["STATIC_SITE"])


async def home(templates: Templates) -> http.Response:
    return await templates.render("home.html", user="<Ada>")


app = ASyncApp(
    routes=[
        Route("/", "GET", home),
        Static("/static", SITE / "static", cache_control="no-cache"),
    ],
    components=[Templates(SITE / "templates")],
)
