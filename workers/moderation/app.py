"""Wiring: build a moderation worker from the settings (the only place that knows every part)."""

from __future__ import annotations

import logging
import time

from guardstream.audit.blocklist_store import BlocklistStore
from guardstream.audit.engine import build_engine, prepare_schema
from guardstream.audit.store import AuditStore
from guardstream.blocklist.matcher import BlocklistMatcher
from guardstream.errors import RetriableError
from guardstream.policy import Policy, load_policy_file
from guardstream.records import ChatEvent
from guardstream.serde.codec import AvroEncoder, ChatEventDecoder
from guardstream.serde.confluent import ConfluentSerde
from guardstream.serde.schemas import default_schema_set
from guardstream.settings import Settings
from guardstream.telemetry import Telemetry
from workers.kafka_clients import build_moderation_consumer, build_transactional_producer, check_connection
from workers.moderation.blocklists import LiveBlocklists
from workers.moderation.health import Health, KafkaWatch
from workers.moderation.instruments import WorkerInstruments
from workers.moderation.outputs import OutputStamp
from workers.moderation.screening import Screener
from workers.moderation.sink import TransactionalSink
from workers.moderation.status_server import StatusServer
from workers.moderation.worker import ModerationWorker
from workers.retry import Backoff
from workers.triton_client import CascadeClient, GuardClient, GuardModelClient, ServedModel

log = logging.getLogger(__name__)


def build_worker(
    settings: Settings,
    contract_wait_s: float = 300.0,
    telemetry: Telemetry | None = None,
    health: Health | None = None,
) -> ModerationWorker:
    """Check the served model's contract, migrate the audit store (or check its schema), and assemble the worker."""
    worker_settings = settings.worker
    health = health or Health()
    policy = Policy.from_settings(settings.policy)
    model = guard_client(settings, policy)
    served = wait_for_model(model, worker_settings.batch_max_size, contract_wait_s, health)
    log.info("guard model %s versions=%s max_batch_size=%d", served.name, served.versions, served.max_batch_size)

    try:
        check_connection(settings.kafka)  # wrong credentials or TLS: ConfigurationError, exit 2
    except RetriableError as exc:
        log.warning("no Kafka broker answers yet (the clients keep trying): %s", exc)
    engine = build_engine(settings.audit.url)
    prepare_schema(engine, settings.audit.migrate_on_start)
    kafka_watch = KafkaWatch(health)
    consumer = build_moderation_consumer(
        settings.kafka,
        worker_settings.group_id,
        worker_settings.worker_id,
        error_cb=kafka_watch.on_error,
        stats_cb=kafka_watch.on_stats,
        **{"statistics.interval.ms": settings.telemetry.kafka_stats_interval_ms},
    )
    producer = build_transactional_producer(
        settings.kafka, f"{worker_settings.transactional_id_prefix}-{worker_settings.worker_id}"
    )
    registry = (
        ConfluentSerde.from_url(settings.kafka.schema_registry_url) if settings.kafka.schema_registry_url else None
    )
    encoder = AvroEncoder(registry)
    stamp = OutputStamp(
        model_name=settings.triton.model_name,
        policy=policy,
        worker_id=worker_settings.worker_id,
        dlq_payload_max_bytes=worker_settings.dlq_payload_max_bytes,
        fast_model_name=settings.triton.fast_model_name or None,
        shadow=load_policy_file(settings.policy.shadow_file) if settings.policy.shadow_file else None,
    )
    blocklists = LiveBlocklists(
        BlocklistStore(engine), BlocklistMatcher.build, settings.policy.blocklist_refresh_s, time.monotonic
    )
    blocklists.refresh()  # the lists in force from the first event on
    transactional_id = f"{worker_settings.transactional_id_prefix}-{worker_settings.worker_id}"
    sink = TransactionalSink(
        producer, consumer, AuditStore(engine), settings.topics, encoder.encode, stamp=stamp,
        rebuild=lambda: build_transactional_producer(settings.kafka, transactional_id),
    )  # fmt: skip
    decoder = ChatEventDecoder(
        worker_settings.max_text_chars,
        registry.deserializer(default_schema_set().get(ChatEvent.AVRO_NAME)) if registry else None,
    )
    return ModerationWorker(
        worker_settings,
        settings.triton,
        settings.audit,
        settings.topics.chat_events,
        consumer,
        sink,
        model,
        decoder.decode,
        stamp,
        health=health,
        kafka_watch=kafka_watch,
        instruments=WorkerInstruments(telemetry.meter, telemetry.tracer) if telemetry else None,
        screener=Screener(policy, stamp.shadow, blocklists),
        rejudge_topic=settings.topics.rejudge if policy.falls_back else None,
    )


def start_status_server(settings: Settings, health: Health, telemetry: Telemetry) -> StatusServer | None:
    """Serve /healthz, /readyz and /metrics in a daemon thread; None when the port is 0 (off)."""
    port = settings.telemetry.metrics_port
    if port == 0:
        return None
    server = StatusServer(
        settings.telemetry.metrics_host, port, health, telemetry.prometheus_text, settings.telemetry.liveness_timeout_s
    )
    server.start()
    return server


def guard_client(settings: Settings, policy: Policy) -> GuardClient:
    """The cascade (fast guard first, the policy's uncertain band escalated) unless it is turned off."""
    if settings.triton.fast_model_name:
        return CascadeClient(settings.triton, policy.escalates)
    return GuardModelClient(settings.triton)


def wait_for_model(model: GuardClient, batch_size: int, timeout_s: float, health: Health | None = None) -> ServedModel:
    """Retry while Triton is starting; a contract mismatch fails at once (ConfigurationError)."""
    deadline = time.monotonic() + timeout_s
    backoff = Backoff(0.5, 5.0)
    while True:
        if health is not None:
            health.beat()  # waiting is alive, not stalled; /readyz says what it waits for
        try:
            served = model.check_contract(batch_size)
            if health is not None:
                health.recover("triton")
            return served
        except RetriableError as exc:
            if health is not None:
                health.degrade("triton", str(exc))
            if time.monotonic() >= deadline:
                raise
            delay = backoff.next_delay()
            log.warning("waiting %.1fs for the guard model: %s", delay, exc)
            time.sleep(delay)
