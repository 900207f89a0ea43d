"""Configuration from files and overrides; the gate's decisions; version folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from training.config import ConfigError, GateConfig, load_config
from training.gate import decide
from training.publish import MODEL_PY, publish, serving_version, versions


def test_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("seed: 3\nstage1:\n  steps: 10\nmodel:\n  device: cpu\n", encoding="utf-8")
    config = load_config(path, ["stage1.steps=20", "data.real_files=[a.json, b.jsonl]", "gate.min_improvement=0"])
    assert (config.seed, config.stage1.steps, config.stage1.batch_size) == (3, 20, 32)
    assert config.data.real_files == ["a.json", "b.jsonl"]
    assert config.gate.min_improvement == 0.0
    assert config.stage2.replay_fraction == pytest.approx(0.3)


def test_a_section_given_in_part_keeps_the_jobs_defaults_for_the_rest() -> None:
    config = load_config(None, ["stage2.steps=300", "fast.stage2.epochs=2"])
    assert (config.stage2.steps, config.stage2.learning_rate, config.stage2.replay_fraction) == (300, 5e-4, 0.3)
    assert (config.fast.stage2.epochs, config.fast.stage2.max_steps) == (2.0, 250)


def test_unknown_keys_and_bad_values_are_named() -> None:
    with pytest.raises(ConfigError, match=r"stage1\.stepz"):
        load_config(None, ["stage1.stepz=3"])
    with pytest.raises(ConfigError, match=r"stage1\.steps: Input should be a valid integer.*\(given: 'many'\)"):
        load_config(None, ["stage1.steps=many"])
    with pytest.raises(
        ConfigError, match=r"unknown setting 'fast\.stage2\.epoch'; known: batch_size, category_weight, epochs"
    ):
        load_config(None, ["fast.stage2.epoch=2"])
    with pytest.raises(ConfigError, match=r"model\.dtype: Input should be 'float32', 'bfloat16' or 'float16'"):
        load_config(None, ["model.dtype=int8"])
    with pytest.raises(ConfigError, match=r"dev_fraction \+ test_fraction must be below 1"):
        load_config(None, ["data.dev_fraction=0.5", "data.test_fraction=0.5"])


def test_several_problems_are_named_together_and_the_settings_are_frozen(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("gate:\n  metric: recall\nfast:\n  threshold: 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).splitlines()[1:] == [
        "  fast.threshold: Input should be less than or equal to 1 (given: 1.5)",
        "  gate.metric: Input should be 'accuracy', 'f1_safe' or 'f1_unsafe' (given: 'recall')",
    ]
    config = load_config(None, ["data.real_files=one.jsonl"])
    assert config.data.real_files == ["one.jsonl"]
    with pytest.raises(ValidationError, match="frozen"):
        config.stage1.steps = 3  # type: ignore[misc]


def metrics(value: float) -> dict[str, dict[str, float]]:
    return {"average": {"accuracy": value, "f1_safe": value, "f1_unsafe": value}}


def test_gate_publishes_only_a_better_candidate_and_says_why() -> None:
    config = GateConfig(min_improvement=0.01)
    better = decide(config, metrics(0.9), 0.0, metrics(0.8), serving_version="1")
    assert better.publish and "beats serving version 1 (0.8000)" in better.reason
    tie = decide(config, metrics(0.805), 0.0, metrics(0.8), serving_version="1")
    assert not tie.publish and tie.reason.startswith("rejected: candidate average accuracy 0.8050 does not beat")
    broken = decide(config, metrics(0.99), 0.2, metrics(0.5))
    assert not broken.publish and "unparseable" in broken.reason
    first = decide(config, metrics(0.7), 0.0, None)
    assert first.publish and "no serving version" in first.reason


def test_publish_numbers_versions_and_writes_the_thin_entry_point(tmp_path: Path) -> None:
    checkpoint = tmp_path / "candidate"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    repository = tmp_path / "repo"
    (repository / "guard" / "1" / "checkpoint").mkdir(parents=True)
    (repository / "guard" / "1" / "checkpoint" / "config.json").write_text("{}")
    assert serving_version(repository, "guard") == 1
    first = publish(checkpoint, repository, "guard")
    second = publish(checkpoint, repository, "guard")
    assert (first.version, second.version) == (2, 3)
    assert versions(repository, "guard") == [1, 2, 3]
    assert (first.path / "model.py").read_text() == MODEL_PY
    assert "from guardstream.guard.triton_backend import TritonPythonModel" in MODEL_PY
    assert (first.path / "checkpoint" / "config.json").is_file()
    assert not [p for p in (repository / "guard").iterdir() if p.name.startswith(".")]
    assert serving_version(repository, "guard") == 3
    (repository / "serving.json").write_text(json.dumps({"current": "2", "previous": "1", "loaded": ["1", "2"]}))
    assert serving_version(repository, "guard") == 2


def test_the_train_command_names_a_bad_setting_before_it_runs_anything(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from workers.cli.main import app

    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["train", "run", "--set", f"runs_dir={runs}", "--set", "stage1.steps=-1"])
    assert result.exit_code == 2, result.output
    assert "error: stage1.steps: Input should be greater than or equal to 0 (given: -1)" in result.output
    assert not runs.exists()
