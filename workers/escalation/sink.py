"""Actions out (:class:`ActionSink`) and the ids of the actions already out (:func:`read_action_ids`).

Why both: the agent runs faust ``at_least_once``. An action is produced, its acknowledgement
awaited, and only then is its window marked fired in the changelog-backed table. A kill between
the two leaves a durable action whose window is not marked; after the restart the same verdicts
are processed again and would fire again. So before it consumes, and on every partition
assignment, the agent reads the ids of the recent actions from the actions topic itself and
never produces an id twice. Action ids are deterministic (rule, version, key, window).
"""

from __future__ import annotations

import asyncio
import logging
import time

from confluent_kafka import KafkaError, Producer

from guardstream.errors import RetriableError
from guardstream.records import Action
from guardstream.serde import decode_record, encode_record
from guardstream.settings import KafkaSettings
from workers.kafka_clients import build_producer, one_off_reader, read_to_end

logger = logging.getLogger(__name__)


class ActionSink:
    """An idempotent producer of Action records, keyed by action id; one action at a time."""

    def __init__(self, kafka: KafkaSettings, topic: str, timeout_s: float) -> None:
        self._kafka = kafka
        self._producer_or_none: Producer | None = None
        self._topic = topic
        self._timeout_s = timeout_s

    @property
    def _producer(self) -> Producer:
        # Built on first use, so that building the agent connects to nothing.
        if self._producer_or_none is None:
            self._producer_or_none = build_producer(self._kafka, **{"acks": "all", "linger.ms": 0})
        return self._producer_or_none

    async def publish(self, action: Action) -> None:
        """Produce ``action`` and return once the broker has acknowledged it."""
        await asyncio.get_running_loop().run_in_executor(None, self._publish_sync, action)

    def _publish_sync(self, action: Action) -> None:
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                errors.append(error)

        self._producer.produce(
            self._topic, key=action.action_id.encode(), value=encode_record(action), on_delivery=delivered
        )
        if self._producer.flush(self._timeout_s) > 0:
            raise RetriableError(f"action {action.action_id} not acknowledged within {self._timeout_s}s")
        if errors:
            raise RetriableError(f"action {action.action_id} not delivered: {errors[0]}")
        logger.info(
            "action produced action_id=%s kind=%s rule=%s user=%s conversation=%s window=[%d,%d)",
            action.action_id,
            action.kind,
            action.rule_id,
            action.user_id,
            action.conversation_id,
            action.window_start_ms,
            action.window_end_ms,
        )

    def close(self) -> None:
        if self._producer_or_none is not None:
            self._producer_or_none.flush(self._timeout_s)


def read_actions(kafka: KafkaSettings, topic: str, since_ms: int | None, timeout_s: float = 60.0) -> list[Action]:
    """Every committed action of ``topic`` written at or after ``since_ms`` (None: all), to the end."""
    return [
        decode_record(Action, value)
        for _key, value in read_to_end(one_off_reader(kafka, "escalation-reader"), topic, since_ms, timeout_s)
        if value
    ]


def read_action_ids(kafka: KafkaSettings, topic: str, lookback_s: float) -> set[str]:
    """Ids of the actions produced to ``topic`` in the last ``lookback_s`` seconds (0: ever)."""
    since = None if lookback_s == 0 else int((time.time() - lookback_s) * 1000)
    started = time.monotonic()
    ids = {action.action_id for action in read_actions(kafka, topic, since)}
    logger.info("actions already out topic=%s count=%d in %.2fs", topic, len(ids), time.monotonic() - started)
    return ids
