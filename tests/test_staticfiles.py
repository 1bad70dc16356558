"""Static files in-process: content types, validators and 304s, HEAD, ranges, index files, and
every way out of the directory refused with a 404."""

import gzip
import logging
import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import trio
from scopes import http_scope

from trio_apistar import ASyncApp, FileResponse, Include, Route, Static, StaticFiles
from trio_apistar.datastructures import Headers
from trio_apistar.exceptions import ConfigurationError, NotFound
from trio_apistar.http import Method
from trio_apistar.test import TestClient

BIG = bytes(range(256)) * 1200  # 307,200 bytes: several chunks


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """``static/`` with files of every kind, and secrets beside it that must stay unreachable."""
    static = tmp_path / "static"
    (static / "docs").mkdir(parents=True)
    (static / "noindex").mkdir()
    (static / "app.js").write_text("console.log('hi')\n")
    (static / "style.css").write_text("body { color: red }\n")
    (static / "index.html").write_text("<h1>home</h1>")
    (static / "docs" / "index.html").write_text("<h1>docs</h1>")
    (static / "data.json").write_text('{"a": 1}')
    (static / "logo.svg").write_text("<svg/>")
    (static / "blob.unknownext").write_bytes(b"\x00\x01")
    (static / "big.bin").write_bytes(BIG)
    (static / "empty.txt").write_bytes(b"")
    (static / "bundle.js.gz").write_bytes(gzip.compress(b"x"))
    (static / "a b.txt").write_text("spaced")
    (static / "résumé.txt").write_text("accented")
    (static / ".env").write_text("SECRET=1")
    (static / "inner-link").symlink_to("app.js")
    (static / "build-3f2a").write_text("//")
    (static / "latest.js").symlink_to("build-3f2a")
    (tmp_path / "secret.txt").write_text("top secret")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_text("private key")
    (static / "out-link").symlink_to("../secret.txt")
    (static / "out-dir").symlink_to("../private")
    (static / "abs-link").symlink_to(tmp_path / "secret.txt")
    os.mkfifo(static / "fifo")
    return static


def _app(static: Path, **options: Any) -> ASyncApp:
    return ASyncApp(routes=[Static("/static", static, **options)])


def _client(app: ASyncApp) -> TestClient:
    return TestClient(app, follow_redirects=False)


async def call(
    app: ASyncApp,
    path: str,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    disconnect_after: int | None = None,
) -> tuple[int, dict[str, str], list[bytes]]:
    """Call the app as a server would, with ``path`` as the decoded ASGI path, unnormalised.

    Returns the status, the headers and every body message. With ``disconnect_after``, the
    client leaves once that many body messages have arrived.
    """
    scope = http_scope(path, method, headers or [])
    messages: list[dict[str, Any]] = []
    done = trio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        bodies = [m for m in messages if m["type"] == "http.response.body"]
        if not message.get("more_body", False) and message["type"] == "http.response.body":
            done.set()
        elif disconnect_after is not None and len(bodies) >= disconnect_after:
            done.set()
        await trio.lowlevel.checkpoint()

    with trio.fail_after(10):
        await app(scope, receive, send)
    start = messages[0]
    assert start["type"] == "http.response.start"
    response_headers = {k.decode(): v.decode("latin-1") for k, v in start["headers"]}
    return start["status"], response_headers, [m["body"] for m in messages[1:]]


# -- content, validators, HEAD ---------------------------------------------------------------


async def test_files_are_served_with_their_content_type_and_validators(site: Path) -> None:
    expected = {
        "app.js": "text/javascript; charset=utf-8",
        "style.css": "text/css; charset=utf-8",
        "index.html": "text/html; charset=utf-8",
        "data.json": "application/json",
        "logo.svg": "image/svg+xml",
        "blob.unknownext": "application/octet-stream",
        "big.bin": "application/octet-stream",
        "empty.txt": "text/plain; charset=utf-8",
        # a compressed file is what it is: no Content-Encoding, so not "JavaScript"
        "bundle.js.gz": "application/gzip",
        # the name asked for decides, not the name of the file a symlink leads to
        "latest.js": "text/javascript; charset=utf-8",
        "inner-link": "application/octet-stream",
    }
    async with _client(_app(site)) as client:
        for name, content_type in expected.items():
            response = await client.get(f"/static/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"] == content_type, name
            assert response.content == (site / name).read_bytes(), name
            assert response.headers["content-length"] == str(len(response.content))
            assert response.headers["accept-ranges"] == "bytes"
            result = (site / name).stat()
            assert response.headers["etag"] == f'"{result.st_mtime_ns:x}-{result.st_size:x}"'
            assert response.headers["last-modified"] == formatdate(result.st_mtime, usegmt=True)


async def test_if_none_match_and_if_modified_since_give_304(site: Path) -> None:
    async with _client(_app(site, cache_control="public, max-age=60")) as client:
        first = await client.get("/static/app.js")
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert first.headers["cache-control"] == "public, max-age=60"
        for headers in (
            {"if-none-match": etag},
            {"if-none-match": f"W/{etag}"},  # If-None-Match compares weakly
            {"if-none-match": f'"other", {etag}'},
            {"if-none-match": "*"},
            {"if-modified-since": modified},
            {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        ):
            response = await client.get("/static/app.js", headers=headers)
            assert response.status_code == 304, headers
            assert response.content == b""
            assert response.headers["etag"] == etag
            assert response.headers["cache-control"] == "public, max-age=60"
            assert "content-type" not in response.headers
            assert "content-length" not in response.headers
        for headers in (
            {"if-none-match": '"other"'},
            {"if-modified-since": "Thu, 01 Jan 1970 00:00:00 GMT"},
            {"if-modified-since": "not a date"},
            # If-None-Match wins over a matching If-Modified-Since (RFC 9110 13.2.2)
            {"if-none-match": '"other"', "if-modified-since": modified},
        ):
            response = await client.get("/static/app.js", headers=headers)
            assert (response.status_code, response.text) == (200, "console.log('hi')\n"), headers
        head = await client.head("/static/app.js", headers={"if-none-match": etag})
        assert head.status_code == 304


async def test_head_sends_the_get_headers_without_a_body(site: Path) -> None:
    app = _app(site)
    async with _client(app) as client:
        get = await client.get("/static/big.bin")
        head = await client.head("/static/big.bin")
    assert head.status_code == 200
    assert head.content == b""
    assert dict(head.headers) == dict(get.headers)
    assert head.headers["content-length"] == str(len(BIG))
    status, _, bodies = await call(app, "/static/big.bin", "HEAD")
    assert (status, bodies) == (200, [b""])  # the file is not even read


async def test_large_files_are_streamed_one_chunk_at_a_time(site: Path) -> None:
    app = _app(site, chunk_size=16 * 1024)
    status, headers, bodies = await call(app, "/static/big.bin")
    assert status == 200
    assert headers["content-length"] == str(len(BIG))
    assert b"".join(bodies) == BIG
    assert max(len(body) for body in bodies) == 16 * 1024
    assert len(bodies) == -(-len(BIG) // (16 * 1024))  # and no empty message at the end


async def test_a_client_leaving_mid_file_stops_the_reads_and_closes_the_file(site: Path) -> None:
    app = _app(site, chunk_size=1024)
    before = set(os.listdir("/proc/self/fd"))
    status, _, bodies = await call(app, "/static/big.bin", disconnect_after=2)
    assert status == 200
    assert 2 <= len(bodies) < len(BIG) // 1024
    assert set(os.listdir("/proc/self/fd")) <= before  # nothing left open


# -- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-", 1000, len(BIG)),
        ("bytes=-100", len(BIG) - 100, len(BIG)),
        ("bytes=-999999999", 0, len(BIG)),  # a suffix longer than the file: all of it
        ("bytes=307000-999999", 307000, len(BIG)),  # an end past the file: up to its end
        ("bytes=5-5", 5, 6),
        (" BYTES = 10-19 ", 10, 20),
    ],
)
async def test_a_single_range_is_206_with_content_range(
    site: Path, range_header: str, start: int, end: int
) -> None:
    async with _client(_app(site)) as client:
        response = await client.get("/static/big.bin", headers={"range": range_header})
    assert response.status_code == 206
    assert response.content == BIG[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(BIG)}"
    assert response.headers["content-length"] == str(end - start)


@pytest.mark.parametrize("range_header", [f"bytes={len(BIG)}-", "bytes=999999999-", "bytes=-0"])
async def test_a_range_past_the_end_is_416(site: Path, range_header: str) -> None:
    async with _client(_app(site)) as client:
        response = await client.get("/static/big.bin", headers={"range": range_header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(BIG)}"
    assert response.json() == {"detail": "Requested range not satisfiable"}


@pytest.mark.parametrize(
    "range_header",
    [
        "bytes=0-1,5-9",  # several ranges: the whole file, as HTTP allows
        "bytes=9-5",  # last before first: invalid, ignored
        "items=0-5",
        "bytes=abc",
        "bytes=-",
        "bytes=²-",  # digits, but not ASCII ones
        "bytes=" + "9" * 5000 + "-",  # more digits than int() takes
        "",
    ],
)
async def test_ranges_we_do_not_serve_get_the_whole_file(site: Path, range_header: str) -> None:
    headers = {"range": range_header.encode("latin-1")}
    async with _client(_app(site)) as client:
        response = await client.get("/static/big.bin", headers=headers)
    assert response.status_code == 200
    assert response.content == BIG
    assert "content-range" not in response.headers


async def test_if_range_sends_the_range_only_while_the_file_is_unchanged(site: Path) -> None:
    async with _client(_app(site)) as client:
        first = await client.get("/static/big.bin")
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        for if_range, status in [
            (etag, 206),
            (modified, 206),
            ('"stale"', 200),
            (f"W/{etag}", 200),  # If-Range compares strongly
            ("Thu, 01 Jan 1970 00:00:00 GMT", 200),
            ("garbage", 200),
        ]:
            headers = {"range": "bytes=0-9", "if-range": if_range}
            response = await client.get("/static/big.bin", headers=headers)
            assert response.status_code == status, if_range
            assert response.content == (BIG[:10] if status == 206 else BIG)


async def test_ranges_of_an_empty_file_and_with_head(site: Path) -> None:
    async with _client(_app(site)) as client:
        empty = await client.get("/static/empty.txt", headers={"range": "bytes=0-"})
        head = await client.head("/static/big.bin", headers={"range": "bytes=10-19"})
    assert (empty.status_code, empty.content) == (200, b"")
    assert (head.status_code, head.content) == (206, b"")
    assert head.headers["content-range"] == f"bytes 10-19/{len(BIG)}"
    assert head.headers["content-length"] == "10"


# -- directories and URLs --------------------------------------------------------------------


async def test_directories_serve_their_index_file(site: Path) -> None:
    async with _client(_app(site)) as client:
        root = await client.get("/static/")
        docs = await client.get("/static/docs/")
        redirect = await client.get("/static/docs")
        no_index = await client.get("/static/noindex/")
        no_index_redirect = await client.get("/static/noindex")
        file_as_directory = await client.get("/static/app.js/")
    assert (root.status_code, root.text) == (200, "<h1>home</h1>")
    assert (docs.status_code, docs.text) == (200, "<h1>docs</h1>")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "./docs/"
    assert [no_index.status_code, no_index_redirect.status_code] == [404, 404]
    assert file_as_directory.status_code == 404
    async with TestClient(_app(site)) as following:
        followed = await following.get("/static/docs")
    assert (followed.status_code, followed.text, followed.url.path) == (
        200,
        "<h1>docs</h1>",
        "/static/docs/",
    )


async def test_index_none_serves_no_directory(site: Path) -> None:
    async with _client(_app(site, index=None)) as client:
        assert (await client.get("/static/")).status_code == 404
        assert (await client.get("/static/docs")).status_code == 404


async def test_reverse_url_gives_urls_that_serve_the_file(site: Path) -> None:
    app = ASyncApp(
        routes=[
            Static("/static", site),
            Include("/assets", "assets", [Static("/files", site, name="files")]),
        ]
    )
    assert app.reverse_url("static", path="app.js") == "/static/app.js"
    assert app.reverse_url("static", path="docs/index.html") == "/static/docs/index.html"
    assert app.reverse_url("assets:files", path="a b.txt") == "/assets/files/a%20b.txt"
    async with _client(app) as client:
        for name, path in [
            ("static", "a b.txt"),
            ("static", "résumé.txt"),
            ("assets:files", "docs/index.html"),
            ("static", "inner-link"),  # a symlink to a file inside the directory
        ]:
            response = await client.get(app.reverse_url(name, path=path))
            assert response.status_code == 200, path
            assert response.content == (site / path).read_bytes()


async def test_a_site_served_from_the_root_leaves_other_routes_alone(site: Path) -> None:
    def api() -> dict[str, bool]:
        return {"api": True}

    app = ASyncApp(routes=[Route("/api", "GET", api), Static("/", site)])
    async with _client(app) as client:
        assert (await client.get("/")).text == "<h1>home</h1>"
        assert (await client.get("/app.js")).text == "console.log('hi')\n"
        assert (await client.get("/api")).json() == {"api": True}
        assert (await client.post("/app.js")).status_code == 405
    assert app.reverse_url("static", path="app.js") == "/app.js"


async def test_the_route_shape_works_too(site: Path) -> None:
    files = StaticFiles(site)
    app = ASyncApp(routes=[Route("/assets/{+path}", "GET", files.serve, name="assets")])
    async with _client(app) as client:
        assert (await client.get("/assets/style.css")).text == "body { color: red }\n"


def test_configuration_errors(site: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        Static("/static", site / "missing")
    with pytest.raises(ConfigurationError, match="does not exist"):
        Static("/static", site / "app.js")
    with pytest.raises(ConfigurationError, match="index must be a file name"):
        Static("/static", site, index="../secret.txt")
    with pytest.raises(ConfigurationError, match="chunk_size"):
        Static("/static", site, chunk_size=0)
    with pytest.raises(ConfigurationError, match="must start with '/'"):
        Static("static", site)


# -- no way out ------------------------------------------------------------------------------

ESCAPES = [
    "/static/../secret.txt",
    "/static/docs/../../secret.txt",
    "/static/../static/app.js",  # even back into the directory: '..' is never resolved
    "/static/%2e%2e/secret.txt",  # a server that does not decode: a file with that name
    "/static/..%2fsecret.txt",
    "/static/..\\secret.txt",
    "/static/\\..\\secret.txt",
    "/static/app.js\x00.png",
    "/static/\x00",
    "/static//etc/passwd",
    "/static/./app.js",
    "/static/.",
    "/static/..",
    "/static/docs//index.html",
    "/static/out-link",
    "/static/abs-link",
    "/static/out-dir/key.txt",
    "/static/out-dir/",
    "/static/.env",
    "/static/fifo",  # not a regular file: never opened, never waited on
    "/static/" + "a" * 5000,
    "/static/" + "a/" * 3000,
    "/static/\udcff",  # not encodable as a file name
    "/static/C:\\Windows\\win.ini",
]


@pytest.mark.parametrize("path", ESCAPES)
async def test_every_way_out_of_the_directory_is_404(site: Path, path: str) -> None:
    status, headers, bodies = await call(_app(site), path)
    assert status == 404, path
    assert b"".join(bodies) == b'{"detail":"Not found"}'
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/static/%2e%2e/secret.txt", "/static/..%2Fsecret.txt"])
async def test_encoded_dots_from_an_http_client_are_404(site: Path, path: str) -> None:
    async with _client(_app(site)) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert "secret" not in response.text


async def test_hidden_files_are_served_with_dotfiles_true(site: Path) -> None:
    status, _, bodies = await call(_app(site, dotfiles=True), "/static/.env")
    assert (status, b"".join(bodies)) == (200, b"SECRET=1")
    for path in ("/static/..", "/static/../secret.txt", "/static/."):
        assert (await call(_app(site, dotfiles=True), path))[0] == 404


async def test_a_symlinked_directory_is_followed(site: Path, tmp_path: Path) -> None:
    (tmp_path / "current").symlink_to(site)
    async with _client(_app(tmp_path / "current")) as client:
        assert (await client.get("/static/app.js")).status_code == 200
        assert (await client.get("/static/out-link")).status_code == 404


# -- a file that changes under the response, and FileResponse ---------------------------------


async def _planned(site: Path, path: str, headers: dict[str, str]) -> Any:
    files = StaticFiles(site)
    return await files.serve(path, Method("GET"), Headers(list(headers.items())))


async def test_a_file_replaced_after_lookup_is_sent_whole_as_it_now_is(site: Path) -> None:
    response = await _planned(site, "big.bin", {"range": "bytes=0-9"})
    assert response.status_code == 206
    (site / "big.bin").write_bytes(b"new content")  # same inode, new size and mtime
    os.utime(site / "big.bin", ns=(1, 1))
    app = ASyncApp(routes=[Route("/x", "GET", lambda: response)])
    status, headers, bodies = await call(app, "/x")
    assert (status, b"".join(bodies)) == (200, b"new content")
    assert headers["content-length"] == "11"
    assert headers["etag"] == '"1-b"'
    assert "content-range" not in headers


async def test_a_file_deleted_after_lookup_is_404_and_logged(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    response = await _planned(site, "app.js", {})
    (site / "app.js").unlink()
    app = ASyncApp(routes=[Route("/x", "GET", lambda: response)])
    with caplog.at_level(logging.WARNING, logger="trio_apistar"):
        status, _, _ = await call(app, "/x")
    assert status == 404
    assert "app.js" in caplog.text


async def test_file_response_from_a_handler(site: Path) -> None:
    def download() -> FileResponse:
        return FileResponse(site / "data.json", headers={"content-disposition": "attachment"})

    def missing() -> FileResponse:
        return FileResponse(site / "nope.txt")

    def directory() -> FileResponse:
        return FileResponse(site / "docs")

    app = ASyncApp(
        routes=[
            Route("/download", "GET", download),
            Route("/missing", "GET", missing),
            Route("/directory", "GET", directory),
        ]
    )
    async with TestClient(app) as client:
        ok = await client.get("/download")
        assert [(await client.get(p)).status_code for p in ("/missing", "/directory")] == [404] * 2
    assert ok.json() == {"a": 1}
    assert ok.headers["content-type"] == "application/json"
    assert ok.headers["content-disposition"] == "attachment"
    assert ok.headers["content-length"] == "8"
    assert ok.headers["etag"].startswith('"')
    with pytest.raises(ValueError, match="chunk_size"):
        FileResponse(site / "app.js", chunk_size=0)


async def test_static_files_raise_not_found_for_handlers_that_wrap_them(site: Path) -> None:
    with pytest.raises(NotFound):
        await _planned(site, "../secret.txt", {})
