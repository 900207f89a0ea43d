"""``guardstream bench``: the pipeline against the Triton ceiling, a naive consumer and a constant model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Benchmarks of the pipeline and of the guard model.", no_args_is_help=True)


@app.callback()
def bench() -> None:
    """Benchmarks of the pipeline and of the guard model."""


@app.command("run")
def run(
    out: Annotated[Path, typer.Option(help="Where to write the results as JSON.")] = Path("bench/results.json"),
    plot: Annotated[Path, typer.Option(help="Where to write the latency-against-load PNG.")] = Path(
        "bench/latency.png"
    ),
    audit_url: Annotated[
        str, typer.Option(help="Audit store base URL (PostgreSQL gets a schema per run); default: the settings'.")
    ] = "",
    quick: Annotated[bool, typer.Option(help="Tiny phases of about 2 s (proves the plumbing, not the speed).")] = False,
    overhead_events: Annotated[int, typer.Option(min=0, help="Backlog of the constant-model phase (0: default).")] = 0,
    overhead_workers: Annotated[
        int, typer.Option(min=0, help="Worker processes of the constant-model phase (0: default).")
    ] = 0,
    escalate_band: Annotated[
        str,
        typer.Option(
            help="The cascade phase's uncertain band LOW,HIGH of fast-guard scores; empty: placed to hold --escalate-share."
        ),
    ] = "",
    escalate_share: Annotated[
        float,
        typer.Option(
            min=0.001, max=1.0, help="Share of the load's items the cascade phase escalates (without --escalate-band)."
        ),
    ] = 0.15,
    log_level: Annotated[str, typer.Option(help="Log level: DEBUG, INFO, WARNING or ERROR.")] = "WARNING",
) -> None:
    """Measure every phase against the running stack, then print one BENCH line per figure.

    Phases: triton_direct (batch × concurrency sweep), modes (explain model), naive (one call per
    message), pipeline (real workers drain a backlog), fast and cascade (the fast guard alone, then
    the cascade escalating a band to the generative guard), overhead (constant-output model) and
    latency (fixed offered rates). Needs the stack (`guardstream dev up --postgres`). Each line:
    BENCH name=<name> value=<float> unit=<unit> target=<float or na> pass=<true|false|na>
    """
    import dataclasses

    from rich.console import Console

    from devtools.bench.config import BenchConfig
    from devtools.bench.report import describe_machine, latency_table, plot_latency, sweep_table, table, write_json
    from devtools.bench.runner import run_bench
    from guardstream.paths import runtime_dir
    from guardstream.settings import load_settings
    from guardstream.telemetry import configure_logging

    configure_logging(log_level)
    console = Console(stderr=True)
    settings = load_settings()
    config = BenchConfig.quick() if quick else BenchConfig()
    if overhead_events:
        config = dataclasses.replace(config, overhead_events=overhead_events)
    if overhead_workers:
        config = dataclasses.replace(config, overhead_workers=overhead_workers)
    config = dataclasses.replace(config, escalate_share=escalate_share, escalate_band=_band(escalate_band))
    results = run_bench(
        settings,
        audit_url or settings.audit.url,
        runtime_dir() / "bench",
        config,
        describe_machine(),
        say=lambda line: console.print(line, highlight=False),
    )
    write_json(results, out)
    plotted = plot_latency(results, plot)
    console.print(sweep_table(results))
    console.print(latency_table(results))
    console.print(table(results))
    console.print(f"results: {out}" + (f"; latency plot: {plot}" if plotted else ""))
    for figure in results.figures:
        print(figure.line(), flush=True)


def _band(text: str) -> tuple[float, float] | None:
    """``LOW,HIGH`` as the policy accepts an escalate band; empty: none."""
    from guardstream.settings import check_band

    if not text.strip():
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected LOW,HIGH, got {text!r}", param_hint="--escalate-band") from None
    try:
        return check_band((low, high))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--escalate-band") from None


@app.command("gpu")
def gpu(
    device: Annotated[
        str, typer.Option(help="Where the model runs: cuda (or cuda:N), or cpu to test the script.")
    ] = "cuda",
    dtype: Annotated[str, typer.Option(help="Weights' dtype: bfloat16, float16 or float32.")] = "bfloat16",
    small: Annotated[
        bool, typer.Option(help="A tiny Qwen2 instead of Qwen2.5-0.5B (to test the script on CPU).")
    ] = False,
    batches: Annotated[str, typer.Option(help="Batch sizes to sweep, comma-separated.")] = "32,64,128,256",
    concurrency: Annotated[str, typer.Option(help="Requests in flight to sweep, comma-separated.")] = "2,4",
    seconds: Annotated[float, typer.Option(min=0.5, help="Seconds per sweep point.")] = 8.0,
    peak_tflops: Annotated[
        float, typer.Option(min=0.0, help="Peak bf16 TFLOP/s to use (0: from the GPU's name).")
    ] = 0.0,
    work_dir: Annotated[
        Path, typer.Option(help="Folder for the checkpoint, the repository and the server log.")
    ] = Path(".cache/bench-gpu"),
    out: Annotated[Path, typer.Option(help="Where to write the report as JSON.")] = Path("bench/gpu.json"),
) -> None:
    """Serve a random-weight Qwen2.5-0.5B-shaped guard in score mode with Triton; items/s and MFU.

    No download: the architecture comes from transformers' Qwen2Config, the tokenizer from the
    default checkpoint. Prints BENCH lines gpu_items_per_s, gpu_tokens_per_s and gpu_mfu.
    """
    from rich.console import Console

    from devtools.bench.gpu import report_json, run_gpu_bench
    from guardstream.telemetry import configure_logging

    configure_logging("WARNING")
    console = Console(stderr=True)
    report = run_gpu_bench(
        work_dir.resolve(),
        device,
        dtype,
        small,
        tuple(int(b) for b in batches.split(",") if b.strip()),
        tuple(int(c) for c in concurrency.split(",") if c.strip()),
        seconds,
        peak_override=peak_tflops * 1e12 if peak_tflops else None,
        say=lambda line: console.print(line, highlight=False),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report_json(report) + "\n", encoding="utf-8")
    peak = f"{report.peak_flops / 1e12:,.0f} TFLOP/s bf16 dense" if report.peak_flops else "unknown (MFU not computed)"
    console.print(
        f"{report.architecture} on {report.device_name} ({report.dtype}): best batch {report.best.batch} × "
        f"{report.best.concurrency} → {report.best.items_per_s:,.1f} items/s, {report.tokens_per_s:,.0f} tokens/s "
        f"({report.mean_tokens_per_item:.0f} tokens/item); peak used: {peak}; "
        f"MFU = 2 × {report.non_embedding_params / 1e6:,.1f} M params × tokens/s ÷ peak"
        + (f" = {report.mfu:.2%}" if report.mfu is not None else "")
        + f"; {report.seconds:.0f} s in all",
        highlight=False,
    )
    for line in report.lines():
        print(line, flush=True)
