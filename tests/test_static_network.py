"""Static files and templates over a real socket: hypercorn's trio worker, httpx, and raw
request lines (httpx would normalise the paths that try to leave the directory)."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from trio_apistar.test import LiveServer, run_hypercorn

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent
BIG = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(scope="module")
def static_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    site = tmp_path_factory.mktemp("site")
    (site / "static").mkdir()
    (site / "templates").mkdir()
    (site / "secret.txt").write_text("top secret")
    (site / "static" / "app.js").write_text("console.log('hi')\n")
    (site / "static" / "big.bin").write_bytes(BIG)
    (site / "static" / "out-link").symlink_to("../secret.txt")
    (site / "templates" / "home.html").write_text(
        '<p>{{ user }}</p><script src="{{ static_url("app.js") }}"></script>'
    )
    with run_hypercorn(
        "tests.apps.static_app:app", cwd=ROOT, env={"STATIC_SITE": str(site)}
    ) as server:
        yield server


async def test_a_page_and_its_script_with_validators_ranges_and_head(
    static_server: LiveServer,
) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=static_server.url) as client:
            page = await client.get("/")
            script = await client.get("/static/app.js")
            etag = script.headers["etag"]
            cached = await client.get("/static/app.js", headers={"if-none-match": etag})
            since = await client.get(
                "/static/app.js", headers={"if-modified-since": script.headers["last-modified"]}
            )
            head = await client.head("/static/app.js")
            part = await client.get("/static/big.bin", headers={"range": "bytes=1000-1999"})
            tail = await client.get("/static/big.bin", headers={"range": "bytes=-10"})
            past = await client.get("/static/big.bin", headers={"range": "bytes=2000000-"})
            whole = await client.get("/static/big.bin")
    assert page.text == '<p>&lt;Ada&gt;</p><script src="/static/app.js"></script>'
    assert script.text == "console.log('hi')\n"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "no-cache"
    assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", etag)
    assert since.status_code == 304
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == script.headers["content-length"] == "18"
    assert head.headers["etag"] == etag
    assert (part.status_code, part.content) == (206, BIG[1000:2000])
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(BIG)}"
    assert (tail.status_code, tail.content) == (206, BIG[-10:])
    assert (past.status_code, past.headers["content-range"]) == (416, f"bytes */{len(BIG)}")
    assert (whole.status_code, whole.content) == (200, BIG)


async def _raw_get(server: LiveServer, target: str, max_bytes: int = 1 << 16) -> bytes:
    """Send ``GET target`` exactly as written; return what the server sent (up to max_bytes)."""
    stream = await trio.open_tcp_stream(server.host, server.port)
    async with stream:
        request = f"GET {target} HTTP/1.1\r\nHost: {server.host}\r\nConnection: close\r\n\r\n"
        await stream.send_all(request.encode("latin-1"))
        received = b""
        while len(received) < max_bytes:
            chunk = await stream.receive_some(max_bytes)
            if not chunk:
                break
            received += chunk
    return received


@pytest.mark.parametrize(
    "target",
    [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/..%2fsecret.txt",
        "/static/..%5csecret.txt",
        "/static/..\\secret.txt",
        "/static/app.js%00.png",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/out-link",
        "/static/%ff",
        "/static/..%c0%afsecret.txt",  # an overlong UTF-8 '/': not a slash, not a file
    ],
)
async def test_paths_out_of_the_directory_are_404_over_the_wire(
    static_server: LiveServer, target: str
) -> None:
    with trio.fail_after(10):
        response = await _raw_get(static_server, target)
    assert response.startswith(b"HTTP/1.1 404 "), response[:200]
    assert response.endswith(b'{"detail":"Not found"}')
    assert b"secret" not in response.split(b"\r\n\r\n", 1)[1]


async def test_a_client_leaving_mid_file_harms_nothing(static_server: LiveServer) -> None:
    with trio.fail_after(10):
        start = await _raw_get(static_server, "/static/big.bin", max_bytes=10_000)
        async with httpx.AsyncClient(base_url=static_server.url) as client:
            after = await client.get("/static/big.bin")
    assert start.startswith(b"HTTP/1.1 200 ")
    assert after.content == BIG
    assert "Traceback" not in static_server.log()
