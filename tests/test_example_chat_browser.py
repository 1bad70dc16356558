"""The example chat page in headless Chromium: tabs join, talk through the form and leave.

Chromium is launched by ``tests/chromium.py``, as in the interoperability suite, and driven over
the DevTools protocol: typing, key presses and more tabs. One test runs one server on
``memory://``; another runs two Hypercorn processes sharing one redis-server, a tab on each, and
restarts one of them to see its tab reconnect and catch up.
"""

import json
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trio
import trio_websocket
from chromium import running_chromium

from trio_apistar.test import LiveServer, RedisServer, run_hypercorn

pytestmark = [pytest.mark.network, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent

POLL = 0.05
MAX_POLLS = 200  # 10 s; the whole test has 15 s


@pytest.fixture
def chat_server() -> Iterator[LiveServer]:
    """A fresh ``examples.chat:app`` (an empty room) under Hypercorn's trio worker."""
    with run_hypercorn("examples.chat:app", cwd=ROOT) as live:
        yield live


class Page:
    """One tab, driven over its DevTools WebSocket: evaluate scripts, type, press keys.

    Uncaught exceptions in the page's scripts are collected in ``exceptions``.
    """

    def __init__(self, target: dict[str, Any]) -> None:
        self._context: AbstractAsyncContextManager[trio_websocket.WebSocketConnection] = (
            trio_websocket.open_websocket_url(target["webSocketDebuggerUrl"])
        )
        self._connection: trio_websocket.WebSocketConnection | None = None
        self._next_id = 0
        self.exceptions: list[str] = []

    async def __aenter__(self) -> "Page":
        self._connection = await self._context.__aenter__()
        await self.call("Runtime.enable")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._context.__aexit__(exc_type, exc, tb)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result, noting the events seen meanwhile."""
        assert self._connection is not None, "use the page as 'async with'"
        self._next_id += 1
        call_id = self._next_id
        await self._connection.send_message(
            json.dumps({"id": call_id, "method": method, "params": params})
        )
        for _ in range(10_000):
            message: dict[str, Any] = json.loads(await self._connection.get_message())
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.exceptions.append(details.get("exception", {}).get("description", details))
            if message.get("id") == call_id:
                assert "error" not in message, f"{method}: {message['error']}"
                result: dict[str, Any] = message["result"]
                return result
        raise AssertionError(f"no answer to {method}")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in reply, f"{expression}: {reply['exceptionDetails']}"
        return reply["result"].get("value")

    async def wait_for(self, expression: str) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        for _ in range(MAX_POLLS):
            if value := await self.evaluate(expression):
                return value
            await trio.sleep(POLL)
        raise AssertionError(f"never true in the page: {expression}")

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the field, type ``text`` and press Enter (which submits its form)."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.call("Input.insertText", text=text)
        enter = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        await self.call("Input.dispatchKeyEvent", type="keyDown", text="\r", **enter)
        await self.call("Input.dispatchKeyEvent", type="keyUp", **enter)

    async def log(self) -> list[list[str]]:
        """The chat log's lines as ``[text, class]`` pairs."""
        lines: list[list[str]] = await self.evaluate(
            "Array.from(document.querySelectorAll('#log > div'),"
            " (line) => [line.textContent, line.className])"
        )
        return lines

    async def wait_for_line(self, text: str, polls: int = MAX_POLLS) -> None:
        """Wait until the chat log shows ``text`` (a line that starts with it, if it ends with
        ``...``)."""
        for _ in range(polls):
            if any(_matches(line, text) for line, _class in await self.log()):
                return
            await trio.sleep(POLL)
        raise AssertionError(f"the chat log never showed {text!r}: {await self.log()}")


def _matches(line: str, expected: str) -> bool:
    return line.startswith(expected[:-3]) if expected.endswith("...") else line == expected


async def open_page(devtools: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """A new tab on ``url`` (its DevTools target)."""
    target: dict[str, Any] = (await devtools.put(f"/json/new?{quote(url, safe='')}")).json()
    return target


async def join(page: Page, name: str) -> None:
    """Join the room through the page's form, as a user would."""
    await page.wait_for("document.readyState === 'complete' && !!document.getElementById('join')")
    await page.type_into("#name", name)
    await page.wait_for("!document.getElementById('text').disabled")  # the socket is open


async def test_two_tabs_chat_through_the_page(chat_server: LiveServer) -> None:
    page_url = f"{chat_server.url}/"
    with trio.fail_after(15):
        async with running_chromium() as port:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as devtools:
                ada_target = await open_page(devtools, page_url)
                bob_target = await open_page(devtools, page_url)
                copycat_target = await open_page(devtools, page_url)
                async with Page(ada_target) as ada:
                    await join(ada, "ada")
                    await ada.wait_for_line("ada joined (ada)")
                    async with Page(bob_target) as bob:
                        await join(bob, "bob")
                        await bob.wait_for_line("bob joined (ada, bob)")
                        await ada.wait_for_line("bob joined (ada, bob)")

                        await bob.type_into("#text", "hello from bob")
                        await ada.wait_for_line("bob: hello from bob")
                        await bob.wait_for_line("bob: hello from bob")
                        assert await bob.evaluate("document.getElementById('text').value") == ""
                        bob_log = await bob.log()

                    # Bob closes his tab: his WebSocket closes and the room says he left.
                    closed = await devtools.get(f"/json/close/{bob_target['id']}")
                    assert closed.status_code == 200, closed.text
                    await ada.wait_for_line("bob left (ada)")
                    ada_log = await ada.log()

                    # A second "ada" is refused, and the page does not let her type.
                    async with Page(copycat_target) as copycat:
                        page_ready = "document.readyState === 'complete'"
                        await copycat.wait_for(page_ready)
                        await copycat.type_into("#name", "ada")
                        await copycat.wait_for_line("disconnected (1008 'ada' is already here)")
                        copycat_disabled = await copycat.evaluate(
                            "[document.getElementById('text').disabled,"
                            " document.querySelector('#say button').disabled]"
                        )
            async with httpx.AsyncClient(base_url=chat_server.url, timeout=5) as http:
                members = (await http.get("/members")).json()
    assert ada_log == [
        ["ada joined (ada)", "event"],
        ["bob joined (ada, bob)", "event"],
        ["bob: hello from bob", ""],
        ["bob left (ada)", "event"],
    ]
    assert bob_log == [["bob joined (ada, bob)", "event"], ["bob: hello from bob", ""]]
    assert ada.exceptions == bob.exceptions == []
    assert members == {"members": ["ada"]}
    assert copycat_disabled == [True, True]


class ChatServer:
    """``examples.chat:app`` on Redis in a Hypercorn process of its own, that can be stopped
    and started again on the same port (from a thread: starting and stopping block)."""

    def __init__(self, redis_url: str) -> None:
        self.env = {"CHAT_BROADCAST_URL": redis_url}
        self.port: int | None = None
        self._running: AbstractContextManager[LiveServer] | None = None

    def start(self) -> LiveServer:
        # Hypercorn waits this long for open sockets before the app closes them with 1001.
        graceful = ("--graceful-timeout", "1")
        self._running = run_hypercorn(
            "examples.chat:app", *graceful, cwd=ROOT, env=self.env, port=self.port
        )
        live = self._running.__enter__()
        self.port = live.port
        return live

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.__exit__(None, None, None)


async def test_tabs_on_two_workers_talk_and_a_restarted_one_catches_up(
    redis: RedisServer,
) -> None:
    first, second = ChatServer(redis.url), ChatServer(redis.url)
    try:
        with trio.fail_after(60):
            one = await trio.to_thread.run_sync(first.start)
            two = await trio.to_thread.run_sync(second.start)
            async with running_chromium() as port:
                base = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(base_url=base, timeout=5) as devtools:
                    ada_target = await open_page(devtools, f"{one.url}/")
                    bob_target = await open_page(devtools, f"{two.url}/")
                    async with Page(ada_target) as ada, Page(bob_target) as bob:
                        await join(ada, "ada")
                        await ada.wait_for_line("ada joined (ada)")
                        await join(bob, "bob")
                        await ada.wait_for_line("bob joined (ada, bob)")
                        await bob.wait_for_line("bob joined (ada, bob)")

                        await bob.type_into("#text", "hello from the second worker")
                        await ada.wait_for_line("bob: hello from the second worker")
                        await ada.type_into("#text", "hello from the first")
                        await bob.wait_for_line("ada: hello from the first")

                        # The first worker restarts: ada's tab loses its socket and retries;
                        # what bob says meanwhile reaches her once she is back.
                        await trio.to_thread.run_sync(first.stop)
                        await ada.wait_for_line("disconnected (...")
                        await bob.type_into("#text", "while you were away")
                        await bob.wait_for_line("bob: while you were away")
                        await trio.to_thread.run_sync(first.start)
                        await ada.wait_for_line("bob: while you were away", polls=400)
                        await ada.wait_for("!document.getElementById('text').disabled")
                        await ada.type_into("#text", "back")
                        await bob.wait_for_line("ada: back")
                        await ada.wait_for_line("ada: back")
                        ada_log, bob_log = await ada.log(), await bob.log()
    finally:
        await trio.to_thread.run_sync(first.stop)
        await trio.to_thread.run_sync(second.stop)
    said = [line for line, cls in ada_log if cls == ""]
    assert said == [
        "bob: hello from the second worker",
        "ada: hello from the first",
        "bob: while you were away",  # caught up once, in order, after the reconnect
        "ada: back",
    ]
    assert [line for line, cls in bob_log if cls == ""] == said
    assert ada.exceptions == bob.exceptions == []
