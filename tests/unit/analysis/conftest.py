"""A real audit store on SQLite, seeded with flagged verdicts as the worker records them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from guardstream.records import Verdict, VerdictLabel
from tests.support.audit_records import event_and_verdict


@pytest.fixture()
def audit(tmp_path: Path) -> AuditStore:
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)
    return AuditStore(engine)


@pytest.fixture()
def flagged(audit: AuditStore) -> Callable[[int], list[Verdict]]:
    """``flagged(n)``: n flagged verdicts recorded as the worker records them (texts 这条消息编号 i)."""

    def make(count: int) -> list[Verdict]:
        pairs = [event_and_verdict(index) for index in range(count)]
        pairs = [(event, dataclasses.replace(verdict, label=VerdictLabel.REVIEW if index % 2 else VerdictLabel.UNSAFE))
                 for index, (event, verdict) in enumerate(pairs)]  # fmt: skip
        audit.write(pairs, [])
        return [verdict for _, verdict in pairs]

    return make
