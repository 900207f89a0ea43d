"""A single-node Apache Kafka broker in KRaft mode, from Maven Central's jars.

Steps, each idempotent: fetch the jars once into ``<cache>/kafka/libs`` (``mvn
dependency:copy-dependencies`` on ``infra/local/kafka/pom.xml``), render ``server.properties`` into
``<runtime>/kafka/``, format the storage once, start ``kafka.Kafka``, wait until the broker answers
a metadata request, create the topics with their partition counts.

Optionally (``GUARDSTREAM_DEV_KAFKA_SASL_SSL_PORT``) the broker gets a second client listener,
SASL_SSL with SCRAM-SHA-512/256 over TLS, from a PEM keystore (and a PEM truststore for mutual
TLS); its SCRAM users are created or updated through the admin API on the PLAINTEXT listener.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from string import Template
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from confluent_kafka.cimpl import NewPartitions, NewTopic  # re-exported by confluent_kafka.admin

from devtools.devstack.component import SupervisedComponent
from devtools.devstack.errors import DevStackError
from devtools.devstack.probes import port_open
from devtools.devstack.processes import PidRecord
from devtools.devstack.settings import LOOPBACK, DevStackSettings
from workers.kafka_clients import build_admin_client

logger = logging.getLogger(__name__)

NAME = "kafka"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
FETCHED_MARKER = ".fetched"
SASL_SSL_TEMPLATE = "sasl_ssl.properties.template"
SCRAM_ITERATIONS = 8192


class TopicAdmin(Protocol):
    """The part of confluent-kafka's AdminClient that topic creation uses (fakes in unit tests)."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...
    def create_topics(self, new_topics: list[NewTopic], **kwargs: Any) -> dict[str, Future[None]]: ...
    def create_partitions(self, new_partitions: list[NewPartitions], **kwargs: Any) -> dict[str, Future[None]]: ...


class ScramAdmin(Protocol):
    """The part of confluent-kafka's AdminClient that SCRAM user upserts use."""

    def alter_user_scram_credentials(self, alterations: list[Any], **kwargs: Any) -> dict[str, Future[None]]: ...


# ----------------------------------------------------------------------------- pure helpers
def render_server_properties(template: str, settings: DevStackSettings, sasl_ssl_template: str = "") -> str:
    """Fill ``server.properties.template`` for these settings (every placeholder must be known).

    With ``settings.kafka_sasl_ssl_port`` the SASL_SSL listener is added and ``sasl_ssl_template``
    (``sasl_ssl.properties.template``) is filled and appended.
    """
    port = settings.kafka_sasl_ssl_port
    properties = Template(template).substitute(
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        log_dirs=data_dir(settings).as_posix(),
        extra_listeners=f",SASL_SSL://{LOOPBACK}:{port}" if port else "",
        extra_advertised_listeners=f",SASL_SSL://{LOOPBACK}:{port}" if port else "",
        extra_protocol_map=",SASL_SSL:SASL_SSL" if port else "",
    )
    if port is None:
        return properties
    if settings.kafka_ssl_keystore is None or not sasl_ssl_template:
        raise DevStackError(
            "the SASL_SSL listener needs GUARDSTREAM_DEV_KAFKA_SSL_KEYSTORE and its properties template"
        )
    truststore = settings.kafka_ssl_truststore
    return properties + Template(sasl_ssl_template).substitute(
        keystore=settings.kafka_ssl_keystore.as_posix(),
        client_auth="required" if truststore else "none",
        truststore=(
            f"listener.name.sasl_ssl.ssl.truststore.type=PEM\nlistener.name.sasl_ssl.ssl.truststore.location={truststore.as_posix()}\n"
            if truststore
            else ""
        ),
    )


def parse_scram_users(text: str, source: str) -> dict[str, str]:
    """``name:password`` per line (blank lines and ``#`` comments skipped) → name → password."""
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition(":")
        if not sep or not name.strip() or not password:
            raise DevStackError(f"{source}:{number}: expected `name:password`")  # the line itself may hold a secret
        users[name.strip()] = password
    return users


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as kafka-storage makes)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")


def libs_dir(settings: DevStackSettings) -> Path:
    return settings.cache_dir / "kafka" / "libs"


def data_dir(settings: DevStackSettings) -> Path:
    return settings.runtime_dir / "kafka" / "data"


def properties_file(settings: DevStackSettings) -> Path:
    return settings.runtime_dir / "kafka" / "server.properties"


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise DevStackError("java not found: install a JDK 17 (apt-get install -y openjdk-17-jre-headless)")
    return found


def broker_argv(settings: DevStackSettings, java: str) -> list[str]:
    """The broker's command line; small heap, since dev machines run everything on 2 cores."""
    return [
        java,
        f"-Xmx{settings.kafka_heap_mb}m",
        f"-Xms{min(128, settings.kafka_heap_mb)}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{settings.kafka_infra_dir / 'log4j.properties'}",
        "-cp",
        f"{libs_dir(settings)}/*",
        MAIN_CLASS,
        str(properties_file(settings)),
    ]


# ----------------------------------------------------------------------------- preparation
def ensure_jars(settings: DevStackSettings) -> Path:
    """Fetch the broker's jars once; refetch only when the pom changes. Returns the libs folder."""
    libs = libs_dir(settings)
    pom = settings.kafka_infra_dir / "pom.xml"
    marker = libs.parent / FETCHED_MARKER
    pom_digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if marker.is_file() and marker.read_text().strip() == pom_digest and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevStackError("mvn not found: install Maven (apt-get install -y maven) to fetch the Kafka jars")
    if libs.exists():
        shutil.rmtree(libs)  # never mix jars of two versions on one classpath
    libs.mkdir(parents=True)
    marker.unlink(missing_ok=True)
    logger.info("fetching Kafka jars from Maven Central into %s (first run only)", libs)
    started = time.monotonic()
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={libs}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevStackError(
            f"fetching the Kafka jars failed (mvn exit {result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}"
        )
    marker.write_text(pom_digest + "\n")
    logger.info("fetched Kafka jars in %.1fs", time.monotonic() - started)
    return libs


def write_properties(settings: DevStackSettings) -> Path:
    template = (settings.kafka_infra_dir / "server.properties.template").read_text()
    sasl_ssl_template = ""
    if settings.kafka_sasl_ssl_port is not None:
        sasl_ssl_template = (settings.kafka_infra_dir / SASL_SSL_TEMPLATE).read_text()
        for name, path in (
            ("KAFKA_SSL_KEYSTORE", settings.kafka_ssl_keystore),
            ("KAFKA_SSL_TRUSTSTORE", settings.kafka_ssl_truststore),
        ):
            if path is not None and not path.is_file():
                raise DevStackError(f"GUARDSTREAM_DEV_{name}={path}: no such file")
    path = properties_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_server_properties(template, settings, sasl_ssl_template))
    return path


def ensure_storage(settings: DevStackSettings, java: str) -> None:
    """Format the KRaft storage once; a formatted data folder is left as it is."""
    if (data_dir(settings) / "meta.properties").is_file():
        return
    data_dir(settings).mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            java,
            "-Xmx256m",
            f"-Dlog4j.configuration=file:{settings.kafka_infra_dir / 'tools-log4j.properties'}",
            "-cp",
            f"{libs_dir(settings)}/*",
            STORAGE_TOOL,
            "format",
            f"--cluster-id={new_cluster_id()}",  # one argument: an id may begin with "-"
            "--config",
            str(properties_file(settings)),
            "--ignore-formatted",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevStackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
    logger.info("formatted Kafka storage dir=%s", data_dir(settings))


# ----------------------------------------------------------------------------- the broker
class KafkaBroker(SupervisedComponent):
    """The stack's Kafka component."""

    name = NAME
    port_variables = (
        "GUARDSTREAM_DEV_KAFKA_PORT / GUARDSTREAM_DEV_KAFKA_CONTROLLER_PORT / GUARDSTREAM_DEV_KAFKA_SASL_SSL_PORT"
    )

    @property
    def address(self) -> str:
        return self._settings.kafka_bootstrap

    def ports(self) -> tuple[int, ...]:
        sasl_ssl = (self._settings.kafka_sasl_ssl_port,) if self._settings.kafka_sasl_ssl_port else ()
        return (self._settings.kafka_port, self._settings.kafka_controller_port, *sasl_ssl)

    def healthy(self, timeout_s: float = 2.0) -> bool:
        if not port_open(LOOPBACK, self._settings.kafka_port):
            return False
        try:
            metadata = build_admin_client(self.address).list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def start(self) -> PidRecord:
        """Prepare and start the broker process (does not wait for it)."""
        settings = self._settings
        self.check_ports_free()
        java = java_executable()
        ensure_jars(settings)
        write_properties(settings)
        ensure_storage(settings, java)
        return self._supervisor.start(NAME, broker_argv(settings, java), cwd=settings.runtime_dir)

    def wait_ready(self, record: PidRecord, deadline: float) -> None:
        """Block until the broker answers a metadata request; raise with the log tail if it dies."""
        while time.monotonic() < deadline:
            if self._supervisor.running(NAME) is None:
                raise DevStackError(
                    f"Kafka exited during start-up (pid {record.pid}); last lines of "
                    f"{self._supervisor.log_file(NAME)}:\n{self._supervisor.log_tail(NAME)}"
                )
            if self.healthy(timeout_s=1.0):
                return
            time.sleep(0.25)
        raise DevStackError(
            f"Kafka did not answer on {self.address} in time; last lines of "
            f"{self._supervisor.log_file(NAME)}:\n{self._supervisor.log_tail(NAME)}"
        )

    def ensure_topics(self, deadline: float) -> None:
        """Create missing topics and grow ones with too few partitions; wait until all are visible."""
        ensure_topics(build_admin_client(self.address), self._settings.topics, deadline)

    def ensure_scram_users(self, deadline: float, users: Mapping[str, str] | None = None) -> None:
        """Create or update SCRAM users: ``users``, else those of ``kafka_scram_users_file`` (if any)."""
        if users is None:
            source = self._settings.kafka_scram_users_file
            if source is None:
                return
            try:
                users = parse_scram_users(source.read_text(encoding="utf-8"), str(source))
            except OSError as exc:
                raise DevStackError(f"GUARDSTREAM_DEV_KAFKA_SCRAM_USERS_FILE={source}: {exc.strerror}") from None
        upsert_scram_users(build_admin_client(self.address), users, deadline)


def ensure_topics(admin: TopicAdmin, wanted: dict[str, int], deadline: float) -> None:
    """Idempotently give every topic in ``wanted`` (name → partitions) at least that many partitions."""
    existing = {name: len(meta.partitions) for name, meta in admin.list_topics(timeout=10).topics.items()}
    missing = [
        NewTopic(name, num_partitions=count, replication_factor=1)
        for name, count in wanted.items()
        if name not in existing
    ]
    grow = [NewPartitions(name, count) for name, count in wanted.items() if 0 < existing.get(name, count) < count]
    for name, count in wanted.items():
        if existing.get(name, count) > count:
            logger.warning(
                "topic=%s has %d partitions, more than the %d asked for; left as it is", name, existing[name], count
            )
    futures: dict[str, Future[None]] = {}
    if missing:
        futures.update(admin.create_topics(missing))
    if grow:
        futures.update(admin.create_partitions(grow))
    for name, future in futures.items():
        try:
            future.result(timeout=max(1.0, deadline - time.monotonic()))
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise DevStackError(f"creating topic {name} failed: {exc}") from exc
        logger.info("topic ready topic=%s partitions=%d", name, wanted[name])
    _wait_topics_visible(admin, wanted, deadline)


def upsert_scram_users(admin: ScramAdmin, users: Mapping[str, str], deadline: float) -> None:
    """Give every user SCRAM-SHA-512 and SCRAM-SHA-256 credentials with these passwords (idempotent)."""
    if not users:
        return
    for mechanism in (ScramMechanism.SCRAM_SHA_512, ScramMechanism.SCRAM_SHA_256):  # one per user and request
        alterations = [
            UserScramCredentialUpsertion(
                name, ScramCredentialInfo(mechanism, SCRAM_ITERATIONS), password.encode("utf-8")
            )
            for name, password in users.items()
        ]
        for name, future in admin.alter_user_scram_credentials(alterations).items():
            try:
                future.result(timeout=max(1.0, deadline - time.monotonic()))
            except KafkaException as exc:
                raise DevStackError(f"setting the SCRAM credentials of user {name} failed: {exc}") from None
    logger.info("SCRAM users ready users=%s mechanisms=SCRAM-SHA-512,SCRAM-SHA-256", ",".join(sorted(users)))


def _wait_topics_visible(admin: TopicAdmin, wanted: dict[str, int], deadline: float) -> None:
    while True:
        topics = admin.list_topics(timeout=5).topics
        short = {n: c for n, c in wanted.items() if n not in topics or len(topics[n].partitions) < c}
        if not short:
            return
        if time.monotonic() >= deadline:
            raise DevStackError(f"topics not visible with their partitions in time: {sorted(short)}")
        time.sleep(0.2)
