"""A batch's audit rows, written so that one record the database refuses cannot block the rest.

The whole batch goes in one transaction first. When the database refuses it for what a row holds
(:class:`AuditRejectedError`: a value too long for its column, a constraint, an encoding), the
verdicts are halved and each half written alone, down to the single records that are refused, as
the worker halves an inference batch that Triton rejects as invalid. A refused record becomes a
dead letter (kind ``audit_rejected``) instead of a verdict, so it is never written as one. Halves
already written stay: the writes are idempotent, a retry or a replay changes nothing. An outage
(:class:`RetriableError`) passes through, and the caller retries the whole batch later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from guardstream.audit.store import AuditRejectedError, AuditStore
from guardstream.records import ChatEvent, Verdict
from workers.moderation.outputs import BatchOutputs, OutputStamp

log = logging.getLogger(__name__)


def write_isolating(audit: AuditStore, outputs: BatchOutputs, stamp: OutputStamp, now_ms: int) -> None:
    """Write ``outputs``; verdicts the database refuses are moved to its dead letters first."""
    rows = [(event, verdict) for _, event, verdict in outputs.verdicts]
    try:
        audit.write(rows, [letter for _, letter in outputs.dead_letters])
        return
    except AuditRejectedError as refused:
        log.warning("audit store refused a batch of %d verdicts, isolating the cause: %s", len(rows), refused.reason)
    refusals = _isolate(audit, rows, 0)
    for index, refusal in refusals.items():
        entry = outputs.verdicts[index][0]
        log.warning(
            "audit store refused the verdict of %s[%d] offset=%d: dead-lettered: %s",
            entry.topic, entry.partition, entry.offset, refusal.reason,
        )  # fmt: skip
    outputs.reject(refusals, stamp, now_ms)
    audit.write([], [letter for _, letter in outputs.dead_letters])


def _isolate(
    audit: AuditStore, rows: Sequence[tuple[ChatEvent, Verdict]], offset: int
) -> dict[int, AuditRejectedError]:
    """Write ``rows`` half by half; returns the refused ones by index (``offset`` + position)."""
    if not rows:
        return {}
    try:
        audit.write(rows, [])
        return {}
    except AuditRejectedError as refused:
        if len(rows) == 1:
            return {offset: refused}
    middle = len(rows) // 2
    return {**_isolate(audit, rows[:middle], offset), **_isolate(audit, rows[middle:], offset + middle)}
