"""Train/dev/test splits without leakage: the same question never lands on two sides.

Records are grouped by their normalised question (see :func:`training.data.dedup.normalise`), and
each group goes to one split chosen by a hash of the group key and the seed, so a question and all
its responses stay together, and the assignment of a group does not change when other records are
added. Records with an empty question are grouped by their response instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from training.data.dedup import normalise
from training.data.records import GuardRecord


@dataclass(frozen=True)
class Split:
    train: list[GuardRecord]
    dev: list[GuardRecord]
    test: list[GuardRecord]


def group_key(record: GuardRecord) -> str:
    return "q:" + normalise(record.question) if record.question.strip() else "r:" + normalise(record.response)


def split_records(
    records: Sequence[GuardRecord], *, dev_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> Split:
    """Split by question group; fractions are of groups, by hash, so they hold on average."""
    if not 0 <= dev_fraction + test_fraction < 1:
        raise ValueError("dev_fraction + test_fraction must be in [0, 1)")
    train: list[GuardRecord] = []
    dev: list[GuardRecord] = []
    test: list[GuardRecord] = []
    for record in records:
        digest = hashlib.sha256(f"{seed}\x00{group_key(record)}".encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64
        if position < test_fraction:
            test.append(record)
        elif position < test_fraction + dev_fraction:
            dev.append(record)
        else:
            train.append(record)
    return Split(train, dev, test)


def leaked_groups(a: Sequence[GuardRecord], b: Sequence[GuardRecord]) -> set[str]:
    """Question groups present in both collections (empty for a leakage-free split)."""
    return {group_key(r) for r in a} & {group_key(r) for r in b}
