"""The worker refuses to start with a clear message instead of a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from workers.cli.main import app


def test_invalid_setting_is_named_and_exit_code_is_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDSTREAM_WORKER__BATCH_MAX_SIZE", "0")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "GUARDSTREAM_WORKER__BATCH_MAX_SIZE" in result.output


class _Worker:
    """Stands in for a built worker: the first one is never assigned partitions, the next one runs."""

    def __init__(self, number: int) -> None:
        self.number = number

    def run(self) -> None:
        from workers.moderation.worker import ConsumerStalledError

        if self.number == 1:
            raise ConsumerStalledError("the group 'g' assigned this worker nothing for 91s while Kafka answered")

    def stop(self) -> None:
        pass


def test_a_worker_whose_consumer_stalled_starts_again_with_a_new_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.moderation.app as wiring

    built: list[_Worker] = []

    def build_worker(*_args: object, **_kwargs: object) -> _Worker:
        built.append(_Worker(len(built) + 1))
        return built[-1]

    monkeypatch.setattr(wiring, "build_worker", build_worker)
    monkeypatch.setenv("GUARDSTREAM_ANALYSIS__ENABLED", "false")
    result = CliRunner().invoke(app, ["worker", "--metrics-port", "0"])
    assert result.exit_code == 0, result.output
    assert [worker.number for worker in built] == [1, 2]
