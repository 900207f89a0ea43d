"""The chart's alerts and its Grafana dashboard name only metrics that exist: the workers' own (as their
/metrics exposes them: the real instruments, recorded once each, read through the real Prometheus exporter)
and Triton's (the names in the server library that nvidia-pytriton ships, Triton 2.51: production's
image runs the same server). A renamed instrument or a typo in a panel fails here, not on a blank graph.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guardstream.settings import TelemetrySettings
from guardstream.telemetry import setup_telemetry
from tests.support.helm_chart import CHART, one, render
from workers.moderation import instruments as instruments_module
from workers.moderation.health import Health
from workers.moderation.instruments import WorkerInstruments

DASHBOARD = CHART / "dashboards" / "guardstream.json"
# PromQL's own words: aggregation modifiers, set and vector-matching operators
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels and durations left out)."""
    text = _STRING.sub('""', expression)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {m.group(1) for m in _IDENTIFIER.finditer(text) if not m.group(2) and m.group(1) not in _KEYWORDS}


class _RecordingMeter:
    """The telemetry's meter, remembering every instrument made through it."""

    def __init__(self, meter: Any) -> None:
        self._meter = meter
        self.instruments: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._meter, name)
        if not name.startswith("create_"):
            return attribute

        def create(*args: Any, **kwargs: Any) -> Any:
            instrument = attribute(*args, **kwargs)
            self.instruments.append(instrument)
            return instrument

        return create


def _exposition() -> str:
    telemetry = setup_telemetry(TelemetrySettings(), "metric-names-test")
    try:
        meter = _RecordingMeter(telemetry.meter)
        instruments = WorkerInstruments(meter)  # type: ignore[arg-type]  # a Meter in every way used here
        instruments.observe(lambda: 1, lambda: {("chat.events", 0): 3}, Health())
        for instrument in meter.instruments:
            if hasattr(instrument, "add"):
                instrument.add(1)
            elif hasattr(instrument, "record"):
                instrument.record(1.0)
        assert len(meter.instruments) >= 12
        return telemetry.prometheus_text().decode()
    finally:
        telemetry.shutdown()


@pytest.fixture(scope="module")
def worker_metrics() -> set[str]:
    """Every series name the worker's /metrics shows once each instrument has recorded something."""
    return {line.split("{")[0].split(" ")[0] for line in _exposition().splitlines() if line and line[0] != "#"}


@pytest.fixture(scope="module")
def triton_library() -> bytes:
    import pytriton

    libraries = Path(pytriton.__file__).resolve().parent.parent / "nvidia_pytriton.libs"
    (library,) = libraries.glob("libtritonserver*.so*")
    return library.read_bytes()


def _dashboard_expressions() -> Iterator[tuple[str, str]]:
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            yield f"panel {panel['title']!r}", target["expr"]


def _alert_expressions() -> Iterator[tuple[str, str]]:
    rule = one(render(), "PrometheusRule", "alerts")
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            yield f"alert {alert['alert']}", alert["expr"]


def _unknown(names: set[str], worker_metrics: set[str], triton_library: bytes) -> set[str]:
    unknown = set()
    for name in names:
        if name.startswith("nv_"):
            if name.encode() not in triton_library:
                unknown.add(name)
        elif name not in worker_metrics:
            unknown.add(name)
    return unknown


def test_the_parser_finds_the_metrics_and_only_them() -> None:
    expression = (
        'histogram_quantile(0.99, sum by (le, topic) (rate(guardstream_end_to_end_duration_milliseconds_bucket{job="a",le!="1e3"}[5m])))'
        " > 2000 and on (topic) sum(delta(guardstream_consumer_lag[$__rate_interval])) / 1e6 > bool 0"
        " unless nv_gpu_utilization offset 5m"
    )
    assert metric_names(expression) == {
        "guardstream_end_to_end_duration_milliseconds_bucket",
        "guardstream_consumer_lag",
        "nv_gpu_utilization",
    }


def test_a_made_up_metric_is_reported(worker_metrics: set[str], triton_library: bytes) -> None:
    names = {"guardstream_verdicts_total", "guardstream_verdict_total", "nv_inference_request_failure", "nv_no_such"}
    assert _unknown(names, worker_metrics, triton_library) == {"guardstream_verdict_total", "nv_no_such"}


def test_every_dashboard_panel_reads_metrics_that_exist(worker_metrics: set[str], triton_library: bytes) -> None:
    seen: set[str] = set()
    for where, expression in _dashboard_expressions():
        names = metric_names(expression)
        assert names, f"{where}: no metric in {expression!r}"
        assert not _unknown(names, worker_metrics, triton_library), f"{where}: {expression!r}"
        seen |= names
    # the dashboard shows every instrument the worker has
    instruments = {
        re.sub(r"_(bucket|sum|count)$", "", name) for name in worker_metrics if name.startswith("guardstream_")
    }
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in seen}
    assert instruments <= shown, f"not on the dashboard: {sorted(instruments - shown)}"


def test_every_alert_reads_metrics_that_exist(worker_metrics: set[str], triton_library: bytes) -> None:
    alerts = dict(_alert_expressions())
    for where, expression in alerts.items():
        names = metric_names(expression)
        assert names, f"{where}: no metric in {expression!r}"
        assert not _unknown(names, worker_metrics, triton_library), f"{where}: {expression!r}"
    # lag growing, the dead letter rate, a degraded dependency, p99 over budget
    read = {where: metric_names(expression) for where, expression in alerts.items()}
    for metric in (
        "guardstream_consumer_lag",
        "guardstream_dlq_total",
        "guardstream_dependency_degraded",
        "guardstream_end_to_end_duration_milliseconds_bucket",
    ):
        assert any(metric in names for names in read.values()), f"no alert reads {metric}"


def _attribute_keys() -> set[str]:
    """The label names the worker's instruments are recorded with: the keys of the attribute dicts its code
    hands to ``add``, ``record`` and ``Observation`` (workers/moderation/instruments.py)."""
    tree = ast.parse(Path(instruments_module.__file__).read_text())
    keys: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2 or not isinstance(node.args[1], ast.Dict):
            continue
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if called in ("add", "record", "Observation"):
            keys |= {k.value for k in node.args[1].keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return keys


def test_the_labels_the_alerts_and_panels_select_by_exist() -> None:
    code_labels = _attribute_keys()
    assert {"label", "kind", "topic", "partition", "dependency"} <= code_labels
    # added by the Prometheus exporter (histograms) and by Prometheus itself (the scrape target)
    other = {"le", "job", "instance", "pod", "namespace", "service", "container", "endpoint"}
    expressions = [e for _, e in _dashboard_expressions()] + [e for _, e in _alert_expressions()]
    for expression in expressions:
        if not any(n.startswith("guardstream_") for n in metric_names(expression)):
            continue  # Triton's labels (model, gpu_uuid) are the server's
        used = set()
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expression):
            used |= {label.strip() for label in group.split(",") if label.strip()}
        for matchers in re.findall(r"\{([^}]*)\}", expression):
            used |= set(re.findall(r"(\w+)\s*[=!~]", matchers))
        assert used <= code_labels | other, f"{expression!r} selects by {sorted(used - code_labels - other)}"
