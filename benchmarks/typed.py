"""In-process cost of typed data: a 10-field JSON body validated per request and per WebSocket
message, next to the untyped path, FastAPI (pydantic too) and a hand-written raw ASGI app.

``python -m benchmarks.typed`` measures every system in a fresh process per sample (as
``benchmarks.inprocess`` does: Hypercorn-shaped scopes, a memory-channel ``receive``, process CPU
time, fastest of 5 batches) and prints a markdown table; ``--system NAME`` measures one and
prints its JSON.
"""

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

import trio

from . import inprocess
from .apps import typed_apps
from .inprocess import Message, http_exchange, http_scope, lifespan

_DASH = "\u2013"  # en dash, for ranges
_TIMES = "\u00d7"  # multiplication sign, for ratios
BODY = json.dumps(typed_apps.ITEM).encode()
EXPECTED = {"ok": True, "name": typed_apps.ITEM["name"]}

#: system -> (app factory, measures WebSockets too)
SYSTEMS: dict[str, tuple[Any, bool]] = {
    "raw": (lambda: typed_apps.raw, True),
    "trio_apistar_untyped": (lambda: typed_apps.untyped, True),
    "trio_apistar_typed": (lambda: typed_apps.typed, True),
    "fastapi_typed": (typed_apps.fastapi_app, False),
}


async def post_item(app: Any, state: dict[str, Any]) -> list[Message]:
    """``POST /items`` with the 10-field body; return what the app sent."""
    scope = http_scope(state)
    scope["method"] = "POST"
    scope["path"] = "/items"
    scope["raw_path"] = b"/items"
    scope["headers"] = [
        *scope["headers"],
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ]
    return await http_exchange(app, scope, BODY)


def check(sent: list[Message]) -> None:
    """Raise ``RuntimeError`` unless ``sent`` is a 200 with the expected JSON."""
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if not sent or sent[0].get("status") != 200 or json.loads(body) != EXPECTED:
        raise RuntimeError(f"unexpected response: {sent!r}")


def check_reply(reply: Message) -> None:
    """Raise ``RuntimeError`` unless the WebSocket ``reply`` carries the expected JSON."""
    if json.loads(reply.get("text", "null")) != EXPECTED:
        raise RuntimeError(f"unexpected reply: {reply!r}")


async def http_cost(app: Any, state: dict[str, Any], n: int, batches: int) -> float:
    """µs per typed ``POST /items``, fastest of ``batches`` batches of ``n``."""
    return await inprocess.http_cost(app, state, n, batches, request=post_item, check=check)


async def ws_cost(app: Any, state: dict[str, Any], n: int, batches: int) -> float:
    """µs per typed message answered, fastest of ``batches`` batches of ``n``."""
    return await inprocess.websocket_cost(
        app, state, n, batches, text=BODY.decode(), check=check_reply
    )


async def measure(system: str, http_n: int, ws_n: int, batches: int = 5) -> dict[str, Any]:
    """The in-process cost of ``system``: µs per typed request and, if it has one, per message."""
    factory, has_ws = SYSTEMS[system]
    app = factory()
    result: dict[str, Any] = {"system": system}
    async with lifespan(app) as state:
        await http_cost(app, state, max(1, http_n // 10), 1)  # warm-up
        result["typed_http_us_per_req"] = await http_cost(app, state, http_n, batches)
        if has_ws:
            await ws_cost(app, state, max(1, ws_n // 10), 1)
            result["typed_ws_us_per_msg"] = await ws_cost(app, state, ws_n, batches)
    return result


def table(samples: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown: median (min-max) per system, and the ratio to the untyped trio_apistar path."""
    lines = [
        f"| system | POST 10-field body (µs/req) | {_TIMES}untyped "
        f"| WS 10-field message (µs/msg) | {_TIMES}untyped |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]

    def cell(system: str, key: str) -> tuple[str, str]:
        values = [s[key] for s in samples.get(system, []) if key in s]
        base = [s[key] for s in samples.get("trio_apistar_untyped", []) if key in s]
        if not values:
            return _DASH, _DASH
        median = statistics.median(values)
        ratio = f"{_TIMES}{median / statistics.median(base):.2f}" if base else _DASH
        return f"{median:.1f} ({min(values):.1f}{_DASH}{max(values):.1f})", ratio

    for system in SYSTEMS:
        http = cell(system, "typed_http_us_per_req")
        ws = cell(system, "typed_ws_us_per_msg")
        lines.append(f"| {system} | {http[0]} | {http[1]} | {ws[0]} | {ws[1]} |")
    return "\n".join(lines)


def main() -> None:
    """Measure one system (``--system``) or all of them, each sample in a fresh process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", choices=sorted(SYSTEMS))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--http-n", type=int, default=1000)
    parser.add_argument("--ws-n", type=int, default=4000)
    args = parser.parse_args()
    if args.system:
        result = trio.run(measure, args.system, args.http_n, args.ws_n)
        print(json.dumps(result))
        return
    samples: dict[str, list[dict[str, Any]]] = {system: [] for system in SYSTEMS}
    for repeat in range(args.repeat):
        for system in SYSTEMS:  # interleaved, so drift hits every system alike
            command = [sys.executable, "-m", "benchmarks.typed", f"--system={system}"]
            command += [f"--http-n={args.http_n}", f"--ws-n={args.ws_n}"]
            out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
            samples[system].append(json.loads(out.stdout))
            print(f"  {repeat} {out.stdout.strip()}", file=sys.stderr)
    print(table(samples))


if __name__ == "__main__":
    main()
