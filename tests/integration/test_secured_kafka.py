"""Every Kafka client over SASL_SSL (SCRAM-SHA-512 over TLS, mutual TLS) against a real broker.

The module starts its own broker (a second :class:`KafkaBroker` on free ports, runtime folder in
tmp) with PLAINTEXT for the controller and itself and a SASL_SSL client listener, using
certificates it makes: a CA, the broker's certificate for 127.0.0.1 and a client certificate with
an encrypted key. The SASL password and the key password are read from files, as in production.
The main stack's broker is not touched.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import NewTopic

from devtools.devstack.kafka import KafkaBroker, java_executable, libs_dir
from devtools.devstack.processes import ProcessSupervisor
from devtools.devstack.settings import DevStackSettings
from guardstream.errors import ConfigurationError
from guardstream.serde import decode_record, encode_record
from guardstream.settings import KafkaSettings
from tests.support.stack import unavailable
from tests.support.tls import TlsFiles, make_tls_files
from tests.unit.escalation.factory import RULES_YAML, make_verdict
from workers.escalation.sink import read_actions
from workers.kafka_clients import (
    build_moderation_consumer,
    build_producer,
    build_reader,
    build_settings_admin_client,
    build_transactional_producer,
    check_connection,
    tls_context,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
GUARDSTREAM = str(Path(sys.executable).with_name("guardstream"))
USER = "guardstream-test"


@dataclass(frozen=True)
class SecuredBroker:
    kafka: KafkaSettings
    """Settings of a client that gets everything right."""
    password: str
    tls: TlsFiles
    folder: Path


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _secret_file(path: Path, value: str) -> Path:
    path.write_text(value + "\n", encoding="utf-8")  # a trailing newline, as `echo` writes it
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    folder = tmp_path_factory.mktemp("secured-kafka")
    tls = make_tls_files(folder / "tls")
    port, controller_port, sasl_ssl_port = _free_ports(3)
    settings = DevStackSettings(
        runtime_dir=folder / "run",
        kafka_port=port,
        kafka_controller_port=controller_port,
        kafka_sasl_ssl_port=sasl_ssl_port,
        kafka_ssl_keystore=tls.broker_keystore,
        kafka_ssl_truststore=tls.ca_cert,
        kafka_heap_mb=256,
    )
    try:
        java_executable()
    except Exception as exc:  # DevStackError names what to install
        unavailable(str(exc))
    if not any(libs_dir(settings).glob("kafka_2.13-*.jar")):
        unavailable(f"no Kafka jars in {libs_dir(settings)}")
    broker = KafkaBroker(settings, ProcessSupervisor(settings.runtime_dir))
    record = broker.start()
    try:
        broker.wait_ready(record, time.monotonic() + settings.kafka_start_timeout_s)
        password = secrets.token_urlsafe(18)
        broker.ensure_scram_users(time.monotonic() + 30, {USER: password})
        kafka = KafkaSettings(
            bootstrap_servers=settings.kafka_sasl_ssl_bootstrap,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=USER,
            sasl_password_file=_secret_file(folder / "sasl-password", password),
            ssl_ca_location=tls.ca_cert,
            ssl_certificate_location=tls.client_cert,
            ssl_key_location=tls.client_key,
            ssl_key_password_file=_secret_file(folder / "key-password", tls.client_key_password),
        )
        yield SecuredBroker(kafka, password, tls, folder)
    finally:
        broker.stop()


def _create_topics(kafka: KafkaSettings, *names: str) -> None:
    admin = build_settings_admin_client(kafka)
    for future in admin.create_topics(
        [NewTopic(name, num_partitions=1, replication_factor=1) for name in names]
    ).values():
        future.result(timeout=30)


def _read(kafka: KafkaSettings, topic: str, count: int, timeout_s: float = 30.0) -> list[bytes]:
    reader = build_reader(kafka, f"test-read-{uuid.uuid4().hex[:8]}")
    reader.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < count and time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            values.append(message.value())
    finally:
        reader.close()
    return values


def _no_secret_in(text: str, *secrets_: str) -> None:
    for secret in secrets_:
        assert secret not in text


def test_settings_hold_the_secrets_from_files_and_never_show_them(secured: SecuredBroker) -> None:
    kafka = secured.kafka
    assert kafka.sasl_secret is not None and kafka.sasl_secret.get_secret_value() == secured.password
    assert (
        kafka.ssl_key_secret is not None and kafka.ssl_key_secret.get_secret_value() == secured.tls.client_key_password
    )
    _no_secret_in(repr(kafka) + str(kafka) + str(kafka.model_dump()), secured.password, secured.tls.client_key_password)


def test_admin_client_connects_and_lists_topics(secured: SecuredBroker) -> None:
    assert check_connection(secured.kafka, timeout_s=20) == 1
    topic = f"test.secured.admin.{uuid.uuid4().hex[:8]}"
    _create_topics(secured.kafka, topic)
    assert topic in build_settings_admin_client(secured.kafka).list_topics(timeout=10).topics


def test_producer_and_reader_round_trip(secured: SecuredBroker) -> None:
    topic = f"test.secured.plain.{uuid.uuid4().hex[:8]}"
    _create_topics(secured.kafka, topic)
    producer = build_producer(secured.kafka)
    sent = [f"record-{i}".encode() for i in range(50)]
    for value in sent:
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0
    assert _read(secured.kafka, topic, len(sent)) == sent


def test_transactional_round_trip_with_the_moderation_consumer(secured: SecuredBroker) -> None:
    """The worker's clients: read input, produce outputs and commit the offsets in one transaction."""
    suffix = uuid.uuid4().hex[:8]
    source, sink, group = f"test.secured.in.{suffix}", f"test.secured.out.{suffix}", f"test-secured-{suffix}"
    _create_topics(secured.kafka, source, sink)
    producer = build_producer(secured.kafka)
    verdicts = [make_verdict(f"e{i}", user=f"u{i}") for i in range(10)]
    for verdict in verdicts:
        producer.produce(source, value=encode_record(verdict))
    assert producer.flush(30) == 0

    consumer = build_moderation_consumer(secured.kafka, group, f"{group}-worker")
    transactional = build_transactional_producer(secured.kafka, f"{group}-tx")
    try:
        transactional.init_transactions(30)
        consumer.subscribe([source])
        received = []
        deadline = time.monotonic() + 30
        while len(received) < len(verdicts) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None:
                assert message.error() is None, message.error()
                received.append(message)
        assert len(received) == len(verdicts)
        transactional.begin_transaction()
        for message in received:
            transactional.produce(sink, key=message.key(), value=message.value())
        last = received[-1]
        transactional.send_offsets_to_transaction(
            [TopicPartition(source, last.partition(), last.offset() + 1)], consumer.consumer_group_metadata(), 30
        )
        transactional.commit_transaction(30)
        committed = consumer.committed([TopicPartition(source, 0)], timeout=10)
        assert committed[0].offset == len(verdicts)
    finally:
        consumer.close()
        transactional.flush(10)
    out = [decode_record(type(verdicts[0]), value) for value in _read(secured.kafka, sink, len(verdicts))]
    assert [v.event_id for v in out] == [v.event_id for v in verdicts]


def _secured_environment(kafka: KafkaSettings, **extra: str) -> dict[str, str]:
    """A child process's environment: this broker over SASL_SSL with mutual TLS, plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GUARDSTREAM_KAFKA__")}
    env.update(
        {
            "GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "GUARDSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "GUARDSTREAM_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "GUARDSTREAM_KAFKA__SASL_USERNAME": USER,
            "GUARDSTREAM_KAFKA__SSL_CA_LOCATION": str(kafka.ssl_ca_location),
            "GUARDSTREAM_KAFKA__SSL_CERTIFICATE_LOCATION": str(kafka.ssl_certificate_location),
            "GUARDSTREAM_KAFKA__SSL_KEY_LOCATION": str(kafka.ssl_key_location),
            "GUARDSTREAM_KAFKA__SSL_KEY_PASSWORD_FILE": str(kafka.ssl_key_password_file),
            **extra,
        }
    )
    return env


def test_escalation_agent_consumes_and_acts_over_sasl_ssl(secured: SecuredBroker) -> None:
    """The faust agent (aiokafka: SCRAM and TLS context from the same settings) reads a verdict and acts."""
    suffix = uuid.uuid4().hex[:8]
    verdicts, actions, app_id = (
        f"test.secured.verdicts.{suffix}",
        f"test.secured.actions.{suffix}",
        f"test-secured-{suffix}",
    )
    _create_topics(secured.kafka, verdicts, actions)
    rules = secured.folder / f"rules-{suffix}.yaml"
    rules.write_text(RULES_YAML, encoding="utf-8")
    kafka = secured.kafka
    env = _secured_environment(kafka, GUARDSTREAM_KAFKA__SASL_PASSWORD_FILE=str(kafka.sasl_password_file))
    env.update(
        {
            "GUARDSTREAM_TOPICS__VERDICTS": verdicts,
            "GUARDSTREAM_TOPICS__ACTIONS": actions,
            "GUARDSTREAM_ESCALATION_APP_ID": app_id,
            "GUARDSTREAM_ESCALATION_PARTITIONS": "1",
            "GUARDSTREAM_ESCALATION_ACTION_LOOKBACK_S": "0",
            "GUARDSTREAM_ESCALATION_COMMIT_INTERVAL_S": "0.5",
            "GUARDSTREAM_ESCALATION_INSTANCE_ID": f"{app_id}-agent",
        }
    )
    log_path = secured.folder / f"agent-{suffix}.log"
    with log_path.open("wb") as log:
        agent = subprocess.Popen(
            [GUARDSTREAM, "escalate", "run", "--rules", str(rules)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        producer = build_producer(kafka)
        crime = make_verdict("crime-1", user="crook", categories={"illegal_activities": 0.9})
        producer.produce(verdicts, key=crime.conversation_id.encode(), value=encode_record(crime))
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 60
        found = read_actions(kafka, actions, None)
        while not found:
            log_text = log_path.read_text(errors="replace")
            assert agent.poll() is None, f"agent exited {agent.returncode}:\n{log_text[-4000:]}"
            assert time.monotonic() < deadline, f"no action after 60 s:\n{log_text[-4000:]}"
            time.sleep(0.5)
            found = read_actions(kafka, actions, None)
        assert [(a.rule_id, a.user_id) for a in found] == [("crime", "crook")]
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(timeout=10)
    log_text = log_path.read_text(errors="replace")
    assert "security_protocol=SASL_SSL" in log_text
    _no_secret_in(log_text, secured.password, secured.tls.client_key_password)


def test_wrong_password_is_refused_and_the_error_and_logs_never_show_it(
    secured: SecuredBroker, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    kafka = KafkaSettings(**{**_fields(secured.kafka), "sasl_password_file": None, "sasl_password": wrong})
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as error:
        check_connection(kafka, timeout_s=240)
    # Refused at once (~1 s), not after the timeout: a long timeout keeps a loaded machine from
    # turning this into a race, and the check still fails if the refusal waited for it.
    assert time.monotonic() - started < 120, "an authentication failure must not wait for the whole timeout"
    message = str(error.value)
    assert "refused the credentials of kafka.sasl_username=guardstream-test" in message
    assert "Authentication failed" in message and "SCRAM-SHA-512" in message
    captured = capfd.readouterr()
    _no_secret_in(message + captured.out + captured.err + caplog.text, wrong, secured.password)


def test_wrong_password_stops_the_escalation_agent_with_a_clear_message(secured: SecuredBroker, tmp_path: Path) -> None:
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    kafka = secured.kafka
    env = _secured_environment(
        kafka,
        GUARDSTREAM_KAFKA__SASL_PASSWORD=wrong,
        GUARDSTREAM_ESCALATION_APP_ID=f"test-secured-wrong-{uuid.uuid4().hex[:8]}",
    )
    result = subprocess.run(
        [GUARDSTREAM, "escalate", "run"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-4000:]
    assert "refused the credentials of kafka.sasl_username=guardstream-test" in output
    _no_secret_in(output, wrong, secured.password)


@pytest.mark.parametrize("trust", ["another CA", "the system store"])
def test_client_that_does_not_trust_the_brokers_ca_fails_tls(secured: SecuredBroker, trust: str) -> None:
    ca = (
        {"ssl_ca_location": secured.tls.other_ca_cert}
        if trust == "another CA"
        else {"ssl_ca_location": None, "ssl_ca_system": True}
    )
    kafka = KafkaSettings(**{**_fields(secured.kafka), **ca})
    with pytest.raises(ConfigurationError, match=r"TLS handshake with Kafka at .* failed: .*certificate verify failed"):
        check_connection(kafka, timeout_s=20)
    # the Python clients' (faust/aiokafka) context refuses the broker the same way
    context = tls_context(kafka)
    assert context is not None
    host, port = kafka.bootstrap_servers.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw, pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname=host)


def test_python_tls_context_completes_the_mutual_handshake(secured: SecuredBroker) -> None:
    context = tls_context(secured.kafka)
    assert context is not None and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    host, port = secured.kafka.bootstrap_servers.split(":")
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        assert tls.getpeercert()["subjectAltName"] == (("DNS", "localhost"), ("IP Address", "127.0.0.1"))


def test_client_without_a_certificate_is_refused_by_mutual_tls(secured: SecuredBroker) -> None:
    kafka = KafkaSettings(
        **{
            **_fields(secured.kafka),
            "ssl_certificate_location": None,
            "ssl_key_location": None,
            "ssl_key_password_file": None,
        }
    )
    with pytest.raises(ConfigurationError, match="TLS handshake"):
        check_connection(kafka, timeout_s=20)


def _fields(kafka: KafkaSettings) -> dict[str, object]:
    """The settings' fields as given (secrets unwrapped), to build variants of them."""
    fields = {name: getattr(kafka, name) for name in KafkaSettings.model_fields}
    for name in ("sasl_password", "ssl_key_password"):
        if fields[name] is not None:
            fields[name] = fields[name].get_secret_value()  # type: ignore[union-attr]
    return fields
