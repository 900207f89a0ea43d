"""The workers of each pipeline phase run the model or cascade the phase names, whatever the caller's environment."""

from __future__ import annotations

import pytest

from guardstream.policy import Policy
from guardstream.settings import Settings, TopicSettings, load_settings
from workers.bench.pipeline import PipelineConfig


def worker_settings(config: PipelineConfig, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a worker started with this phase's environment reads (on top of the caller's)."""
    env = config.environment(load_settings(), TopicSettings(), "sqlite:///audit.db", "bench-group")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def caller_runs_a_cascade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUARDSTREAM_CONFIG", raising=False)
    monkeypatch.setenv("GUARDSTREAM_TRITON__FAST_MODEL_NAME", "guard_fast")
    monkeypatch.setenv("GUARDSTREAM_POLICY__ESCALATE_BAND", "[0.1,0.9]")


@pytest.mark.usefixtures("caller_runs_a_cascade")
def test_a_single_model_phase_runs_that_model_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = worker_settings(PipelineConfig(model_name="guard_constant"), monkeypatch)
    assert settings.triton.model_name == "guard_constant"
    assert settings.triton.fast_model_name == ""  # no cascade: the named model scores every event
    assert settings.policy.escalate_band is None


@pytest.mark.usefixtures("caller_runs_a_cascade")
def test_the_fast_phase_runs_the_cascade_with_nothing_escalated(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = worker_settings(PipelineConfig(fast_model_name="guard_fast"), monkeypatch)
    policy = Policy.from_settings(settings.policy)
    assert settings.triton.fast_model_name == "guard_fast"
    assert not any(policy.escalates(score / 20) for score in range(21))


@pytest.mark.usefixtures("caller_runs_a_cascade")
def test_the_cascade_phase_escalates_its_band(monkeypatch: pytest.MonkeyPatch) -> None:
    config = PipelineConfig(fast_model_name="guard_fast", escalate_band=(0.25, 0.625))
    policy = Policy.from_settings(worker_settings(config, monkeypatch).policy)
    assert [policy.escalates(p) for p in (0.2, 0.25, 0.5, 0.625)] == [False, True, True, False]
