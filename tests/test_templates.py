"""Templates: Jinja2 pages and fragments, autoescaped, rendered off the event loop, with
``url_for`` and ``static_url``."""

import logging
import sys
import threading
from pathlib import Path

import jinja2
import pytest

from trio_apistar import ASyncApp, Route, Static, Templates, WebSocket, http
from trio_apistar.exceptions import ConfigurationError
from trio_apistar.test import TestClient


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.js").write_text("//")
    (tmp_path / "templates" / "base.html").write_text(
        "<title>{{ title }}</title>{% block body %}{% endblock %}"
    )
    (tmp_path / "templates" / "page.html").write_text(
        '{% extends "base.html" %}{% block body %}<p>{{ user }}</p>'
        '<script src="{{ static_url("app.js") }}"></script>'
        '<a href="{{ url_for("profile", user_id=7) }}">me</a>{% endblock %}'
    )
    (tmp_path / "templates" / "fragment.html").write_text("<li>{{ message }}</li>")
    (tmp_path / "templates" / "bad_link.html").write_text('{{ url_for("nowhere") }}')
    (tmp_path / "templates" / "thread.html").write_text("{{ thread_id() }}")
    return tmp_path


def profile(user_id: int) -> dict[str, int]:
    return {"user_id": user_id}


async def page(templates: Templates) -> http.Response:
    return await templates.render("page.html", title="Hi", user="<b>Ada</b>")


async def test_render_autoescapes_and_links_to_routes_and_static_files(folders: Path) -> None:
    templates = Templates(folders / "templates")
    app = ASyncApp(
        routes=[
            Route("/", "GET", page),
            Route("/users/{user_id}", "GET", profile),
            Static("/static", folders / "static"),
        ],
        components=[templates],
    )
    async with TestClient(app) as client:
        response = await client.get("/")
        script = await client.get("/static/app.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == (
        "<title>Hi</title><p>&lt;b&gt;Ada&lt;/b&gt;</p>"
        '<script src="/static/app.js"></script><a href="/users/7">me</a>'
    )
    assert script.status_code == 200


async def test_render_to_string_for_websocket_fragments(folders: Path) -> None:
    async def feed(ws: WebSocket, templates: Templates) -> None:
        await ws.connect()
        await ws.send(await templates.render_to_string("fragment.html", message="<hi>"))

    app = ASyncApp(
        routes=[Route("/feed", "GET", feed)], components=[Templates(folders / "templates")]
    )
    async with TestClient(app) as client:
        async with client.websocket_connect("/feed") as ws:
            assert await ws.receive_text() == "<li>&lt;hi&gt;</li>"


async def test_templates_render_in_a_worker_thread(folders: Path) -> None:
    async def where(templates: Templates) -> http.Response:
        return await templates.render("thread.html")

    templates = Templates(folders / "templates", globals={"thread_id": threading.get_ident})
    app = ASyncApp(routes=[Route("/", "GET", where)], components=[templates])
    async with TestClient(app) as client:
        rendered_in = int((await client.get("/")).text)
    assert rendered_in != threading.get_ident()


async def test_one_component_in_two_apps_links_within_each(folders: Path) -> None:
    templates = Templates(folders / "templates")
    routes = [Route("/", "GET", page), Static("/static", folders / "static")]
    first = ASyncApp(
        routes=[*routes, Route("/users/{user_id}", "GET", profile)], components=[templates]
    )
    second = ASyncApp(
        routes=[*routes, Route("/people/{user_id}", "GET", profile)], components=[templates]
    )
    async with TestClient(first) as client_1, TestClient(second) as client_2:
        for _ in range(2):
            assert 'href="/users/7"' in (await client_1.get("/")).text
            assert 'href="/people/7"' in (await client_2.get("/")).text


async def test_an_unknown_route_name_is_a_server_error_not_a_404(
    folders: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def bad(templates: Templates) -> http.Response:
        return await templates.render("bad_link.html")

    app = ASyncApp(routes=[Route("/", "GET", bad)], components=[Templates(folders / "templates")])
    async with TestClient(app) as client:
        with pytest.raises(LookupError, match="no route named 'nowhere'"):
            await client.get("/")
    with caplog.at_level(logging.ERROR, logger="trio_apistar"):
        async with TestClient(app, raise_server_exceptions=False) as client:
            response = await client.get("/")
    assert response.status_code == 500
    assert "nowhere" not in response.text
    assert "no route named 'nowhere'" in caplog.text


async def test_static_url_without_a_static_route_says_what_to_add(folders: Path) -> None:
    app = ASyncApp(
        routes=[Route("/", "GET", page), Route("/users/{user_id}", "GET", profile)],
        components=[Templates(folders / "templates")],
    )
    async with TestClient(app) as client:
        with pytest.raises(LookupError, match=r"Static\(\.\.\., name='static'\)"):
            await client.get("/")


async def test_a_missing_template_is_a_server_error(folders: Path) -> None:
    async def missing(templates: Templates) -> http.Response:
        return await templates.render("nope.html")

    app = ASyncApp(
        routes=[Route("/", "GET", missing)], components=[Templates(folders / "templates")]
    )
    async with TestClient(app) as client:
        with pytest.raises(jinja2.TemplateNotFound):
            await client.get("/")


async def test_the_component_itself_renders_but_cannot_link(folders: Path) -> None:
    templates = Templates([folders / "static", folders / "templates"])  # searched in order
    assert await templates.render_to_string("fragment.html", message="x") == "<li>x</li>"
    with pytest.raises(RuntimeError, match="ask for the templates in the handler"):
        await templates.render("page.html", title="t", user="u")


async def test_a_ready_environment_can_be_passed(folders: Path) -> None:
    environment = jinja2.Environment(
        loader=jinja2.DictLoader({"shout.txt": "{{ word | upper }}!"}), autoescape=False
    )
    environment.filters["upper"] = str.upper
    templates = Templates(environment=environment)
    assert await templates.render_to_string("shout.txt", word="<hey>") == "<HEY>!"


def test_configuration_errors(folders: Path) -> None:
    with pytest.raises(ConfigurationError, match="a directory or an environment"):
        Templates()
    with pytest.raises(ConfigurationError, match="a directory or an environment"):
        Templates(folders, environment=jinja2.Environment())
    with pytest.raises(ConfigurationError, match="without enable_async"):
        Templates(environment=jinja2.Environment(enable_async=True))


def test_without_jinja2_the_error_says_how_to_install_it(
    folders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)  # what `import jinja2` sees when absent
    with pytest.raises(ConfigurationError, match=r"pip install 'trio_apistar\[templates\]'"):
        Templates(folders / "templates")
