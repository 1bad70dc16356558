"""Shared fixtures: servers started with ``hypercorn --worker-class trio`` on 127.0.0.1."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from trio_apistar.test import LiveServer, RedisServer, run_hypercorn, run_redis

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


@pytest.fixture(scope="module")
def hardening_server() -> Iterator[LiveServer]:
    """``tests/apps/hardening_app.py``, one per test module; ``hostile.WorkerStats`` reads its
    ``/stats``."""
    yield from serve("tests.apps.hardening_app:app")


def _require_redis_server() -> None:
    """Skip without redis-server, except in CI, where its absence fails the run."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is required in CI (apt-get install -y redis-server)")
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server on a free 127.0.0.1 port for the whole run (emptied per test)."""
    _require_redis_server()
    with run_redis() as server:
        yield server


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The shared redis-server, emptied for this test."""
    redis_server.cli("FLUSHALL")
    return redis_server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, to kill or restart."""
    _require_redis_server()
    with run_redis() as server:
        yield server
