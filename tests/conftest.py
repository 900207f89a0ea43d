"""Every test: the dev stack it ran against is still whole when it ends (tests/support/stack_watch.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack_watch import StackWatch


@pytest.fixture(scope="session")
def stack_watch() -> StackWatch | None:
    return StackWatch.begin()


@pytest.fixture(autouse=True)
def stack_survives_the_test(request: pytest.FixtureRequest, stack_watch: StackWatch | None) -> Iterator[None]:
    yield
    if stack_watch is None:
        return
    report = stack_watch.check()
    if report is not None:
        stack_watch.record(request.node.nodeid, report)
        pytest.fail(f"the dev stack lost a component during this test:\n{report}", pytrace=False)
