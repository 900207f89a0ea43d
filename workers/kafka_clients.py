"""The one place that builds confluent-kafka clients.

Everything else depends on the clients' methods only, so unit tests hand in fakes and
integration tests the real thing. Secrets come from the settings (environment or file) and are
never logged.
"""

from __future__ import annotations

import logging
import ssl
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from guardstream.errors import ConfigurationError, GuardstreamError, RetriableError
from guardstream.settings import KafkaSettings
from workers.retry import Backoff

log = logging.getLogger(__name__)


def connection_config(kafka: KafkaSettings) -> dict[str, Any]:
    """Bootstrap and security settings shared by every client (librdkafka's names)."""
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
    }
    if kafka.security_protocol.startswith("SASL"):
        secret = kafka.sasl_secret
        config["sasl.mechanism"] = kafka.sasl_mechanism
        config["sasl.username"] = kafka.sasl_username
        config["sasl.password"] = secret.get_secret_value() if secret else None
    if kafka.uses_tls:
        # "probe": librdkafka looks for the system's CA bundle in the usual places.
        config["ssl.ca.location"] = str(kafka.ssl_ca_location) if kafka.ssl_ca_location else "probe"
        config["ssl.endpoint.identification.algorithm"] = "https" if kafka.ssl_endpoint_identification else "none"
        if kafka.ssl_certificate_location and kafka.ssl_key_location:
            config["ssl.certificate.location"] = str(kafka.ssl_certificate_location)
            config["ssl.key.location"] = str(kafka.ssl_key_location)
            if kafka.ssl_key_secret:
                config["ssl.key.password"] = kafka.ssl_key_secret.get_secret_value()
    return config


def tls_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The same TLS settings as an ``ssl.SSLContext`` for Python clients (faust/aiokafka); None without TLS."""
    if not kafka.uses_tls:
        return None
    context = ssl.create_default_context(cafile=str(kafka.ssl_ca_location) if kafka.ssl_ca_location else None)
    context.check_hostname = kafka.ssl_endpoint_identification
    if kafka.ssl_certificate_location and kafka.ssl_key_location:
        password = kafka.ssl_key_secret.get_secret_value() if kafka.ssl_key_secret else None
        try:
            context.load_cert_chain(kafka.ssl_certificate_location, kafka.ssl_key_location, password)
        except ssl.SSLError as exc:  # never echo the password: name the files and the setting
            raise ConfigurationError(
                f"kafka.ssl_certificate_location={kafka.ssl_certificate_location} / kafka.ssl_key_location="
                f"{kafka.ssl_key_location}: cannot load the client certificate and key ({exc.reason}); "
                "check the files and kafka.ssl_key_password(_file)"
            ) from None
    return context


def check_connection(kafka: KafkaSettings, timeout_s: float = 10.0) -> int:
    """Ask the brokers for metadata with these settings; returns how many brokers answered.

    Raises :class:`ConfigurationError` as soon as the brokers refuse the credentials or the TLS
    handshake fails (retrying cannot help), :class:`RetriableError` when no broker answers within
    ``timeout_s``. The message names the settings to check and the broker's reason, never a secret.
    """
    outcome = _probe(kafka, timeout_s)
    if isinstance(outcome, GuardstreamError):
        raise outcome
    return outcome


def _probe(kafka: KafkaSettings, timeout_s: float) -> int | GuardstreamError:
    # The error is returned, not raised, so no traceback keeps the admin client (and its
    # background reconnects) alive after this function ends.
    errors: list[KafkaError] = []
    config: dict[str, Any] = {**connection_config(kafka), "error_cb": errors.append}
    admin = AdminClient(config)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return len(admin.list_topics(timeout=max(0.1, min(1.0, deadline - time.monotonic()))).brokers)
        except KafkaException as exc:
            admin.poll(0)  # serve error_cb: the reasons behind the generic transport failure
            error = connection_error(kafka, errors, exc)
        if isinstance(error, ConfigurationError) or time.monotonic() >= deadline:
            return error


def connection_error(kafka: KafkaSettings, errors: list[KafkaError], failure: KafkaException) -> GuardstreamError:
    """The error to raise for a failed connection, from the client's error callbacks."""
    where = f"Kafka at {kafka.bootstrap_servers} (security_protocol={kafka.security_protocol})"
    reasons = [(error.code(), error.str()) for error in errors]
    refused = [text for code, text in reasons if code == KafkaError._AUTHENTICATION]
    if refused:
        message = (
            f"{where} refused the credentials of kafka.sasl_username={kafka.sasl_username} "
            f"(sasl_mechanism={kafka.sasl_mechanism}): {refused[-1]}; check "
            "kafka.sasl_username and kafka.sasl_password / kafka.sasl_password_file"
        )
        return ConfigurationError(_redacted(message, kafka))
    tls = [
        text
        for code, text in reasons
        if code == KafkaError._SSL or (code == KafkaError._TRANSPORT and "SSL routines" in text)
    ]
    if tls:
        message = (
            f"TLS handshake with {where} failed: {tls[-1]}; check kafka.ssl_ca_location (or kafka.ssl_ca_system) "
            "and kafka.ssl_endpoint_identification, and, where the brokers ask for a client certificate, "
            "kafka.ssl_certificate_location / kafka.ssl_key_location"
        )
        return ConfigurationError(_redacted(message, kafka))
    other = "; ".join(sorted({text for _, text in reasons})) or str(failure)
    return RetriableError(_redacted(f"no answer from {where}: {other}", kafka))


def _redacted(text: str, kafka: KafkaSettings) -> str:
    """``text`` with every secret of ``kafka`` masked (errors quote broker messages verbatim)."""
    for secret in (kafka.sasl_secret, kafka.ssl_key_secret):
        if secret and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "**********")
    return text


def build_admin_client(bootstrap: str) -> AdminClient:
    """An admin client for the brokers at ``bootstrap`` (host:port[,host:port…])."""
    return AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000})


def build_settings_admin_client(kafka: KafkaSettings) -> AdminClient:
    return AdminClient(connection_config(kafka))


def build_moderation_consumer(kafka: KafkaSettings, group_id: str, client_id: str, **overrides: Any) -> Consumer:
    """The worker's consumer: offsets move only inside the output transaction.

    ``overrides`` adds client settings (the worker's ``error_cb``, ``stats_cb`` and statistics interval).
    """
    return Consumer(
        {
            **connection_config(kafka),
            "group.id": group_id,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "cooperative-sticky",
            "fetch.max.bytes": 16 * 1024 * 1024,
            "queued.max.messages.kbytes": 16 * 1024,
            # A crashed worker's partitions move on after 10 s instead of 45 (heartbeats come from
            # librdkafka's own thread, so a long batch never looks like a dead member).
            "session.timeout.ms": 10_000,
            **overrides,
        }
    )


def build_transactional_producer(kafka: KafkaSettings, transactional_id: str) -> Producer:
    """A producer whose records and consumer offsets commit together or not at all."""
    return Producer(
        {
            **connection_config(kafka),
            "transactional.id": transactional_id,
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            "transaction.timeout.ms": 60_000,
        }
    )


def build_producer(kafka: KafkaSettings, **overrides: Any) -> Producer:
    """A plain idempotent producer (load generators, the review app's feedback)."""
    return Producer({**connection_config(kafka), "enable.idempotence": True, "linger.ms": 5, **overrides})


def build_reader(kafka: KafkaSettings, group_id: str, **overrides: Any) -> Consumer:
    """A ``read_committed`` consumer for tools and tests that read the output topics."""
    return Consumer(
        {
            **connection_config(kafka),
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            **overrides,
        }
    )


def end_offsets(consumer: Consumer, topic: str) -> list[TopicPartition]:
    """The high watermark of every partition of ``topic`` (where a reader has read everything)."""
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    positions = []
    for partition in sorted(metadata.partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        positions.append(TopicPartition(topic, partition, high))
    return positions


def position_of(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a record a client delivered; librdkafka sets all three on every
    record (only an error event lacks them), so a missing one is a bug, not an input to handle."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"a delivered record without its position: {topic}/{partition}/{offset}")
    return topic, partition, offset


def one_off_reader(kafka: KafkaSettings, purpose: str) -> Callable[[], Consumer]:
    """Builds a :func:`build_reader` in a group of its own (it never commits) for each read."""
    return lambda: build_reader(kafka, f"guardstream-{purpose}-{uuid.uuid4().hex[:12]}")


def read_to_end(
    new_reader: Callable[[], Consumer],
    topic: str,
    since_ms: int | None = None,
    timeout_s: float = 60.0,
    only: Collection[int] | None = None,
) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every committed record of ``topic`` from ``since_ms`` (None: the beginning)
    to its end, partition by partition in offset order, with a reader from ``new_reader``; ``only``
    names the partitions to read (None: every one).

    "The end" is each partition's high watermark when the call starts; a missing topic, or no record
    at or after ``since_ms``, reads as empty. Raises :class:`RetriableError` if the end is not reached
    within ``timeout_s`` (never a partial read), :class:`KafkaException` when the broker refuses.
    """
    reader = new_reader()
    try:
        metadata = reader.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return []
        partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions) if only is None or p in only]
        if not partitions:
            return []
        if since_ms is None:
            starts = [TopicPartition(topic, p.partition, OFFSET_BEGINNING) for p in partitions]
        else:
            starts = reader.offsets_for_times(
                [TopicPartition(topic, p.partition, max(0, since_ms)) for p in partitions], timeout=timeout_s
            )
        lows: dict[int, int] = {}
        ends: dict[int, int] = {}
        for tp in partitions:
            lows[tp.partition], ends[tp.partition] = reader.get_watermark_offsets(tp, timeout=timeout_s)
        wanted = [
            tp
            for tp in starts
            if (tp.offset == OFFSET_BEGINNING and ends[tp.partition] > lows[tp.partition])
            or 0 <= tp.offset < ends[tp.partition]
        ]
        if not wanted:
            return []
        reader.assign(wanted)
        pending = {tp.partition for tp in wanted}
        records: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise RetriableError(f"could not read {topic} to its end within {timeout_s}s")
            for message in reader.consume(1000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                if message.partition() in pending:
                    records.append((message.key(), message.value()))
            for tp in reader.position([TopicPartition(topic, p) for p in pending]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
        return records
    finally:
        reader.close()


COMMITTED_WAIT_S = 150.0
"""How long an assignment waits for the committed offsets: past the transaction timeout (60 s, see
:func:`build_transactional_producer`) after which the group coordinator settles an open transaction
that hides them."""


class OffsetLookup(Protocol):
    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]: ...


def committed_starts(
    consumer: OffsetLookup,
    partitions: list[TopicPartition],
    *,
    clock: Callable[[], float] = time.monotonic,
    beat: Callable[[], None] = lambda: None,
    wait_s: float = COMMITTED_WAIT_S,
) -> list[TopicPartition]:
    """Each partition at its committed offset, or at the beginning where none was ever committed.

    Consumers of transactional pipelines assign their partitions at these offsets themselves rather
    than leave the lookup to librdkafka: while another member's transaction holding offsets for a
    partition is still open (a worker killed mid-commit leaves one open until
    ``transaction.timeout.ms``) the coordinator answers UNSTABLE_OFFSET_COMMIT, and when the
    assignment changes meanwhile librdkafka starts the partition at ``auto.offset.reset`` (the
    beginning): everything the killed member had committed would be processed a second time.

    A lookup that fails, or that reports an error for a partition, is asked again (``beat`` is
    called between tries, for a liveness clock) until it answers for every partition: an error is
    not "nothing committed". Past ``wait_s`` it raises RuntimeError rather than guess.
    """
    deadline = clock() + wait_s
    backoff = Backoff(0.05, 2.0)
    while True:
        try:
            found = consumer.committed(partitions, timeout=10)
            failed = [f"{tp.topic}[{tp.partition}]: {tp.error.str()}" for tp in found if tp.error is not None]
        except KafkaException as exc:
            failed = [f"{', '.join(f'{tp.topic}[{tp.partition}]' for tp in partitions)}: {exc}"]
        if not failed:
            return [
                TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
                for tp in found
            ]
        if clock() >= deadline:
            raise RuntimeError(f"committed offsets still unknown after {wait_s:.0f}s: {'; '.join(failed)}")
        delay = backoff.next_delay()
        log.info("committed offsets not known yet, asking again in %.2fs: %s", delay, "; ".join(failed))
        beat()
        time.sleep(delay)
