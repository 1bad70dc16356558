"""Smoke run of the benchmark harness (``pytest -m benchmark``): it still runs, for every system.

Tiny iteration counts, so the figures mean nothing and are never compared with a threshold;
the real run is ``python -m benchmarks.run`` (see ``benchmarks/README.md``).
"""

import sys
from pathlib import Path

import pytest
import trio

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import client, report, templates  # noqa: E402
from benchmarks.apps import ASGI_SYSTEMS  # noqa: E402
from benchmarks.httpload import parse_wrk  # noqa: E402
from benchmarks.inprocess import measure  # noqa: E402
from benchmarks.run import parse_args  # noqa: E402
from benchmarks.server import running_server  # noqa: E402
from benchmarks.typed import SYSTEMS as TYPED_SYSTEMS  # noqa: E402
from benchmarks.typed import measure as measure_typed  # noqa: E402

pytestmark = pytest.mark.benchmark

_OPTIONAL = {"starlette": "starlette", "quart_trio": "quart_trio"}


@pytest.mark.parametrize("system", ASGI_SYSTEMS)
async def test_inprocess_cost_runs(system: str) -> None:
    if system in _OPTIONAL:
        pytest.importorskip(_OPTIONAL[system])
    with trio.fail_after(30):
        result = await measure(system, http_n=3, ws_n=3, batches=1)
    assert result["inproc_http_us_per_req"] > 0
    assert result["inproc_ws_us_per_msg"] > 0


@pytest.mark.parametrize("system", sorted(TYPED_SYSTEMS))
async def test_typed_inprocess_cost_runs(system: str) -> None:
    if system == "fastapi_typed":
        pytest.importorskip("fastapi")
    with trio.fail_after(30):
        result = await measure_typed(system, http_n=3, ws_n=3, batches=1)
    assert result["typed_http_us_per_req"] > 0
    assert system == "fastapi_typed" or result["typed_ws_us_per_msg"] > 0


def test_real_server_websocket_echo_for_trio_apistar() -> None:
    with running_server("trio_apistar", cpu=None, timeout=20) as server:
        assert server.worker_pid != server.pid  # the Hypercorn worker, not its master

        async def echo() -> dict[str, float]:
            with trio.fail_after(20):
                return await client.latency(server.ws_url, server.worker_pid, 0.05, warmup=5)

        result = trio.run(echo)
    assert result["messages"] > 0
    assert result["ws_rtt_median_us"] > 0


def test_report_writes_table_and_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    lines = [
        f'{{"system": "{system}", "repeat": 0, "metric": "{metric}", "value": {value}}}'
        for system, value in (("raw", 10.0), ("trio_apistar", 12.0))
        for metric in ("ws_msgs_per_s", "inproc_http_us_per_req")
    ]
    (tmp_path / "results.jsonl").write_text("\n".join(lines) + "\n")
    table = report.write_report(tmp_path)
    assert "| trio_apistar | 12.0 |" in table
    assert (tmp_path / "ratios.png").stat().st_size > 0


def test_wrk_output_is_parsed() -> None:
    output = "  2736 requests in 2.00s, 394.15KB read\nRequests/sec:   1366.93\n"
    assert parse_wrk(output) == (2736, 2.0)
    with pytest.raises(RuntimeError):
        parse_wrk(output + "  Non-2xx or 3xx responses: 3\n")


def test_quick_options_are_small() -> None:
    args = parse_args(["--quick"])
    assert (args.repeat, args.duration) == (2, 1.0)
    assert parse_args(["--quick", "--repeat", "7"]).repeat == 7


async def test_template_rendering_ways_run() -> None:
    with trio.fail_after(30):
        result = await templates.measure(n=3, renders=1)
    assert set(result) == {"inline", "thread", "async_mode"}
    assert all(figures["small_us"] > 0 for figures in result.values())
