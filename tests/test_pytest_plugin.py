"""The pytest plugin's fixtures, run by pytest on a project of their own, and serve_in_thread()."""

import textwrap

import httpx
import pytest

from trio_apistar import ASyncApp, Route
from trio_apistar.test import ServerStartError, serve_in_thread

INI_APP = """
from trio_apistar import ASyncApp, Route


def which() -> dict[str, str]:
    return {"app": "from the ini"}


app = ASyncApp(routes=[Route("/which", "GET", which)])
"""

OVERRIDING_CONFTEST = """
import pytest

from trio_apistar import ASyncApp, Route, WebSocket


def which() -> dict[str, str]:
    return {"app": "from the fixture"}


async def hello(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send("hello from the fixture")


@pytest.fixture
def app() -> ASyncApp:
    return ASyncApp(routes=[Route("/which", "GET", which), Route("/ws", "GET", hello)])
"""

LIVE_SERVER_TESTS = """
import httpx
import trio
from trio_websocket import open_websocket_url


async def test_in_process(client):
    assert (await client.get("/which")).json() == {"app": "from the fixture"}


async def test_over_a_socket(live_server):
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            assert (await http.get("/which")).json() == {"app": "from the fixture"}
        async with open_websocket_url(live_server.ws_url + "/ws") as ws:
            assert await ws.get_message() == "hello from the fixture"


def test_from_a_plain_test_function(live_server):
    response = httpx.get(live_server.url + "/which", timeout=10)
    assert response.json() == {"app": "from the fixture"}
"""


def run_pytest(pytester: pytest.Pytester, files: dict[str, str], ini: str = "") -> str:
    """Run pytest (in this process) on a project made of ``files``; return its output."""
    for name, code in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code))
    # As in this project's own ini: trio-websocket 0.12 leaves its socket to the garbage
    # collector when the server closes first.
    warnings = (
        '["error", "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWa'
        'rning", "ignore:unclosed <socket.socket:ResourceWarning"]'
    )
    (pytester.path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\ntrio_mode = true\npythonpath = ['.']\n"
        f"filterwarnings = {warnings}\n{ini}"
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-rA")
    return "\n".join(result.outlines + result.errlines)


INI_APP_TESTS = """
import httpx


def test_ini_app(live_server):
    assert httpx.get(live_server.url + "/which", timeout=10).json() == {"app": "from the ini"}


async def test_client_and_live_server_are_not_used_together(client, live_server):
    pass
"""


@pytest.mark.network
def test_live_server_serves_the_app_fixture_overridden_or_not(pytester: pytest.Pytester) -> None:
    output = run_pytest(
        pytester,
        {
            "ini_app.py": INI_APP,
            "tests/overridden/conftest.py": OVERRIDING_CONFTEST,
            "tests/overridden/test_overridden.py": LIVE_SERVER_TESTS,
            "tests/test_ini_app.py": INI_APP_TESTS,
        },
        ini='trio_apistar_app = "ini_app:app"\n',
    )
    assert "4 passed, 1 error" in output, output
    assert "a test uses either `client` or `live_server`" in output


def test_without_an_app_the_error_says_what_to_configure(pytester: pytest.Pytester) -> None:
    tests = """
        async def test_it(client):
            pass
    """
    output = run_pytest(pytester, {"tests/test_it.py": tests})
    assert "1 failed" in output or "1 error" in output, output
    assert 'trio_apistar_app = "module:attr"' in output
    assert "define an `app` fixture" in output
    assert "app_path" not in output


@pytest.mark.network
def test_serve_in_thread_reports_a_failed_startup() -> None:
    def fail() -> None:
        raise RuntimeError("no database")

    app = ASyncApp(routes=[], on_startup=[fail])
    with pytest.raises(ServerStartError, match="no database"):
        with serve_in_thread(app, timeout=10):
            pass  # pragma: no cover


@pytest.mark.network
def test_serve_in_thread_serves_and_runs_the_lifespan() -> None:
    events: list[str] = []

    def item() -> dict[str, int]:
        return {"id": 1}

    app = ASyncApp(
        routes=[Route("/item", "GET", item)],
        on_startup=[lambda: events.append("startup")],
        on_shutdown=[lambda: events.append("shutdown")],
    )
    with serve_in_thread(app, timeout=10) as server:
        assert events == ["startup"]
        assert httpx.get(server.url + "/item", timeout=10).json() == {"id": 1}
    assert events == ["startup", "shutdown"]
