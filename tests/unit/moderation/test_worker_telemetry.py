"""Health states, /healthz /readyz /metrics over real HTTP, metrics and traces of the worker loop.

The loop runs with in-memory fakes of Kafka, Triton and the sink; the OpenTelemetry SDK, the
Prometheus exposition and the OTLP export are the real ones (spans and metrics travel over HTTP to
a receiver that decodes them as a collector would).
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from guardstream.policy import Policy
from guardstream.settings import TelemetrySettings, TopicSettings
from guardstream.telemetry import Telemetry, format_traceparent, setup_telemetry
from tests.support.kafka_fakes import FakeGroupConsumer, ScriptedProducer
from tests.support.kafka_fakes import FakeMessage as Message
from tests.support.otlp_receiver import otlp_receiver
from tests.support.worker_fakes import FakeConsumer, FakeModel, FakeSink, chat_event, fake_worker
from workers.moderation.health import Health, KafkaWatch
from workers.moderation.instruments import WorkerInstruments
from workers.moderation.outputs import OutputStamp
from workers.moderation.sink import TransactionalSink
from workers.moderation.status_server import StatusServer
from workers.moderation.worker import ModerationWorker

PRODUCER_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PRODUCER_SPAN = 0x00F067AA0BA902B7


def run(
    messages: list[Message],
    model: FakeModel,
    telemetry: Telemetry | None,
    sink: FakeSink | TransactionalSink | None = None,
) -> tuple[ModerationWorker, FakeSink | TransactionalSink]:
    """The worker over ``messages``; the model's p_unsafe is characters / 10."""
    sink = sink or FakeSink()
    model.per_char = 0.1
    instruments = WorkerInstruments(telemetry.meter, telemetry.tracer) if telemetry else None
    worker = fake_worker(FakeConsumer(messages), sink, model, instruments=instruments)
    worker.run()
    return worker, sink


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# ── health ───────────────────────────────────────────────────────────────────────────────────
def test_a_degraded_dependency_is_logged_once_per_transition(caplog: pytest.LogCaptureFixture) -> None:
    health = Health()
    with caplog.at_level(logging.INFO, logger="workers.moderation.health"):
        for attempt in range(5):
            health.degrade("audit", f"audit store unavailable: connection refused (attempt {attempt})")
        assert health.audit.startswith("degraded: audit store unavailable") and health.degraded
        health.recover("audit")
        health.recover("audit")
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("dependency degraded: audit: audit store unavailable")
    assert lines[1].startswith("dependency recovered: audit after")
    assert health.audit == "ok" and not health.degraded


def test_readyz_is_503_naming_the_cause_until_recovery_and_healthz_follows_the_loop() -> None:
    now = [100.0]
    health = Health(clock=lambda: now[0])
    server = StatusServer("127.0.0.1", 0, health, lambda: b"# metrics\n", liveness_timeout_s=30)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, body = get(base + "/readyz")
        assert status == 503 and json.loads(body)["joined_group"] is False
        health.joined = True
        assert get(base + "/readyz")[0] == 200

        health.degrade("triton", "Triton unavailable: connection refused")
        status, body = get(base + "/readyz")
        report = json.loads(body)
        assert status == 503
        assert report["degraded"] == {"triton": "Triton unavailable: connection refused"}
        assert report["dependencies"]["audit"] == "ok"
        health.recover("triton")
        assert get(base + "/readyz")[0] == 200

        assert get(base + "/healthz")[0] == 200
        now[0] += 31  # the loop stopped turning
        status, body = get(base + "/healthz")
        assert status == 503 and json.loads(body)["status"] == "stalled"
        health.beat()
        assert get(base + "/healthz")[0] == 200
        assert get(base + "/metrics") == (200, b"# metrics\n")
        assert get(base + "/nothing")[0] == 404
    finally:
        server.close()


def test_kafka_state_follows_broker_errors_and_statistics() -> None:
    from confluent_kafka import KafkaError

    health = Health()
    watch = KafkaWatch(health)
    watch.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    assert health.kafka == "degraded: 1/1 brokers are down"
    down = {"brokers": {"b:1/1": {"name": "b:1/1", "nodeid": 1, "state": "CONNECT"}}}
    watch.on_stats(json.dumps(down))
    assert health.kafka.startswith("degraded")
    up = {
        "brokers": {"b:1/1": {"name": "b:1/1", "nodeid": 1, "state": "UP"}},
        "topics": {"chat.events": {"partitions": {"0": {"ls_offset": 120, "committed_offset": 20}, "-1": {}}}},
    }
    watch.on_stats(json.dumps(up))
    assert health.kafka == "ok"
    assert watch.stable_ends == {("chat.events", 0): 120} and watch.committed == {("chat.events", 0): 20}


def test_a_triton_outage_degrades_the_worker_and_a_success_recovers_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="workers.moderation.health"):
        worker, sink = run([Message(chat_event(i, "你好"), i) for i in range(6)], FakeModel(outages=4), None)
    transitions = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in transitions] == ["dependency degraded", "dependency recovered"]
    assert "Triton unavailable: connection refused" in transitions[0]
    assert worker.health.triton == "ok" and sum(len(c.verdicts) for c in sink.commits) == 6


# ── metrics ──────────────────────────────────────────────────────────────────────────────────
def sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample whose labels include ``labels``."""
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            return float(match.group(2))
    raise AssertionError(f"no sample {name} {labels} in:\n{text}")


def test_metrics_text_counts_verdicts_by_label_batches_dead_letters_and_latencies() -> None:
    telemetry = setup_telemetry(TelemetrySettings(metrics_port=0), "unit")
    try:
        messages = [Message(chat_event(i, "短"), i) for i in range(5)] + [Message(chat_event(9, "长" * 20), 5)]
        messages.append(Message(b"\xc3\x01garbage", 6))
        run(messages, FakeModel(outages=1), telemetry)
        text = telemetry.prometheus_text().decode()
    finally:
        telemetry.shutdown()
    assert sample(text, "guardstream_verdicts_total", label="safe") == 5
    assert sample(text, "guardstream_verdicts_total", label="unsafe") == 1
    assert sum(float(v) for v in re.findall(r"^guardstream_dlq_total\{.*\} (\S+)$", text, re.M)) == 1
    assert sample(text, "guardstream_batch_size_count") >= 2
    assert sample(text, "guardstream_batch_size_sum") == 7
    assert sample(text, "guardstream_inference_duration_milliseconds_count") >= 2
    assert sample(text, "guardstream_inference_retries_total", reason="unavailable") == 1
    assert sample(text, "guardstream_end_to_end_duration_milliseconds_count") == 6
    assert sample(text, "guardstream_batches_in_flight") == 0
    assert sample(text, "guardstream_dependency_degraded", dependency="triton") == 0
    assert "process_resident_memory_bytes" in text


def test_a_copy_of_a_judged_event_is_counted_as_a_duplicate_and_gets_no_verdict(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)
    producer, stamp = ScriptedProducer(), OutputStamp("guard", Policy("p1", 0.5, 0.3), "w", 16)
    sink = TransactionalSink(
        producer, FakeGroupConsumer(), AuditStore(engine), TopicSettings(), lambda record, topic: b"v",  # type: ignore[arg-type]
        stamp=stamp,
    )  # fmt: skip
    telemetry = setup_telemetry(TelemetrySettings(metrics_port=0), "unit")
    try:
        messages = [Message(chat_event(i, "短"), i) for i in range(3)] + [
            Message(chat_event(1, "短"), 3),
            Message(chat_event(4, "短"), 4),
        ]
        worker, _ = run([*messages, Message(chat_event(2, "短"), 5)], FakeModel(), telemetry, sink)
        text = telemetry.prometheus_text().decode()
    finally:
        telemetry.shutdown()
    assert sample(text, "guardstream_duplicates_total") == 2
    assert sample(text, "guardstream_verdicts_total", label="safe") == 4
    assert worker.counts["duplicates"] == 2 and worker.counts["verdicts"] == 4
    verdicts = [r for t in producer.committed for r in t.records if r[0] == TopicSettings().verdicts]
    assert len(verdicts) == 4 and max(t.offsets.get(("chat.events", 0), 0) for t in producer.committed) == 6


# ── traces ───────────────────────────────────────────────────────────────────────────────────
def test_spans_continue_the_producers_trace_and_reach_an_otlp_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = format_traceparent(PRODUCER_TRACE, PRODUCER_SPAN, sampled=True)
    unsampled = format_traceparent(PRODUCER_TRACE + 1, PRODUCER_SPAN, sampled=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=1,x-tenant=env")
    with otlp_receiver() as (endpoint, received):
        settings = TelemetrySettings(metrics_port=0, otlp_endpoint=endpoint, otlp_headers=SecretStr("x-tenant=chat"))
        telemetry = setup_telemetry(settings, "unit")
        try:
            _, sink = run(
                [
                    Message(chat_event(0, "你好"), 0, [("traceparent", producer.encode())]),
                    Message(chat_event(1, "你好"), 1),  # no trace: the worker starts one
                    Message(b"\xc3\x01garbage", 2, [("traceparent", producer.encode())]),
                    Message(chat_event(3, "你好"), 3, [("traceparent", unsampled.encode())]),  # producer said: no
                ],
                FakeModel(),
                telemetry,
            )
        finally:
            telemetry.shutdown()  # flushes the spans and pushes the metrics once more
        verdicts = {v.event_id: (entry, v) for c in sink.commits for entry, _, v in c.verdicts}
        ((letter_entry, _),) = [pair for c in sink.commits for pair in c.dead_letters]
        assert received.wait_for(lambda r: len(r.spans) >= 3, 5), received.requests
    assert len(received.spans) == 3, "the unsampled event must not be recorded"
    assert verdicts["e3"][1].trace_id == f"{PRODUCER_TRACE + 1:032x}" and verdicts["e3"][0].traceparent == unsampled

    assert all(
        path in ("/v1/traces", "/v1/metrics") and kind == "application/x-protobuf" for path, kind in received.requests
    )
    assert "guardstream.verdicts" in received.metric_names
    assert received.sums["guardstream.verdicts"] == 3  # e0, e1, e3; the garbage went to the DLQ
    # the setting's headers go with every request, over the environment's on the same header
    assert all(h["x-tenant"] == "chat" and h["x-from-env"] == "1" for h in received.headers)
    assert {"service.name": "guardstream-moderation", "service.instance.id": "unit"}.items() <= (
        received.resource_attributes[0].items()
    )
    spans = {span.span_id.hex(): span for span in received.spans}
    entry, verdict = verdicts["e0"]
    assert verdict.trace_id == f"{PRODUCER_TRACE:032x}"
    # The outputs carry the worker's span, so readers downstream continue the same trace.
    assert entry.traceparent is not None
    continued = spans[entry.traceparent.split("-")[2]]
    assert entry.traceparent == f"00-{PRODUCER_TRACE:032x}-{continued.span_id.hex()}-01"
    assert (continued.trace_id.hex(), continued.parent_span_id.hex()) == (
        f"{PRODUCER_TRACE:032x}",
        f"{PRODUCER_SPAN:016x}",
    )
    assert continued.name == "moderate chat.events" and continued.kind == 5  # CONSUMER
    attributes = {a.key: a.value for a in continued.attributes}
    assert attributes["guardstream.event_id"].string_value == "e0"
    assert attributes["guardstream.label"].string_value == "safe"
    assert continued.end_time_unix_nano >= continued.start_time_unix_nano > 0

    _, rooted = verdicts["e1"]
    root = next(span for span in received.spans if not span.parent_span_id)
    assert rooted.trace_id == root.trace_id.hex()
    assert letter_entry.traceparent is not None and letter_entry.trace_id == f"{PRODUCER_TRACE:032x}"
    assert any(a.key == "guardstream.dlq.kind" for span in received.spans for a in span.attributes)


def test_without_an_exporter_no_spans_are_made_and_the_producers_trace_id_is_kept() -> None:
    producer = format_traceparent(PRODUCER_TRACE, PRODUCER_SPAN, sampled=True)
    telemetry = setup_telemetry(TelemetrySettings(metrics_port=0), "unit")
    try:
        assert telemetry.tracer is None
        _, sink = run([Message(chat_event(0, "你好"), 0, [("traceparent", producer.encode())])], FakeModel(), telemetry)
    finally:
        telemetry.shutdown()
    ((entry, _, verdict),) = [item for c in sink.commits for item in c.verdicts]
    assert verdict.trace_id == f"{PRODUCER_TRACE:032x}" and entry.traceparent == producer


def test_the_exporters_lines_about_an_absent_collector_come_once_a_minute(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    exporter_log = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    monkeypatch.setattr(exporter_log, "filters", [])  # a fresh minute: no line held from another test
    with otlp_receiver() as (endpoint, _):
        telemetry = setup_telemetry(TelemetrySettings(metrics_port=0, otlp_endpoint=endpoint), "unit")
        try:
            with caplog.at_level(logging.WARNING, logger=exporter_log.name):
                for _ in range(5):  # what the SDK's exporter logs per retry and per lost batch
                    exporter_log.warning("Transient error %s encountered while exporting spans batch", "refused")
                exporter_log.error("Failed to export spans batch code: %s, reason: %s", None, "refused")
                exporter_log.warning("Exporter already shutdown, ignoring batch")
        finally:
            telemetry.shutdown()
    assert [r.getMessage() for r in caplog.records if r.name == exporter_log.name] == [
        "Transient error refused encountered while exporting spans batch",
        "Exporter already shutdown, ignoring batch",
    ]


# ── settings and start-up ────────────────────────────────────────────────────────────────────
def test_telemetry_settings_come_from_the_environment_and_bad_ports_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from guardstream.errors import ConfigurationError
    from guardstream.settings import load_settings

    monkeypatch.setenv("GUARDSTREAM_TELEMETRY__METRICS_PORT", "19464")
    monkeypatch.setenv("GUARDSTREAM_TELEMETRY__TRACE_SAMPLE_RATIO", "0.05")
    telemetry = load_settings().telemetry
    assert (telemetry.metrics_port, telemetry.trace_sample_ratio) == (19464, 0.05)
    monkeypatch.setenv("GUARDSTREAM_TELEMETRY__METRICS_PORT", "70000")
    with pytest.raises(ConfigurationError, match="GUARDSTREAM_TELEMETRY__METRICS_PORT"):
        load_settings()


def test_worker_refuses_a_metrics_port_in_use_and_names_the_option() -> None:
    import socket

    from typer.testing import CliRunner

    from workers.cli.main import app

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["worker", "--metrics-port", str(port)])
    assert result.exit_code == 2, result.output
    assert "--metrics-port" in result.output and str(port) in result.output


def test_a_real_consumer_with_no_broker_reports_kafka_degraded() -> None:
    import socket
    import time

    from guardstream.settings import KafkaSettings
    from workers.kafka_clients import build_moderation_consumer

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    health = Health()
    watch = KafkaWatch(health)
    consumer = build_moderation_consumer(
        KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"),
        "g",
        "c",
        error_cb=watch.on_error,
        stats_cb=watch.on_stats,
        **{"statistics.interval.ms": 200},
    )
    try:
        consumer.subscribe(["chat.events"])
        deadline = time.monotonic() + 15
        while health.kafka == "ok" and time.monotonic() < deadline:
            consumer.poll(0.2)
    finally:
        consumer.close()
    assert health.kafka.startswith("degraded: "), health.kafka
    assert str(port) in health.kafka or "down" in health.kafka, health.kafka
