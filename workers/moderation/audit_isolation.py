"""A batch's audit rows, written so that one record the database refuses cannot block the rest.

The whole batch goes in one transaction first. When the database refuses it for what a row holds
(:class:`AuditRejectedError`: a value too long for its column, a constraint, an encoding), the
verdicts are halved and each half written alone, down to the single records that are refused, as
the worker halves an inference batch that Triton rejects as invalid. A refused record becomes a
dead letter (kind ``audit_rejected``) instead of a verdict, so it is never written as one. Halves
already written stay: the writes are idempotent, a retry or a replay changes nothing. An outage
(:class:`RetriableError`) passes through, and the caller retries the whole batch later.

Verdicts the store finds to be duplicates (their event_id's verdict came from another source
position) are set aside in ``outputs``: the caller produces none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from guardstream.audit.duplicates import Duplicate
from guardstream.audit.store import AuditRejectedError
from guardstream.records import ChatEvent, DeadLetter, Verdict
from workers.moderation.collaborators import AuditWriter
from workers.moderation.outputs import BatchOutputs, OutputStamp

log = logging.getLogger(__name__)


def write_isolating(audit: AuditWriter, outputs: BatchOutputs, stamp: OutputStamp, now_ms: int) -> None:
    """Write ``outputs``; verdicts the database refuses become dead letters, duplicates are set aside."""
    rows = [(event, verdict) for _, event, verdict in outputs.verdicts]
    try:
        outputs.set_aside(audit.write(rows, _letters(outputs), outputs.shadows, _revisions(outputs)))
        return
    except AuditRejectedError as refused:
        log.warning("audit store refused a batch of %d verdicts, isolating the cause: %s", len(rows), refused.reason)
    duplicates: list[Duplicate] = []
    refusals = _isolate(audit, rows, 0, duplicates)
    for index, refusal in refusals.items():
        entry = outputs.verdicts[index][0]
        log.warning(
            "audit store refused the verdict of %s[%d] offset=%d: dead-lettered: %s",
            entry.topic, entry.partition, entry.offset, refusal.reason,
        )  # fmt: skip
    outputs.reject(refusals, stamp, now_ms)
    outputs.set_aside(duplicates)
    audit.write([], _letters(outputs), outputs.shadows, _revisions(outputs))


def _letters(outputs: BatchOutputs) -> list[DeadLetter]:
    return [letter for _, letter in outputs.dead_letters]


def _revisions(outputs: BatchOutputs) -> list[Verdict]:
    return [verdict for _, _, verdict in outputs.revisions]


def _isolate(
    audit: AuditWriter, rows: Sequence[tuple[ChatEvent, Verdict]], offset: int, duplicates: list[Duplicate]
) -> dict[int, AuditRejectedError]:
    """Write ``rows`` half by half; returns the refused ones by index (``offset`` + position) and
    adds the duplicates found in the halves written to ``duplicates``."""
    if not rows:
        return {}
    try:
        duplicates.extend(audit.write(rows, []))
        return {}
    except AuditRejectedError as refused:
        if len(rows) == 1:
            return {offset: refused}
    middle = len(rows) // 2
    return {
        **_isolate(audit, rows[:middle], offset, duplicates),
        **_isolate(audit, rows[middle:], offset + middle, duplicates),
    }
