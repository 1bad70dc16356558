"""Shared fixtures: servers started with ``hypercorn --worker-class trio`` on 127.0.0.1."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from trio_apistar.test import LiveServer, run_hypercorn

ROOT = Path(__file__).resolve().parent.parent

#: ``pytester`` runs pytest on a project of a test's own (the plugin's tests).
pytest_plugins = ["pytester"]


def serve(app_path: str, *args: str) -> Iterator[LiveServer]:
    """Run ``tests/apps/...`` under hypercorn's trio worker for the duration of a fixture."""
    with run_hypercorn(app_path, *args, cwd=ROOT) as server:
        yield server


@pytest.fixture(scope="session")
def seed_server() -> Iterator[LiveServer]:
    yield from serve("tests.apps.seed_handlers:app")


@pytest.fixture(scope="session")
def connect_hook_server() -> Iterator[LiveServer]:
    yield from serve("tests.apps.seed_hooks:connect_app")


@pytest.fixture(scope="session")
def protocol_hook_server() -> Iterator[LiveServer]:
    yield from serve("tests.apps.seed_hooks:protocol_app")


@pytest.fixture(scope="session")
def refusals_server() -> Iterator[LiveServer]:
    yield from serve("tests.apps.refusals_app:app")


@pytest.fixture(scope="session")
def http_server() -> Iterator[LiveServer]:
    yield from serve("tests.apps.http_app:app")


@pytest.fixture(scope="session")
def types_server() -> Iterator[LiveServer]:
    yield from serve("tests.apps.types_app:app")


@pytest.fixture(scope="session")
def mounted_server() -> Iterator[LiveServer]:
    """``mounted_app`` under ``hypercorn --root-path /app``."""
    yield from serve("tests.apps.mounted_app:app", "--root-path", "/app")
