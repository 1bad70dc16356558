"""Where should a Jinja2 template render: on the event loop, in a worker thread, or in Jinja2's
async mode? ``python -m benchmarks.templates`` prints, for each way:

* ``small_us``: µs per render of a small page, one render at a time (the cost of the way itself,
  as a ratio to rendering inline);
* ``lag_ms``: the worst delay of a 1 ms timer on the event loop while ``--tasks`` tasks render a
  large page (a 2,000-row table) over and over: how long other connections wait.

Jinja2's async mode renders on the event loop like ``inline`` and never yields while rendering
(there is nothing to await in a template of plain values), so it cannot help the other
connections; the thread can, at the price of a thread round trip per render.
"""

import argparse
import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jinja2
import trio

SMALL = "<h1>{{ title }}</h1><ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>"
LARGE = (
    "<table>{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>"
    "{% endfor %}</tr>{% endfor %}</table>"
)
SMALL_CONTEXT = {"title": "Hello <you>", "items": [f"item {i}" for i in range(10)]}
LARGE_CONTEXT = {"rows": [[f"r{r}c{c}&" for c in range(10)] for r in range(2000)]}

Render = Callable[[jinja2.Template, dict[str, Any]], Awaitable[str]]


async def _inline(template: jinja2.Template, context: dict[str, Any]) -> str:
    return template.render(context)


async def _thread(template: jinja2.Template, context: dict[str, Any]) -> str:
    result: str = await trio.to_thread.run_sync(template.render, context)
    return result


async def _async_mode(template: jinja2.Template, context: dict[str, Any]) -> str:
    return await template.render_async(context)


WAYS: dict[str, tuple[Render, bool]] = {
    "inline": (_inline, False),
    "thread": (_thread, False),
    "async_mode": (_async_mode, True),
}


async def small_cost(render: Render, template: jinja2.Template, n: int) -> float:
    """µs per render of the small page, sequentially."""
    for _ in range(min(n, 50)):  # warm up
        await render(template, SMALL_CONTEXT)
    start = time.perf_counter()
    for _ in range(n):
        await render(template, SMALL_CONTEXT)
    return (time.perf_counter() - start) / n * 1e6


async def loop_lag(render: Render, template: jinja2.Template, renders: int, tasks: int) -> float:
    """The worst lateness (ms) of a 1 ms timer while ``tasks`` tasks render the large page."""
    worst = 0.0
    done = trio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = trio.current_time()
            await trio.sleep(0.001)
            worst = max(worst, trio.current_time() - before - 0.001)

    async def worker() -> None:
        for _ in range(renders):
            await render(template, LARGE_CONTEXT)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        async with trio.open_nursery() as workers:
            for _ in range(tasks):
                workers.start_soon(worker)
        done.set()
    return worst * 1e3


async def measure(n: int = 2000, renders: int = 5, tasks: int = 1) -> dict[str, dict[str, float]]:
    """Both figures for every way, plus ``small_ratio`` (its small_us over inline's)."""
    results: dict[str, dict[str, float]] = {}
    for name, (render, is_async) in WAYS.items():
        environment = jinja2.Environment(autoescape=True, enable_async=is_async)
        small = environment.from_string(SMALL)
        large = environment.from_string(LARGE)
        results[name] = {
            "small_us": await small_cost(render, small, n),
            "lag_ms": await loop_lag(render, large, renders, tasks),
        }
    base = results["inline"]["small_us"]
    for figures in results.values():
        figures["small_ratio"] = figures["small_us"] / base if base else math.nan
    return results


def main() -> None:
    """Print the figures as JSON, one line per way."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="small renders per way")
    parser.add_argument("--renders", type=int, default=5, help="large renders per task")
    parser.add_argument("--tasks", type=int, default=1, help="tasks rendering the large page")
    args = parser.parse_args()
    for name, figures in trio.run(measure, args.n, args.renders, args.tasks).items():
        print(json.dumps({"way": name, **{k: round(v, 2) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
