"""Summarising raw JSON-lines results into a markdown table and a PNG chart of ratios to raw ASGI.

``python -m benchmarks.report RESULTS_DIR`` rebuilds ``table.md`` and ``ratios.png`` from
``results.jsonl`` (and ``meta.json``) in that folder.
"""

import argparse
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .apps import ALL_SYSTEMS

BASELINE = "raw"
_DASH = "\u2013"  # en dash, for ranges
_TIMES = "\u00d7"  # multiplication sign, for ratios


@dataclass(frozen=True)
class Metric:
    """How one measured quantity is named, scaled and judged."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    scale: float = 1.0  # multiply raw values by this for display


METRICS: tuple[Metric, ...] = (
    Metric("ws_rtt_median_us", "WS echo RTT median, 1 conn", "µs", False),
    Metric("ws_rtt_p99_us", "WS echo RTT p99, 1 conn", "µs", False),
    Metric("ws_rtt_cpu_us_per_msg", "WS echo server CPU, 1 conn", "µs/msg", False),
    Metric("ws_msgs_per_s", "WS echo throughput, 50 conns", "msgs/s", True),
    Metric("ws_cpu_us_per_msg", "WS echo server CPU, 50 conns", "µs/msg", False),
    Metric("ws_client_cpu_share", "WS echo client CPU share, 50 conns", "core", False),
    Metric("ws_handshakes_per_s", "WS handshakes (open+close), 10 at a time", "1/s", True),
    Metric("ws_cpu_us_per_handshake", "WS handshake server CPU", "µs", False),
    Metric(
        "ws_rss_bytes_per_idle_conn", "RSS per idle WS conn, 1000 conns", "KiB", False, 1 / 1024
    ),
    Metric("http_req_per_s", "HTTP GET JSON, wrk 50 conns", "req/s", True),
    Metric("http_cpu_us_per_req", "HTTP GET JSON server CPU", "µs/req", False),
    Metric("inproc_http_us_per_req", "In-process HTTP GET JSON", "µs/req", False),
    Metric("inproc_ws_us_per_msg", "In-process WS echo", "µs/msg", False),
    Metric("inproc_ws_us_per_handshake", "In-process WS handshake (open+close)", "µs", False),
)
METRICS_BY_KEY = {metric.key: metric for metric in METRICS}

#: trio_apistar's targets: metric -> largest (or, for higher-is-better, smallest) allowed ratio.
TARGETS: dict[str, float] = {
    "ws_cpu_us_per_msg": 1.03,
    "ws_msgs_per_s": 0.97,
    "ws_rtt_median_us": 1.02,
    "ws_rss_bytes_per_idle_conn": 1.10,
    "http_cpu_us_per_req": 1.03,
    "inproc_http_us_per_req": 2.0,
    "inproc_ws_us_per_msg": 2.5,
    "ws_cpu_us_per_handshake": 1.03,
    "ws_handshakes_per_s": 0.97,
}


@dataclass(frozen=True)
class Summary:
    """The samples of one metric for one system, summarised."""

    median: float
    low: float
    high: float
    n: int


def load(path: Path) -> list[dict[str, Any]]:
    """Return the records of a ``results.jsonl`` file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, Summary]]:
    """Return ``{metric: {system: Summary}}`` over records shaped ``{system, metric, value}``."""
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        samples[record["metric"]][record["system"]].append(float(record["value"]))
    return {
        metric: {
            system: Summary(statistics.median(values), min(values), max(values), len(values))
            for system, values in by_system.items()
        }
        for metric, by_system in samples.items()
    }


def ratio(summaries: dict[str, Summary], system: str) -> float | None:
    """Return the median of ``system`` over the median of the raw ASGI app, if both exist."""
    base = summaries.get(BASELINE)
    mine = summaries.get(system)
    if base is None or mine is None or base.median == 0:
        return None
    return mine.median / base.median


def format_number(value: float) -> str:
    """Return ``value`` with three significant figures or so, thousands separated."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def target_met(metric: str, value: float) -> bool:
    """Return whether trio_apistar's ratio ``value`` for ``metric`` meets its target."""
    bound = TARGETS[metric]
    return value >= bound if METRICS_BY_KEY[metric].higher_is_better else value <= bound


def markdown_table(summary: dict[str, dict[str, Summary]]) -> str:
    """Return markdown: a row per metric and system, then trio_apistar against its targets."""
    lines = [
        f"| metric | better | system | median | min{_DASH}max | n | ratio to raw |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for metric in METRICS:
        by_system = summary.get(metric.key)
        if not by_system:
            continue
        better = "higher" if metric.higher_is_better else "lower"
        for system in ALL_SYSTEMS:
            if system not in by_system:
                continue
            s = by_system[system]
            r = ratio(by_system, system)
            lines.append(
                f"| {metric.label} ({metric.unit}) | {better} | {system} "
                f"| {format_number(s.median * metric.scale)} "
                f"| {format_number(s.low * metric.scale)}{_DASH}"
                f"{format_number(s.high * metric.scale)} | {s.n} "
                f"| {'' if r is None else f'{_TIMES}{r:.3f}'} |"
            )
    lines += [
        "",
        "trio_apistar against its targets (ratio of medians to raw ASGI):",
        "",
        "| metric | ratio | target | met |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, bound in TARGETS.items():
        r = ratio(summary.get(key, {}), "trio_apistar")
        metric = METRICS_BY_KEY[key]
        sign = "≥" if metric.higher_is_better else "≤"
        verdict = "n/a" if r is None else ("yes" if target_met(key, r) else "**no**")
        shown = "n/a" if r is None else f"{_TIMES}{r:.3f}"
        lines.append(
            f"| {metric.label} ({metric.unit}) | {shown} | {sign} {_TIMES}{bound} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def chart(summary: dict[str, dict[str, Summary]], path: Path, title: str) -> None:
    """Draw each system's ratio to raw ASGI per metric as grouped horizontal bars into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if m.key in summary]
    systems = [s for s in ALL_SYSTEMS if s != BASELINE]
    height = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(metrics) + 1.5))
    for index, system in enumerate(systems):
        ys, values = [], []
        for row, metric in enumerate(metrics):
            r = ratio(summary[metric.key], system)
            if r is not None:
                ys.append(row + index * height)
                values.append(r)
        ax.barh(ys, values, height=height, label=system)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks([row + 0.4 - height / 2 for row in range(len(metrics))])
    labels = [f"{m.label} ({'↑' if m.higher_is_better else '↓'} better)" for m in metrics]
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ratio of medians to the raw ASGI app (log scale; 1 = raw)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(folder: Path) -> str:
    """(Re)write ``table.md`` and ``ratios.png`` in ``folder`` and return the table."""
    summary = summarise(load(folder / "results.jsonl"))
    meta_path = folder / "meta.json"
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    header = meta.get("header", "")
    table = (header + "\n\n" if header else "") + markdown_table(summary)
    (folder / "table.md").write_text(table)
    chart(summary, folder / "ratios.png", meta.get("title", "ratio to raw ASGI"))
    return table


def main() -> None:
    """Rebuild the table and chart of a results folder and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    print(write_report(parser.parse_args().folder))


if __name__ == "__main__":
    main()
