"""Workers that start together migrate the same PostgreSQL audit store at once (the chaos suite's
rebalance scenario starts three): one migrates, the others find the schema current."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect

from guardstream.audit.engine import build_engine, migrate
from tests.support.stack import postgres_schema

pytestmark = pytest.mark.integration


def test_workers_starting_together_all_migrate_the_same_fresh_schema(postgres_url: str) -> None:
    with postgres_schema("migrate") as url:
        engines = [build_engine(url) for _ in range(6)]
        start = threading.Barrier(len(engines))
        errors: list[BaseException] = []

        def run(engine_index: int) -> None:
            start.wait(30)
            try:
                migrate(engines[engine_index])
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(index,)) for index in range(len(engines))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert {"verdicts", "dead_letters"} <= set(inspect(engines[0]).get_table_names())
        for engine in engines:
            engine.dispose()
