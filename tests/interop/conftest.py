"""The interoperability suite's app: in-process for ``client``, under Hypercorn for the rest
(the plugin's ``live_server`` serves this ``app`` fixture)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from trio_apistar import ASyncApp
from trio_apistar.test import LiveServer, run_hypercorn


@pytest.fixture
def app() -> ASyncApp:
    """For the plugin's ``client`` (in-process) and ``live_server`` (Hypercorn) fixtures."""
    from interop_app import app

    return app


@pytest.fixture
def expected_outcome() -> dict[str, object]:
    """What every client must report after the scenarios: text, binary and JSON echoed."""
    echoed = {"n": 1, "s": "café"}
    return {"text": "hello, trio", "binary": [0, 1, 2, 255], "json": {"echo": echoed}}


@pytest.fixture(scope="session")
def parity_server() -> Iterator[LiveServer]:
    """``parity_app.py`` under Hypercorn's trio worker."""
    with run_hypercorn(f"{Path(__file__).with_name('parity_app.py')}:app") as server:
        yield server
