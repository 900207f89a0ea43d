"""A tiny benchmark run against the real stack proves the plumbing (never the speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.bench.config import BenchConfig
from devtools.bench.figures import parse_line
from guardstream.settings import Settings

pytestmark = pytest.mark.integration

REQUIRED = {"efficiency", "vs_naive", "overhead_eps", "modes_ratio", "p99_ms", "p99_bound_ms"}
CASCADE = {"fast_direct_eps", "fast_eps", "cascade_eps", "escalated_fraction"}
STREAMS = {
    "stream_chunks_per_s",
    "stream_detect_delay_chars_p95",
    "stream_false_stop_rate",
    "stream_cost_ratio_long_short",
    "stream_cost_ratio_long_short_generative",
}


@pytest.mark.timeout(900)  # every phase, the fast guard's too, on a shared 2-core machine
def test_quick_bench_prints_every_figure_and_writes_its_files(
    base_settings: Settings, triton_ready: None, tmp_path: Path
) -> None:
    out, plot = tmp_path / "results.json", tmp_path / "latency.png"
    env = {
        **os.environ,
        "GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS": base_settings.kafka.bootstrap_servers,
        "GUARDSTREAM_TRITON__GRPC_URL": base_settings.triton.grpc_url,
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "workers.cli.main",
            "bench",
            "run",
            "--quick",
            "--audit-url",
            f"sqlite:///{tmp_path / 'audit.db'}",
            "--out",
            str(out),
            "--plot",
            str(plot),
        ],
        capture_output=True,
        text=True,
        timeout=840,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH ")]
    figures = {fields["name"]: fields for fields in map(parse_line, lines)}
    assert set(figures) >= REQUIRED | CASCADE | STREAMS, completed.stdout
    assert figures["efficiency"]["target"] == "0.900" and figures["overhead_eps"]["target"] == "15000.000"
    assert figures["p99_ms"]["target"] == figures["p99_bound_ms"]["value"]

    results = json.loads(out.read_text())
    # every produced event got exactly one verdict, in both backlog phases
    assert results["pipeline"]["verdicts"] == results["pipeline"]["events"]
    assert results["overhead"]["verdicts"] == results["overhead"]["events"]
    assert all(level["verdicts"] > 0 for level in results["latency"])
    assert results["triton_direct"]["best"]["items_per_s"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the pipeline phase is the generative guard alone; the fast phase the fast guard alone
    assert results["pipeline"]["stages"] == {"none": results["pipeline"]["events"], "fast": 0, "generative": 0}
    cascade = results["cascade"]
    fast, escalating = cascade["fast_pipeline"], cascade["cascade_pipeline"]
    assert fast["stages"] == {"none": 0, "fast": fast["events"], "generative": 0}
    assert escalating["verdicts"] == escalating["events"] and escalating["stages"]["none"] == 0
    # the band holds 15% of the fast guard's scores on the first items of the load, all in the backlog;
    # the verdicts' stages say how many went on to the generative guard
    measured = escalating["stages"]["generative"] / escalating["verdicts"]
    assert 0 < measured < 1, cascade
    assert float(figures["escalated_fraction"]["value"]) == pytest.approx(measured, abs=1e-3)
    assert float(figures["fast_eps"]["value"]) > 0 and float(figures["cascade_eps"]["value"]) > 0

    # the streaming phase: every reply ended with one final verdict and the contract held
    streams = results["streams"]
    assert streams["replies"] == BenchConfig.quick().stream_replies and streams["problems"] == [], streams["problems"]
    assert float(figures["stream_chunks_per_s"]["value"]) > 0
    assert figures["stream_false_stop_rate"]["target"] == "0.020"
    assert figures["stream_contract_breaches"]["value"] == "0.000"
