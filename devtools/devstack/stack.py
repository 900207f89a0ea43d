"""The local stack as a whole: bring it up, take it down, say how it is.

``up`` is idempotent: a component that is already running and healthy is left alone; one that is
running but not yet healthy (still starting) is waited for. The processes start together and are
then waited for in order (Kafka, whose topics are created, then Triton, then PostgreSQL), so the
slow starts overlap. ``down`` stops, in reverse order, only what ``up`` started.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from devtools.devstack.errors import DevStackError
from devtools.devstack.kafka import KafkaBroker
from devtools.devstack.postgres import PostgresCluster
from devtools.devstack.processes import PidRecord, ProcessSupervisor
from devtools.devstack.settings import DevStackSettings
from devtools.devstack.triton import TritonServer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComponentStatus:
    """One row of ``guardstream dev status``."""

    name: str
    running: bool
    pid: int | None
    address: str
    healthy: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def components(settings: DevStackSettings) -> tuple[KafkaBroker, TritonServer, PostgresCluster]:
    """The stack's three components under ``settings`` (nothing is started or probed)."""
    supervisor = ProcessSupervisor(settings.runtime_dir)
    return KafkaBroker(settings, supervisor), TritonServer(settings, supervisor), PostgresCluster(settings)


def _postgres_in_play(settings: DevStackSettings, postgres: PostgresCluster) -> bool:
    return settings.with_postgres or postgres.marker.is_file()


def status(settings: DevStackSettings | None = None) -> list[ComponentStatus]:
    """The state of every component (PostgreSQL only when enabled or started by ``up``)."""
    settings = settings or DevStackSettings()
    kafka, triton, postgres = components(settings)
    rows = []
    for component in (kafka, triton):
        record = component.record()
        rows.append(
            ComponentStatus(
                name=component.name,
                running=record is not None,
                pid=record.pid if record else None,
                address=component.address,
                healthy=record is not None and component.healthy(),
            )
        )
    if _postgres_in_play(settings, postgres):
        pid = postgres.pid()
        rows.append(
            ComponentStatus(
                name=postgres.name,
                running=pid is not None,
                pid=pid,
                address=postgres.address,
                healthy=pid is not None and postgres.healthy(),
            )
        )
    return rows


def up(
    settings: DevStackSettings | None = None,
    *,
    with_postgres: bool | None = None,
    create_topics: bool = True,
) -> list[ComponentStatus]:
    """Start whatever is not yet running and healthy; wait until all answer. Returns ``status``.

    ``with_postgres`` overrides ``settings.with_postgres``; ``create_topics=False`` skips topic
    creation. Raises :class:`DevStackError` (with the failing component's log tail) if a component
    does not come up; that component is stopped, the healthy ones stay up.
    """
    settings = settings or DevStackSettings()
    if with_postgres is not None and with_postgres != settings.with_postgres:
        settings = settings.model_copy(update={"with_postgres": with_postgres})
    kafka, triton, postgres = components(settings)
    started = time.monotonic()

    # Refuse before starting anything if a port we need is held by a process we did not start.
    for component in (kafka, triton):
        if component.record() is None:
            component.check_ports_free()

    kafka_record = _start_unless_healthy(kafka)
    triton_record = _start_unless_healthy(triton)
    if settings.with_postgres:
        postgres.start()

    if kafka_record is not None:
        _wait_or_stop(kafka, kafka_record, settings.kafka_start_timeout_s)
    if create_topics:
        kafka.ensure_topics(time.monotonic() + settings.kafka_start_timeout_s)
    kafka.ensure_scram_users(time.monotonic() + settings.kafka_start_timeout_s)  # with kafka_scram_users_file
    if triton_record is not None:
        _wait_or_stop(triton, triton_record, settings.triton_start_timeout_s)
        _restore_serving_pointer(settings)
    if settings.with_postgres:
        postgres.wait_ready(time.monotonic() + settings.postgres_start_timeout_s)

    logger.info("dev stack up in %.1fs", time.monotonic() - started)
    return status(settings)


def _restore_serving_pointer(settings: DevStackSettings) -> None:
    """A fresh Triton serves the newest versions; re-apply each model's promoted one."""
    from guardstream.guard.serving_pointer import saved_models
    from guardstream.settings import TritonSettings
    from workers.model_versions import ModelVersions

    for model_name in saved_models(settings.model_repository):
        versions = ModelVersions(
            TritonSettings(grpc_url=settings.triton_grpc_address), settings.model_repository, model_name
        )
        try:
            pointer = versions.restore()
        finally:
            versions.close()
        if pointer is not None:
            logger.info(
                "restored serving pointer model=%s current=%s previous=%s",
                model_name,
                pointer.current,
                pointer.previous,
            )


def down(settings: DevStackSettings | None = None) -> list[str]:
    """Stop, in reverse order, what ``up`` started. Returns the names of the stopped components."""
    settings = settings or DevStackSettings()
    kafka, triton, postgres = components(settings)
    stopped: list[str] = []
    failures: list[str] = []
    for component in (postgres, triton, kafka):  # one failure does not keep the others running
        try:
            if component.stop():
                stopped.append(component.name)
        except DevStackError as exc:
            failures.append(f"{component.name}: {exc}")
    logger.info("dev stack down stopped=%s", ",".join(stopped) or "nothing")
    if failures:
        raise DevStackError("could not stop every component:\n" + "\n".join(failures))
    return stopped


def restart(name: str, settings: DevStackSettings | None = None, *, down_s: float = 0.0) -> float:
    """Stop one component, keep it down ``down_s`` seconds, start it and wait until it answers.

    The chaos suite's faults: only that component is touched, the others keep running. Kafka keeps
    its data folder (topics and committed offsets survive); a restarted Triton gets its promoted
    model version back. PostgreSQL is restarted only if ``up`` started it. Returns the seconds the
    component was unavailable.
    """
    settings = settings or DevStackSettings()
    # A fault, not a shutdown: a few seconds of grace, then SIGKILL (Triton may wait on in-flight work).
    kafka, triton, postgres = components(
        settings.model_copy(update={"stop_timeout_s": min(settings.stop_timeout_s, 5.0)})
    )
    began = time.monotonic()
    if name == postgres.name:
        if not postgres.stop():
            raise DevStackError("PostgreSQL was not started by `guardstream dev up --postgres`; refusing to stop it")
        time.sleep(down_s)
        postgres.start()
        postgres.wait_ready(time.monotonic() + settings.postgres_start_timeout_s)
    else:
        restartable: dict[str, KafkaBroker | TritonServer] = {kafka.name: kafka, triton.name: triton}
        component = restartable.get(name)
        if component is None:
            raise DevStackError(f"unknown component {name!r}: kafka, triton or postgres")
        if component.record() is None:
            raise DevStackError(f"{name} is not running under this runtime folder ({settings.runtime_dir})")
        component.stop()
        time.sleep(down_s)
        record = component.start()
        timeout_s = settings.kafka_start_timeout_s if component is kafka else settings.triton_start_timeout_s
        _wait_or_stop(component, record, timeout_s)
        if component is triton:
            _restore_serving_pointer(settings)
    unavailable_s = time.monotonic() - began
    logger.info("restarted name=%s unavailable_s=%.1f", name, unavailable_s)
    return unavailable_s


def _start_unless_healthy(component: KafkaBroker | TritonServer) -> PidRecord | None:
    """Start the component unless it runs; returns the record to wait on, None if already healthy."""
    record = component.record()
    if record is None:
        return component.start()
    if component.healthy():
        logger.info("already running and healthy name=%s pid=%d", component.name, record.pid)
        return None
    logger.info("already running, waiting for it name=%s pid=%d", component.name, record.pid)
    return record


def _wait_or_stop(component: KafkaBroker | TritonServer, record: PidRecord, timeout_s: float) -> None:
    try:
        component.wait_ready(record, time.monotonic() + timeout_s)
    except DevStackError:
        component.stop()
        raise
