"""pytest fixtures for testing trio_apistar (or any ASGI 3) apps; loaded through ``pytest11``.

Point the plugin at your app with one ini line (``pyproject.toml``)::

    [tool.pytest.ini_options]
    trio_apistar_app = "myproject.app:app"

or define an ``app`` fixture (returning the app) in your ``conftest.py``. Then:

- ``app``: the app under test, imported from the ini option unless you override the fixture.
- ``client``: a ``trio_apistar.test.TestClient`` for ``app`` with its lifespan running.
- ``live_server``: ``app`` served by Hypercorn's trio worker on 127.0.0.1, in a thread of the test
  process, for the test (a ``trio_apistar.test.AppServer``: ``.url``, ``.ws_url``, ``.port``).

A test uses ``client`` or ``live_server``, not both: each runs the app's lifespan, and one app
cannot run two lifespans at once.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # .test needs httpx, a test-only dependency: import it when a fixture runs
    from ._types import ASGIApp
    from .test import AppServer, TestClient

__all__ = ["app", "client", "live_server", "pytest_addoption"]

_INI = "trio_apistar_app"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``trio_apistar_app`` ini option (the app's ``"module:attr"`` path)."""
    parser.addini(_INI, "import path of the ASGI app under test, as 'module:attr'", default="")


@pytest.fixture
def app(pytestconfig: pytest.Config) -> ASGIApp:
    """The app under test, imported from the ``trio_apistar_app`` ini option.

    Override it in a ``conftest.py`` to build the app yourself; ``client`` and ``live_server``
    then use yours. Fails the test with instructions when neither is there.
    """
    path = str(pytestconfig.getini(_INI))
    if not path:
        pytest.fail(
            f'no app to test: set `{_INI} = "module:attr"` in the pytest ini options '
            "([tool.pytest.ini_options] in pyproject.toml), or define an `app` fixture that "
            "returns the app in a conftest.py",
            pytrace=False,
        )
    module_name, _, attribute = path.partition(":")
    application: ASGIApp = getattr(importlib.import_module(module_name), attribute or "app")
    return application


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[TestClient]:
    """A ``TestClient`` for ``app``, entered (lifespan started) for the test's duration."""
    from .test import TestClient

    async with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def live_server(app: ASGIApp, request: pytest.FixtureRequest) -> Iterator[AppServer]:
    """``app`` served by Hypercorn's trio worker on 127.0.0.1 (a free port), for the test.

    The server runs in a thread of the test process, so Trio tests, plain tests and browsers
    alike can reach it; it shuts down gracefully after the test. Raises ``ServerStartError`` if
    it does not start, and refuses a test that also uses ``client`` (two lifespans of one app).
    """
    from .test import serve_in_thread

    if "client" in request.fixturenames:
        pytest.fail(
            "a test uses either `client` or `live_server`: each runs the app's lifespan, and one "
            "app cannot run two at once",
            pytrace=False,
        )
    with serve_in_thread(app) as server:
        yield server
