"""The faust app of the escalation agent, built from settings (no module-level app object).

Two agents:

* ``router`` reads ``moderation.verdicts`` (read_committed) and forwards each verdict twice to
  ``<app_id>-keyed``: keyed ``user:<user_id>`` and ``conversation:<conversation_id>``, with the
  verdict's own position in a header, so each user's and each conversation's verdicts meet in one
  partition and a redelivered verdict can be recognised.
* ``windows`` reads the keyed topic and runs :class:`~workers.escalation.processor.WindowProcessor`
  over the ``windows`` table (in-memory store, rebuilt from its changelog topic on start).

Processing guarantee: ``at_least_once``. faust's ``exactly_once`` (Kafka transactions through
aiokafka) was tried with faust-streaming 0.15.3, aiokafka 0.14.0 and a Kafka 3.9 broker: after a
``kill -9`` and restart the output topic, read ``read_committed``, held duplicates (61 of 20,000
in a pass-through app with a table), matching faust issues #177 and #517. So actions are made
idempotent instead: deterministic action ids, a fired flag per window in the changelog-backed
table, and the ids already in the actions topic read back after every assignment
(:mod:`workers.escalation.sink`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic
from faust.types import StreamT

from guardstream.errors import GuardstreamError, RetriableError
from guardstream.records import Verdict
from guardstream.serde import decode_record
from guardstream.settings import KafkaSettings, Settings
from workers.escalation.engine import observations, state_key
from workers.escalation.processor import SOURCE_HEADER, WindowProcessor, parse_source_header, source_header
from workers.escalation.rules import RuleSet
from workers.escalation.settings import EscalationSettings
from workers.escalation.sink import ActionSink, read_action_ids
from workers.escalation.transport import ReadCommittedApp
from workers.kafka_clients import build_settings_admin_client, check_connection, tls_context

logger = logging.getLogger(__name__)

TABLE_NAME = "windows"


def _broker_url(kafka: KafkaSettings) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(","))


def _credentials(kafka: KafkaSettings) -> dict[str, Any]:
    """faust's ``broker_credentials`` for the same security settings as the confluent-kafka clients."""
    context = tls_context(kafka)
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    if kafka.security_protocol == "SSL":
        return {"broker_credentials": faust.SSLCredentials(context)}
    secret = kafka.sasl_secret
    return {
        "broker_credentials": faust.SASLCredentials(
            username=kafka.sasl_username,
            password=secret.get_secret_value() if secret else None,
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    }


class EscalationAgent:
    """The faust app, its processor and its action sink; :meth:`run` blocks until stopped."""

    def __init__(self, settings: Settings, escalation: EscalationSettings, ruleset: RuleSet) -> None:
        self.settings = settings
        self.escalation = escalation
        self.ruleset = ruleset
        self.sink = ActionSink(settings.kafka, settings.topics.actions, escalation.produce_timeout_s)
        self.app = self._build_app()
        self.processor = WindowProcessor(ruleset, self.table, self.sink.publish)

    def _build_app(self) -> faust.App:
        esc = self.escalation
        app = ReadCommittedApp(
            esc.app_id,
            broker=_broker_url(self.settings.kafka),
            store="memory://",
            datadir=str(esc.working_dir),
            autodiscover=False,
            web_enabled=False,
            processing_guarantee="at_least_once",
            topic_partitions=esc.partitions,
            topic_replication_factor=esc.replication_factor,
            table_standby_replicas=0,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=esc.commit_interval_s,
            consumer_group_instance_id=esc.instance_id,
            broker_session_timeout=esc.session_timeout_s,
            broker_heartbeat_interval=esc.session_timeout_s / 10,
            producer_acks=-1,
            **_credentials(self.settings.kafka),
        )
        raw: dict[str, Any] = {
            "key_type": bytes,
            "value_type": bytes,
            "key_serializer": "raw",
            "value_serializer": "raw",
        }
        verdicts = app.topic(self.settings.topics.verdicts, **raw)
        keyed = app.topic(esc.keyed_topic, partitions=esc.partitions, internal=True, **raw)
        self.table = app.Table(TABLE_NAME, default=None, partitions=esc.partitions, key_type=str)

        async def route(stream: StreamT) -> None:
            async for event in stream.events():
                await self._route(keyed, event)

        async def windows(stream: StreamT) -> None:
            async for event in stream.events():
                headers = dict(event.message.headers or ())
                await self.processor.process(
                    bytes(event.key or b"").decode(),
                    event.value,
                    parse_source_header(headers[SOURCE_HEADER]),
                    event.message.partition,
                )

        async def on_assigned(_sender: Any, *_args: Any, **_kwargs: Any) -> None:
            await self._refresh_already_out()

        async def log_metrics() -> None:
            logger.info("escalation metrics %s", self.processor.metrics.line())

        app.agent(verdicts, name="router")(route)
        app.agent(keyed, name="windows", concurrency=1)(windows)
        app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]  # mode types receivers as a union of callables that mypy does not match an async def against
        app.timer(30.0, name="metrics")(log_metrics)
        return app

    async def _route(self, keyed: Any, event: faust.EventT) -> None:
        message = event.message
        try:
            verdict = decode_record(Verdict, event.value)
        except GuardstreamError as exc:
            logger.error(
                "undecodable verdict %s[%d] offset=%d: %s", message.topic, message.partition, message.offset, exc
            )
            return
        header = [(SOURCE_HEADER, source_header(message.partition, message.offset))]
        for obs in observations(verdict, message.partition, message.offset):
            await keyed.send(key=state_key(obs.scope, obs.key).encode(), value=event.value, headers=header)

    async def _refresh_already_out(self) -> None:
        ids = await asyncio.get_running_loop().run_in_executor(
            None,
            read_action_ids,
            self.settings.kafka,
            self.settings.topics.actions,
            self.escalation.action_lookback_s,
        )
        self.processor.reset_after_assignment(ids)

    def ensure_internal_topics(self, timeout_s: float = 30.0) -> None:
        """Create the keyed and changelog topics before the group forms.

        faust creates them too, but only just before it subscribes: a consumer whose metadata does
        not yet know the new keyed topic is assigned none of its partitions and never asks again.
        """
        esc = self.escalation
        admin = build_settings_admin_client(self.settings.kafka)
        wanted = {
            esc.keyed_topic: {},
            esc.windows_changelog_topic: {"cleanup.policy": "compact"},
        }
        existing = set(admin.list_topics(timeout=timeout_s).topics)
        new = [
            NewTopic(name, num_partitions=esc.partitions, replication_factor=esc.replication_factor, config=config)
            for name, config in wanted.items()
            if name not in existing
        ]
        for name, future in admin.create_topics(new, operation_timeout=timeout_s).items() if new else ():
            try:
                future.result(timeout=timeout_s)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
            logger.info("internal topic ready topic=%s partitions=%d", name, esc.partitions)
        deadline = time.monotonic() + timeout_s
        while not set(wanted) <= set(admin.list_topics(timeout=timeout_s).topics):
            if time.monotonic() > deadline:
                raise RetriableError(f"internal topics {sorted(wanted)} not visible after {timeout_s}s")
            time.sleep(0.1)

    def run(self, loglevel: str = "INFO") -> None:
        """Run the faust worker until SIGTERM/SIGINT; flush the action producer on the way out."""
        from faust.worker import Worker

        logger.info(
            "escalation agent app_id=%s rules_version=%s rules=%s grace_ms=%d verdicts=%s actions=%s",
            self.escalation.app_id,
            self.ruleset.version,
            ",".join(f"{r.id}@{r.version}" for r in self.ruleset.rules),
            self.ruleset.grace_ms,
            self.settings.topics.verdicts,
            self.settings.topics.actions,
        )
        try:
            brokers = check_connection(self.settings.kafka, timeout_s=30.0)
            logger.info(
                "connected to Kafka bootstrap=%s security_protocol=%s brokers=%d",
                self.settings.kafka.bootstrap_servers,
                self.settings.kafka.security_protocol,
                brokers,
            )
            self.ensure_internal_topics()
            Worker(self.app, loglevel=loglevel, quiet=True, redirect_stdouts=False).execute_from_commandline()
        finally:
            self.sink.close()


def build_agent(settings: Settings, escalation: EscalationSettings, ruleset: RuleSet) -> EscalationAgent:
    """The escalation agent for these settings and rules (nothing connects until ``run``)."""
    return EscalationAgent(settings, escalation, ruleset)
