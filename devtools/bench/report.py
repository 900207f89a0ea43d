"""What a run leaves behind: a table in the terminal, ``results.json``, a latency plot, BENCH lines."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

from devtools.bench.runner import BenchResults


def describe_machine() -> dict[str, Any]:
    """CPU model, core count, memory and load, for the closing note."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
        "host": platform.node(),
    }


def write_json(results: BenchResults, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = without_nan(results.as_dict())
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n")


def without_nan(value: Any) -> Any:
    """A copy with NaN and infinities as null (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(item) for item in value]
    return value


def plot_latency(results: BenchResults, path: Path) -> bool:
    """p50 and p99 produce → verdict against offered load; False when there is nothing to plot."""
    rows = [row for row in results.latency if row["verdicts"]]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [row["offered_rate"] for row in rows]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    axes.plot(offered, [row["p50_ms"] for row in rows], marker="o", label="p50")
    axes.plot(offered, [row["p99_ms"] for row in rows], marker="s", label="p99")
    bound = next((f.value for f in results.figures if f.name == "p99_bound_ms"), None)
    if bound is not None and bound == bound:
        axes.axhline(bound, linestyle="--", color="grey", label=f"bound {bound:.0f} ms")
    peak = results.pipeline.get("eps")
    if peak:
        axes.axvline(peak, linestyle=":", color="black", label=f"peak {peak:,.0f}/s")
    axes.set_xlabel("offered load (events/s)")
    axes.set_ylabel("produce → verdict (ms)")
    axes.set_title("guardstream pipeline latency against offered load")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def table(results: BenchResults) -> Any:
    from rich.table import Table

    grid = Table(title="guardstream benchmark", show_lines=False)
    for column, justify in (
        ("figure", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("target", "right"),
        ("pass", "center"),
    ):
        grid.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]  # the justify values come from a fixed table of rich's literals
    grid.add_column("what", ratio=1)
    for figure in results.figures:
        passed = figure.passed
        mark = "—" if passed is None else ("[green]yes[/]" if passed else "[red]no[/]")
        target = "" if figure.target is None else f"{figure.target:,.2f}"
        grid.add_row(figure.name, f"{figure.value:,.2f}", figure.unit, target, mark, figure.note)
    return grid


def sweep_table(results: BenchResults) -> Any:
    from rich.table import Table

    grid = Table(title="triton_direct sweep (score model)")
    for column in ("batch", "concurrency", "items/s", "median request ms"):
        grid.add_column(column, justify="right")
    for point in results.sweep:
        style = "bold" if point == results.best else ""
        grid.add_row(
            str(point.batch),
            str(point.concurrency),
            f"{point.items_per_s:,.0f}",
            f"{point.median_request_ms:,.1f}",
            style=style,
        )
    return grid


def latency_table(results: BenchResults) -> Any:
    from rich.table import Table

    grid = Table(title="latency against offered load (produce → verdict)")
    for column in ("share of peak", "offered/s", "verdicts", "p50 ms", "p95 ms", "p99 ms", "median batch ms"):
        grid.add_column(column, justify="right")
    for row in results.latency:
        grid.add_row(
            f"{row['share_of_peak']:.0%}",
            f"{row['offered_rate']:,.0f}",
            str(row["verdicts"]),
            f"{row['p50_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['median_batch_inference_ms']:.1f}",
        )
    return grid
