"""What the moderation worker needs of its collaborators, as small Protocols.

The real ones meet them as they are: confluent-kafka's ``Consumer``, the
:class:`~workers.moderation.sink.TransactionalSink`, the Triton clients of :mod:`workers.triton_client`
and :class:`~guardstream.audit.store.AuditStore`. Unit tests pass in-memory fakes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import Message, TopicPartition

from guardstream.audit.duplicates import Duplicate
from guardstream.audit.shadow import ShadowDecision
from guardstream.records import ChatEvent, DeadLetter, Verdict
from workers.moderation.outputs import BatchOutputs
from workers.triton_client import Escalates, InferenceOutcome

Rebalance = Callable[["InputConsumer", list[TopicPartition]], None]
"""A rebalance callback: the consumer and the partitions assigned, revoked or lost."""


class InputConsumer(Protocol):
    """The consumer of the input topic, in a group, with offsets committed by the sink's transactions."""

    def subscribe(
        self,
        topics: list[str],
        on_assign: Rebalance | None = None,
        on_revoke: Rebalance | None = None,
        on_lost: Rebalance | None = None,
    ) -> None: ...

    def consume(self, num_messages: int, timeout: float) -> list[Message]: ...

    def pause(self, partitions: list[TopicPartition]) -> None: ...

    def resume(self, partitions: list[TopicPartition]) -> None: ...

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]: ...

    def incremental_assign(self, partitions: list[TopicPartition]) -> None: ...

    def seek(self, partition: TopicPartition) -> None: ...

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...

    def close(self) -> None: ...


class OutputSink(Protocol):
    """Where finished outputs become durable, with the input positions they move past."""

    def start(self) -> None: ...

    def commit(self, outputs: BatchOutputs, positions: dict[tuple[str, int], int]) -> None:
        """All or nothing; :class:`~guardstream.errors.DependencyUnavailableError` names what to wait for,
        :class:`~workers.transactions.SinkFailedError` says this instance must stop."""
        ...

    def abort_if_open(self) -> None: ...


class GuardModel(Protocol):
    """The guard model behind Triton, asked asynchronously."""

    def submit(
        self,
        pairs: Sequence[tuple[str, str]],
        on_done: Callable[[InferenceOutcome], None],
        escalates: Sequence[Escalates] | None = None,
    ) -> None:
        """``on_done`` is called once, from another thread, with the outcome."""
        ...

    def forget_version(self) -> None: ...


class AuditWriter(Protocol):
    """The audit store's write of a batch; returns the verdicts it found to be duplicates."""

    def write(
        self,
        verdicts: Sequence[tuple[ChatEvent, Verdict]],
        dead: Sequence[DeadLetter],
        shadows: Sequence[ShadowDecision] = (),
        revisions: Sequence[Verdict] = (),
    ) -> list[Duplicate]: ...
