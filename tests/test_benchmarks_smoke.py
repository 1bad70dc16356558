"""Smoke run of the benchmark harness (``pytest -m benchmark``): it still runs, for every system.

Tiny iteration counts, so the figures mean nothing and are never compared with a threshold;
the real run is ``python -m benchmarks.run`` (see ``benchmarks/README.md``).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import broadcast, client, fanout, report, templates  # noqa: E402
from benchmarks.apps import (  # noqa: E402
    ASGI_SYSTEMS,
    BROADCAST_PEER,
    BROADCAST_SYSTEMS,
    HTTP_ONLY,
)
from benchmarks.httpload import parse_wrk  # noqa: E402
from benchmarks.inprocess import measure  # noqa: E402
from benchmarks.run import parse_args  # noqa: E402
from benchmarks.server import running_server  # noqa: E402
from benchmarks.typed import SYSTEMS as TYPED_SYSTEMS  # noqa: E402
from benchmarks.typed import measure as measure_typed  # noqa: E402
from benchmarks.wsreader import FrameReader, ServerClosed  # noqa: E402

pytestmark = pytest.mark.benchmark

_OPTIONAL = {"starlette": "starlette", "quart_trio": "quart_trio"}


@pytest.mark.parametrize("system", ASGI_SYSTEMS)
async def test_inprocess_cost_runs(system: str) -> None:
    if system in _OPTIONAL:
        pytest.importorskip(_OPTIONAL[system])
    with trio.fail_after(30):
        result = await measure(system, http_n=3, ws_n=3, batches=1)
    assert result["inproc_http_us_per_req"] > 0
    if system in HTTP_ONLY:
        assert "inproc_ws_us_per_msg" not in result
    else:
        assert result["inproc_ws_us_per_msg"] > 0
        assert result["inproc_ws_us_per_handshake"] > 0


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


# -- broadcast fan-out ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "backend"),
    [(s, b) for s, spec in BROADCAST_SYSTEMS.items() for b in spec.backends],
)
def test_broadcast_fanout_runs(system: str, backend: str, request: pytest.FixtureRequest) -> None:
    if system == BROADCAST_PEER:
        pytest.importorskip("broadcaster")
    app_path, worker_class, _ = BROADCAST_SYSTEMS[system]
    args = argparse.Namespace(
        host="127.0.0.1",
        subscribers=5,
        duration=0.05,
        window=2,
        size=64,
        slow_readers=2,
        stalled=2,
        slow_size=1024,
    )
    # The tests' own redis-server (conftest.py), emptied for this test.
    url = request.getfixturevalue("redis").url if backend == "redis" else "memory://"
    with running_server(
        system,
        cpu=None,
        timeout=20,
        app_path=app_path,
        worker_class=worker_class,
        env={"BENCH_BROADCAST_URL": url},
        ready_path="/pub?channel=probe",
    ) as server:
        args.port, args.server_pid = server.port, server.worker_pid

        async def run() -> dict[str, Any]:
            with trio.fail_after(30):
                return await fanout.fanout(args)

        result = trio.run(run)
    # Every broadcast reached every subscriber once and in order (the client checks both).
    assert result["latency_broadcasts"] > 0
    assert result["load_broadcasts"] > 0
    assert result["fanout_deliveries_per_s"] > 0
    assert result["slow_broadcasts"] > 0
    assert len(result["stalled_backlog_messages"]) == 2


def _frame(opcode: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + length.to_bytes(8, "big")
    return head + payload


async def test_frame_reader_splits_frames_across_reads() -> None:
    small, medium, large = b"a" * 5, b"b" * 300, b"c" * 70_000
    wire = _frame(1, small) + _frame(2, medium) + _frame(9, b"ping") + _frame(1, large)
    wire += _frame(8, (1013).to_bytes(2, "big") + b"too slow")
    left, right = trio.testing.memory_stream_pair()
    reader = FrameReader(left, leftover=wire[:3])  # type: ignore[arg-type]
    got: list[bytes] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(right.send_all, wire[3:])
        with trio.fail_after(5), pytest.raises(ServerClosed) as closed:
            assert await reader.read_one() == small
            await reader.run(lambda payload: got.append(bytes(payload)))
    assert got == [medium, large]
    assert (closed.value.code, closed.value.reason) == (1013, "too slow")


def test_broadcast_table_has_ratios_to_the_peer(tmp_path: Path) -> None:
    lines = [
        {"system": system, "backend": "memory", "repeat": 0, "metric": metric, "value": value}
        for system, value in (("trio_apistar", 20.0), (BROADCAST_PEER, 10.0))
        for metric in ("fanout_deliveries_per_s", "fanout_cpu_us_per_delivery")
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    table = broadcast.write_report(tmp_path)
    assert "| memory | trio_apistar | 20.0 | 20.0\u201320.0 | 1 | \u00d72.00 |" in table
    assert (tmp_path / "table.md").read_text() == table


def test_soak_run_smoke(tmp_path: Path) -> None:
    """The soak run with tiny numbers (the real one: ``python -m benchmarks.soak``)."""
    from benchmarks import soak

    argv = ["--sockets", "10", "--seconds", "0.5", "--cycles", "40", "--held", "2"]
    argv += ["--concurrency", "10", "--rounds", "1", "--no-pin", "--out", str(tmp_path / "s.md")]
    text = soak.main(argv)
    assert "| **messages lost** | **0** |" in text
    assert "| client errors | 0 |" in text
    assert (tmp_path / "s.md").read_text() == text
