"""The model repository rendered from settings: parsed as Triton parses it (ModelConfig, protobuf text format)."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2
from typer.testing import CliRunner

from guardstream.errors import ConfigurationError
from guardstream.guard.backend_settings import instance_device
from guardstream.guard.model_repository import (
    ServingSettings,
    load_serving_settings,
    render_config,
    render_repository,
    source_repository,
)
from guardstream.paths import repository_root
from workers.cli.main import app

SOURCES = repository_root() / "triton_models"
NETWORK_MODELS = {"guard", "guard_explain", "guard_fast", "guard_fast_stream", "guard_stream"}
STREAM_MODELS = {"guard_fast_stream", "guard_stream"}


def parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())


def without_placement(config: model_config_pb2.ModelConfig) -> model_config_pb2.ModelConfig:
    copy = model_config_pb2.ModelConfig()
    copy.CopyFrom(config)
    for group in copy.instance_group:
        group.ClearField("kind")
        group.ClearField("gpus")
    copy.parameters.pop("device", None)
    return copy


def test_the_package_carries_the_repositorys_sources() -> None:
    assert source_repository().resolve() == SOURCES.resolve()


def test_production_defaults_to_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEVICE", "GPUS", "DTYPE"):
        monkeypatch.delenv(f"GUARDSTREAM_SERVING__{name}", raising=False)
    assert load_serving_settings() == ServingSettings(device="cuda", gpus=(0,), dtype=None)


def test_for_the_gpu_every_network_model_is_kind_gpu_with_device_cuda_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    rendered = render_repository(tmp_path, ServingSettings(device="cuda", gpus=(0, 1)))
    assert {model.name for model in rendered if model.on_gpu} == NETWORK_MODELS
    for source in sorted(SOURCES.glob("*/config.pbtxt")):
        name = source.parent.name
        config, original = parse(tmp_path / name / "config.pbtxt"), parse(source)
        assert without_placement(config) == without_placement(original)
        [group] = config.instance_group
        if name in NETWORK_MODELS:
            assert group.kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
            assert list(group.gpus) == ([0] if name in STREAM_MODELS else [0, 1])
            assert config.parameters["device"].string_value == "cuda"
        else:
            assert group.kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
            assert "device" not in config.parameters
        assert (tmp_path / name / "1" / "model.py").read_bytes() == (source.parent / "1" / "model.py").read_bytes()


def test_for_the_cpu_the_configs_are_the_committed_ones_that_the_dev_stack_serves(tmp_path: Path) -> None:
    render_repository(tmp_path, ServingSettings(device="cpu"))
    for source in sorted(SOURCES.glob("*/config.pbtxt")):
        assert (tmp_path / source.parent.name / "config.pbtxt").read_bytes() == source.read_bytes()
        assert parse(source).instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU


def test_a_dtype_setting_reaches_every_network_model(tmp_path: Path) -> None:
    render_repository(tmp_path, ServingSettings(device="cuda", dtype="bfloat16"))
    dtypes = {
        path.parent.name: parse(path).parameters["dtype"].string_value for path in tmp_path.glob("*/config.pbtxt")
    }
    assert dtypes == dict.fromkeys(NETWORK_MODELS, "bfloat16") | {"guard_constant": ""}


def test_rendering_keeps_checkpoints_and_published_versions(tmp_path: Path) -> None:
    (tmp_path / "guard" / "1" / "checkpoint").mkdir(parents=True)
    (tmp_path / "guard" / "1" / "checkpoint" / "config.json").write_text("{}")
    (tmp_path / "guard" / "2").mkdir()
    render_repository(tmp_path, ServingSettings())
    assert (tmp_path / "guard" / "1" / "checkpoint" / "config.json").read_text() == "{}"
    assert (tmp_path / "guard" / "2").is_dir()


def test_a_config_that_cannot_be_placed_is_refused_with_its_reason() -> None:
    two_groups = "instance_group [ { kind: KIND_CPU }, { kind: KIND_CPU } ]\n"
    text = two_groups.replace(
        " { kind: KIND_CPU }, { kind: KIND_CPU } ", "\n  {\n    kind: KIND_CPU\n  },\n  {\n    kind: KIND_CPU\n  }\n"
    )
    text += 'parameters: { key: "device" value: { string_value: "cpu" } }\n'
    with pytest.raises(ConfigurationError, match="one instance group"):
        render_config(text, ServingSettings(device="cuda"))


def test_each_gpu_instance_runs_on_the_gpu_triton_placed_it_on() -> None:
    assert instance_device("cuda", {"model_instance_kind": "GPU", "model_instance_device_id": "1"}) == "cuda:1"
    assert instance_device("cuda", {"model_instance_kind": "CPU", "model_instance_device_id": "0"}) == "cuda"
    assert instance_device("cpu", {"model_instance_kind": "CPU", "model_instance_device_id": "0"}) == "cpu"


def test_the_command_renders_from_settings_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDSTREAM_SERVING__GPUS", "[2]")
    result = CliRunner().invoke(app, ["model", "render-repository", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "guard: GPU" in result.output
    assert list(parse(tmp_path / "guard" / "config.pbtxt").instance_group[0].gpus) == [2]
    result = CliRunner().invoke(app, ["model", "render-repository", "--out", str(tmp_path), "--device", "tpu"])
    assert result.exit_code == 2
    assert "device" in result.output
