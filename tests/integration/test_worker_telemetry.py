"""A real worker's telemetry: traces continued from the producer, /metrics, /readyz through an outage.

The worker runs as its own process against the real broker, Triton and PostgreSQL; it exports
over OTLP/HTTP to a receiver in this test, and reaches PostgreSQL through a TCP proxy the test
cuts to make an outage that only this worker sees.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from devtools.demo.replay import WorkerProcess, worker_environment
from devtools.loadgen.chat_stream import generate_chat_events
from guardstream.records import ChatEvent, Verdict
from guardstream.serde.codec import AvroDecoder, encode_record
from guardstream.settings import Settings, TopicSettings
from guardstream.telemetry import format_traceparent
from tests.support.otlp_receiver import otlp_receiver
from tests.support.stack import postgres_schema
from tests.support.tcp_proxy import tcp_proxy
from workers.kafka_clients import build_producer, build_reader

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def wait_until(check: object, timeout_s: float, what: str, worker: WorkerProcess) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.alive(), f"worker exited; see {worker.log_path}"
        result = check()  # type: ignore[operator]
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {timeout_s:.0f}s; see {worker.log_path}")


def produce(settings: Settings, topic: str, events: list[ChatEvent]) -> dict[str, tuple[int, int]]:
    """Each event with a traceparent of its own; returns event_id → (trace id, span id)."""
    producer = build_producer(settings.kafka)
    contexts = {}
    for event in events:
        trace_id, span_id = (
            int.from_bytes(secrets.token_bytes(16), "big"),
            int.from_bytes(secrets.token_bytes(8), "big"),
        )
        contexts[event.event_id] = (trace_id, span_id)
        header = format_traceparent(trace_id, span_id, sampled=True)
        producer.produce(
            topic, encode_record(event), key=event.conversation_id.encode(), headers=[("traceparent", header.encode())]
        )
    assert producer.flush(30) == 0
    return contexts


def read_verdicts(
    settings: Settings, topic: str, reader_group: str, want: set[str], timeout_s: float
) -> dict[str, Verdict]:
    reader = build_reader(settings.kafka, reader_group)
    reader.subscribe([topic])
    decoder = AvroDecoder()
    verdicts: dict[str, Verdict] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while not want <= verdicts.keys() and time.monotonic() < deadline:
            for message in reader.consume(num_messages=500, timeout=0.5):
                if not message.error():
                    verdict = decoder.decode(Verdict, message.value())
                    verdicts[verdict.event_id] = verdict
    finally:
        reader.close()
    return verdicts


def samples(text: str, name: str) -> dict[str, float]:
    """``labels → value`` of every sample of ``name`` in a Prometheus exposition."""
    found = {}
    for labels, value in re.findall(rf"^{name}\{{(.*)\}} (\S+)$", text, re.M):
        found[labels] = float(value)
    return found


def batch_of(run: str, count: int, seed: int) -> list[ChatEvent]:
    now_ms = int(time.time() * 1000)
    return [
        dataclasses.replace(event, event_id=f"{run}-{seed}-{event.event_id}", created_at_ms=now_ms)
        for event in generate_chat_events(count, seed=seed)
    ]


def test_worker_continues_producer_traces_serves_metrics_and_readyz_names_a_database_outage(
    base_settings: Settings, triton_ready: None, fresh_topics: TopicSettings, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    port = free_port()
    with postgres_schema("telemetry") as schema_url, otlp_receiver() as (endpoint, received):
        url = make_url(schema_url)
        with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            env = {
                **worker_environment(base_settings, fresh_topics, proxied, f"test-group-{run}"),
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "GUARDSTREAM_TELEMETRY__METRIC_EXPORT_INTERVAL_S": "1",
                "GUARDSTREAM_TELEMETRY__KAFKA_STATS_INTERVAL_MS": "500",
                "GUARDSTREAM_AUDIT__RETRY_MAX_S": "1",
            }
            worker = WorkerProcess(f"telemetry-{run}", tmp_path / "worker.log", env=env, metrics_port=port)
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until(lambda: get(base + "/readyz")[0] == 200, 180, "/readyz 200", worker)
                assert get(base + "/healthz")[0] == 200

                # Traces: every verdict names its producer's trace; the worker's spans are children.
                events = batch_of(run, 60, seed=5)
                contexts = produce(base_settings, fresh_topics.chat_events, events)
                verdicts = read_verdicts(base_settings, fresh_topics.verdicts, f"r-{run}", set(contexts), 120)
                assert set(verdicts) == set(contexts), f"see {worker.log_path}"
                for event_id, (trace_id, _) in contexts.items():
                    assert verdicts[event_id].trace_id == f"{trace_id:032x}"

                def spans_arrived() -> bool:
                    with received.lock:
                        seen = {(s.trace_id.hex(), s.parent_span_id.hex()) for s in received.spans}
                    return all((f"{t:032x}", f"{s:016x}") in seen for t, s in contexts.values())

                wait_until(spans_arrived, 30, "a span per event at the OTLP receiver", worker)
                assert received.wait_for(lambda r: "guardstream.verdicts" in r.metric_names, 15)

                # Metrics: verdict counts by label as the topic shows them; lag drains to 0.
                by_label = Counter(verdict.label.value for verdict in verdicts.values())

                def counts_match() -> bool:
                    text = get(base + "/metrics")[1]
                    counted = {
                        re.search(r'label="(\w+)"', labels).group(1): value  # type: ignore[union-attr]
                        for labels, value in samples(text, "guardstream_verdicts_total").items()
                    }
                    lag = samples(text, "guardstream_consumer_lag")
                    return counted == by_label and len(lag) == 3 and not any(lag.values())

                wait_until(counts_match, 30, f"verdict counts {dict(by_label)} and zero lag at /metrics", worker)
                text = get(base + "/metrics")[1]
                assert samples(text, "guardstream_end_to_end_duration_milliseconds_count")

                # A database outage: /readyz answers 503 naming the audit store, then recovers.
                proxy.cut()
                late = batch_of(run, 10, seed=6)
                late_contexts = produce(base_settings, fresh_topics.chat_events, late)

                def not_ready() -> dict[str, object] | None:
                    status, body = get(base + "/readyz")
                    return json.loads(body) if status == 503 else None

                report = wait_until(not_ready, 60, "/readyz 503 during the outage", worker)
                assert "audit" in report["degraded"], report  # type: ignore[index]
                assert report["dependencies"]["triton"] == "ok"  # type: ignore[index]
                assert get(base + "/healthz")[0] == 200, "an outage is not a dead loop"
                proxy.restore()
                wait_until(lambda: get(base + "/readyz")[0] == 200, 60, "/readyz 200 after recovery", worker)
                verdicts = read_verdicts(base_settings, fresh_topics.verdicts, f"r2-{run}", set(late_contexts), 120)
                assert set(late_contexts) <= set(verdicts)
                log = worker.log_path.read_text(encoding="utf-8", errors="replace")
                assert len(re.findall(r"dependency degraded: audit: audit store unavailable", log)) == 1, log[-3000:]
                assert "dependency recovered: audit" in log
            finally:
                assert worker.stop() == 0, f"worker did not drain and exit cleanly; see {worker.log_path}"


def test_librdkafka_statistics_recover_kafka_and_report_stable_offsets(
    base_settings: Settings, fresh_topics: TopicSettings
) -> None:
    from confluent_kafka import KafkaError

    from workers.kafka_clients import build_moderation_consumer
    from workers.moderation.health import Health, KafkaWatch

    produce(base_settings, fresh_topics.chat_events, batch_of(uuid.uuid4().hex[:8], 5, seed=8))
    health = Health()
    watch = KafkaWatch(health)
    watch.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))  # as during an outage
    consumer = build_moderation_consumer(
        base_settings.kafka,
        f"stats-{uuid.uuid4().hex[:8]}",
        "stats",
        error_cb=watch.on_error,
        stats_cb=watch.on_stats,
        **{"statistics.interval.ms": 200},
    )
    try:
        consumer.subscribe([fresh_topics.chat_events])
        deadline = time.monotonic() + 30
        while (health.kafka != "ok" or sum(watch.stable_ends.values()) < 5) and time.monotonic() < deadline:
            consumer.poll(0.2)
    finally:
        consumer.close()
    assert health.kafka == "ok"
    assert sum(watch.stable_ends.values()) == 5 and {t for t, _ in watch.stable_ends} == {fresh_topics.chat_events}
