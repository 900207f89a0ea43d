"""The workers of each pipeline phase run the model or cascade the phase names, whatever the caller's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.bench.pipeline import PipelineConfig
from guardstream.guard.categories import HarmCategory
from guardstream.policy import Policy, load_policy_file, write_policy_file
from guardstream.settings import Settings, TopicSettings, load_settings

CATEGORIES = [None, *HarmCategory]


def worker_settings(config: PipelineConfig, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a worker started with this phase's environment reads (on top of the caller's)."""
    env = config.environment(load_settings(), TopicSettings(), "sqlite:///audit.db", "bench-group")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def caller_policy(tmp_path: Path) -> Path:
    """A caller's policy that escalates: a global band and one category's own."""
    path = tmp_path / "caller-policy.yaml"
    path.write_text(
        "version: caller\nunsafe_threshold: 0.5\nreview_threshold: 0.35\nescalate_band: [0.2, 0.8]\n"
        "categories:\n  hate_abuse: {unsafe_threshold: 0.4, review_threshold: 0.2, escalate_band: [0.05, 0.95]}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def caller_runs_a_cascade(monkeypatch: pytest.MonkeyPatch, caller_policy: Path) -> None:
    monkeypatch.delenv("GUARDSTREAM_CONFIG", raising=False)
    monkeypatch.setenv("GUARDSTREAM_TRITON__FAST_MODEL_NAME", "guard_fast")
    monkeypatch.setenv("GUARDSTREAM_POLICY__FILE", str(caller_policy))
    monkeypatch.setenv("GUARDSTREAM_POLICY__ESCALATE_BAND", "[0.1,0.9]")


@pytest.mark.usefixtures("caller_runs_a_cascade")
def test_a_single_model_phase_runs_that_model_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = worker_settings(PipelineConfig(model_name="guard_constant"), monkeypatch)
    assert settings.triton.model_name == "guard_constant"
    assert settings.triton.fast_model_name == ""  # no cascade: the named model scores every event
    assert settings.policy.escalate_band is None


@pytest.mark.usefixtures("caller_runs_a_cascade")
def test_the_fast_phase_runs_the_cascade_with_nothing_escalated(
    monkeypatch: pytest.MonkeyPatch, caller_policy: Path, tmp_path: Path
) -> None:
    quiet = write_policy_file(load_policy_file(caller_policy).without_escalation(), tmp_path / "quiet.yaml")
    config = PipelineConfig(fast_model_name="guard_fast", policy_file=str(quiet))
    settings = worker_settings(config, monkeypatch)
    policy = Policy.from_settings(settings.policy)
    assert settings.triton.fast_model_name == "guard_fast"
    assert not any(policy.escalates(score / 20, category) for score in range(21) for category in CATEGORIES)


@pytest.mark.usefixtures("caller_runs_a_cascade")
def test_the_cascade_phase_escalates_its_band(
    monkeypatch: pytest.MonkeyPatch, caller_policy: Path, tmp_path: Path
) -> None:
    quiet = write_policy_file(load_policy_file(caller_policy).without_escalation(), tmp_path / "quiet.yaml")
    config = PipelineConfig(fast_model_name="guard_fast", escalate_band=(0.25, 0.625), policy_file=str(quiet))
    policy = Policy.from_settings(worker_settings(config, monkeypatch).policy)
    for category in CATEGORIES:  # the band alone, in every category
        assert [policy.escalates(p, category) for p in (0.2, 0.25, 0.5, 0.625)] == [False, True, True, False]
