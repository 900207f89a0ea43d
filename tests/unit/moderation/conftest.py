"""The moderation worker's collaborators as in-memory fakes (tests/support/worker_fakes.py), one fresh set per test."""

from __future__ import annotations

import pytest

from tests.support.worker_fakes import FakeConsumer, FakeModel, FakeSink


@pytest.fixture
def fake_consumer() -> FakeConsumer:
    return FakeConsumer()


@pytest.fixture
def fake_sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()
