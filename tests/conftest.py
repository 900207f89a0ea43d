"""Every test that uses the dev stack: the stack is still whole when it ends (tests/support/stack_watch.py).

Tests under tests/unit that are not marked ``integration`` use nothing of the stack; they are marked
``standalone`` here, so that `make test` can run them beside the tests that restart its components
(and no watch reports those restarts against them). The tests that make test runs apart (``exclusive``,
``sustained_rate``) must live outside tests/unit: those runs collect only tests/integration and tests/e2e.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack_watch import StackWatch

RUN_APART = ("exclusive", "sustained_rate")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not item.nodeid.startswith("tests/unit/"):
            continue
        apart = [name for name in RUN_APART if item.get_closest_marker(name) is not None]
        if apart:
            raise pytest.UsageError(
                f"{item.nodeid} is marked {' and '.join(apart)}: make test collects those runs from "
                "tests/integration and tests/e2e only, so the test belongs there"
            )
        if item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.standalone)


@pytest.fixture(scope="session")
def stack_watch() -> StackWatch | None:
    return StackWatch.begin()


@pytest.fixture(autouse=True)
def stack_survives_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    # The watch is asked for before the test (pytest deprecates asking for fixtures in teardown), and
    # only by tests that use the stack.
    standalone = request.node.get_closest_marker("standalone") is not None
    stack_watch: StackWatch | None = None if standalone else request.getfixturevalue("stack_watch")
    yield
    if stack_watch is None:
        return
    report = stack_watch.check()
    if report is not None:
        stack_watch.record(request.node.nodeid, report)
        pytest.fail(f"the dev stack lost a component during this test:\n{report}", pytrace=False)
