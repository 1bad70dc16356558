"""pytest fixtures for testing trio_apistar (or any ASGI 3) apps; loaded through ``pytest11``.

Point the plugin at your app with one ini line (``pyproject.toml``)::

    [tool.pytest.ini_options]
    trio_apistar_app = "myproject.app:app"

or define the ``app`` fixture (in-process tests) and ``app_path`` fixture (server tests) in
your ``conftest.py``. Then:

- ``client``: a ``trio_apistar.test.TestClient`` for ``app`` with its lifespan running.
- ``live_server``: ``app_path`` served by ``hypercorn --worker-class trio`` on 127.0.0.1 for
  the whole session (a ``trio_apistar.test.LiveServer``: ``.url``, ``.ws_url``, ``.port``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # .test needs httpx, a test-only dependency: import it when a fixture runs
    from ._types import ASGIApp
    from .test import LiveServer, TestClient

__all__ = ["app", "app_path", "client", "live_server", "pytest_addoption"]

_INI = "trio_apistar_app"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``trio_apistar_app`` ini option (the app's ``"module:attr"`` path)."""
    parser.addini(_INI, "import path of the ASGI app under test, as 'module:attr'", default="")


@pytest.fixture(scope="session")
def app_path(pytestconfig: pytest.Config) -> str:
    """The app's import path (``"module:attr"``), from the ``trio_apistar_app`` ini option.

    Fails the test with instructions when it is not configured; override it in a conftest.
    """
    path = str(pytestconfig.getini(_INI))
    if not path:
        pytest.fail(
            f'set `{_INI} = "module:attr"` in the pytest ini options, '
            "or define an `app_path` fixture",
            pytrace=False,
        )
    return path


@pytest.fixture
def app(app_path: str) -> ASGIApp:
    """The app under test, imported from ``app_path``; override it to build the app yourself."""
    module_name, _, attribute = app_path.partition(":")
    application: ASGIApp = getattr(importlib.import_module(module_name), attribute or "app")
    return application


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[TestClient]:
    """A ``TestClient`` for ``app``, entered (lifespan started) for the test's duration."""
    from .test import TestClient

    async with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def live_server(app_path: str, pytestconfig: pytest.Config) -> Iterator[LiveServer]:
    """``app_path`` served by a Hypercorn (trio worker) subprocess on 127.0.0.1, per session.

    The server runs from the project's root directory, which is also put on ``PYTHONPATH``.
    Raises ``ServerStartError`` if it does not start.
    """
    from .test import run_hypercorn

    root = str(pytestconfig.rootpath)
    python_path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    with run_hypercorn(app_path, cwd=root, env={"PYTHONPATH": python_path}) as server:
        yield server
