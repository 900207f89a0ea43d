"""The Triton glue, run against an in-memory stand-in for triton_python_backend_utils."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from guardstream.errors import ConfigurationError
from guardstream.guard.backend_settings import settings_from_model_config
from tests.unit.guard.triton_fakes import FakeRequest, fake_pb_utils

REPO = Path(__file__).resolve().parents[3]


def _model_config(checkpoint: str) -> dict[str, Any]:
    """The JSON Triton hands to initialize() for triton_models/guard/config.pbtxt."""
    return {
        "name": "guard",
        "backend": "python",
        "max_batch_size": 64,
        "input": [
            {"name": "QUESTION", "data_type": "TYPE_STRING", "dims": ["1"]},
            {"name": "RESPONSE", "data_type": "TYPE_STRING", "dims": ["1"]},
        ],
        "output": [{"name": "P_UNSAFE", "data_type": "TYPE_FP32", "dims": ["1"]}],
        "parameters": {
            "checkpoint_path": {"string_value": checkpoint},
            "device": {"string_value": "cpu"},
            "dtype": {"string_value": "float32"},
            "torch_threads": {"string_value": "2"},
            "max_input_tokens": {"string_value": "512"},
        },
    }


def _column(texts: list[str]) -> np.ndarray:
    return np.array([[t.encode("utf-8")] for t in texts], dtype=object)


def _request(questions: list[str], responses: list[str]) -> FakeRequest:
    return FakeRequest({"QUESTION": _column(questions), "RESPONSE": _column(responses)})


@pytest.fixture()
def backend(monkeypatch: pytest.MonkeyPatch, default_checkpoint: Path) -> Any:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    from guardstream.guard.triton_backend import TritonPythonModel

    model = TritonPythonModel()
    version_dir = default_checkpoint.parent  # checkpoint_path is relative to the version folder
    model.initialize(
        {
            "model_config": json.dumps(_model_config(default_checkpoint.name)),
            "model_repository": str(version_dir.parent),
            "model_version": version_dir.name,
            "model_name": "guard",
        }
    )
    return model


def test_every_request_gets_its_own_scores_from_one_scorer_call(backend: Any) -> None:
    calls: list[int] = []
    score = backend._run
    backend._run = lambda pairs: (calls.append(len(pairs)), score(pairs))[1]
    first = (["你好", "怎么做番茄炒蛋？"], ["", "先炒鸡蛋。"])
    second = (["How are you?"], ["Fine."])
    third = (["告诉我邻居的手机号", "hi", "好"], ["不能。", "hello", "好的"])
    responses = backend.execute([_request(*first), _request(*second), _request(*third)])
    assert calls == [6]
    assert len(responses) == 3
    for response, (questions, answers) in zip(responses, (first, second, third), strict=True):
        assert response.error is None
        (tensor,) = response.output_tensors
        assert tensor.name == "P_UNSAFE"
        assert tensor.array.dtype == np.float32 and tensor.array.shape == (len(questions), 1)
        expected = score(list(zip(questions, answers, strict=True)))["P_UNSAFE"]
        np.testing.assert_allclose(tensor.array[:, 0], expected, atol=1e-5)


def test_a_malformed_request_fails_alone(backend: Any) -> None:
    good = _request(["你好"], [""])
    flat = FakeRequest({"QUESTION": np.array([b"a", b"b"], dtype=object), "RESPONSE": _column(["x"])})
    missing = FakeRequest({"QUESTION": _column(["a"])})
    uneven = _request(["a", "b"], ["x"])
    responses = backend.execute([flat, good, missing, uneven])
    assert [r.error is None for r in responses] == [False, True, False, False]
    assert [r.error.code for r in responses if r.error] == ["INVALID_ARG"] * 3
    assert "shape" in responses[0].error.message
    assert "RESPONSE is missing" in responses[2].error.message
    assert responses[1].output_tensors[0].array.shape == (1, 1)


def test_invalid_utf8_is_replaced_not_fatal(backend: Any) -> None:
    request = FakeRequest({"QUESTION": np.array([[b"\xff\xfe bad"]], dtype=object), "RESPONSE": _column([""])})
    (response,) = backend.execute([request])
    assert response.error is None


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (RuntimeError("shape mismatch in layer 3"), "INTERNAL"),
        (torch.OutOfMemoryError("CUDA out of memory"), "UNAVAILABLE"),
    ],
)
def test_a_model_failure_answers_every_request_with_a_retriable_code(
    backend: Any, failure: Exception, code: str
) -> None:
    def boom(pairs: object) -> None:
        raise failure

    backend._run = boom
    responses = backend.execute([_request(["a"], ["b"]), _request(["c"], ["d"])])
    assert all(r.error is not None and str(failure) in r.error.message for r in responses)
    assert [r.error.code for r in responses] == [code, code]


def test_explain_mode_answers_each_request_with_generated_verdict_text(
    monkeypatch: pytest.MonkeyPatch, default_checkpoint: Path
) -> None:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    from guardstream.guard.triton_backend import TritonPythonModel

    config = _model_config(default_checkpoint.name)
    config["parameters"]["mode"] = {"string_value": "explain"}
    config["parameters"]["max_new_tokens"] = {"string_value": "4"}
    config["output"] = [{"name": "VERDICT_JSON", "data_type": "TYPE_STRING", "dims": [1]}]
    model = TritonPythonModel()
    version_dir = default_checkpoint.parent
    model.initialize(
        {
            "model_config": json.dumps(config),
            "model_repository": str(version_dir.parent),
            "model_version": version_dir.name,
            "model_name": "guard_explain",
        }
    )
    first, second = model.execute([_request(["你好", "怎么办"], ["", "好的"]), _request(["hi"], [""])])
    (tensor,) = first.output_tensors
    assert tensor.name == "VERDICT_JSON" and tensor.array.shape == (2, 1)
    assert all(value.decode("utf-8").startswith('{\n  "答案": "') for value in tensor.array[:, 0])
    assert second.output_tensors[0].array.shape == (1, 1)


def test_version_placeholder_lets_explain_read_the_score_models_weights(tmp_path: Path) -> None:
    config = _model_config("../../guard/{version}/checkpoint")
    config["parameters"]["mode"] = {"string_value": "explain"}
    settings = settings_from_model_config(config, tmp_path / "guard_explain" / "3")
    assert settings.checkpoint_path == tmp_path / "guard_explain" / "3" / "../../guard/3/checkpoint"
    assert settings.mode == "explain"


def test_relative_checkpoint_path_resolves_against_the_version_folder(tmp_path: Path) -> None:
    settings = settings_from_model_config(_model_config("checkpoint"), tmp_path / "1")
    assert settings.checkpoint_path == tmp_path / "1" / "checkpoint"
    assert (settings.device, settings.dtype) == ("cpu", "float32")
    limits = (settings.torch_threads, settings.max_input_tokens, settings.max_batch_size)
    assert limits == (2, 512, 64)
    absolute = settings_from_model_config(_model_config("/models/libra"), tmp_path)
    assert absolute.checkpoint_path == Path("/models/libra")


def test_bad_parameters_are_configuration_errors(tmp_path: Path) -> None:
    config = _model_config("checkpoint")
    config["parameters"]["max_input_tokens"] = {"string_value": "many"}
    with pytest.raises(ConfigurationError, match="max_input_tokens"):
        settings_from_model_config(config, tmp_path)
    del config["parameters"]["checkpoint_path"]
    with pytest.raises(ConfigurationError, match="checkpoint_path"):
        settings_from_model_config(config, tmp_path)


def test_repository_config_matches_the_contract() -> None:
    text = (REPO / "triton_models" / "guard" / "config.pbtxt").read_text()
    assert re.search(r'^name: "guard"$', text, re.M)
    assert re.search(r"^max_batch_size: 64$", text, re.M)
    tensors = {"QUESTION": "TYPE_STRING", "RESPONSE": "TYPE_STRING", "P_UNSAFE": "TYPE_FP32"}
    for name, kind in tensors.items():
        assert re.search(rf'name: "{name}"\s+data_type: {kind}\s+dims: \[ 1 \]', text)
    parameters = {
        "checkpoint_path": "checkpoint",
        "device": "cpu",
        "dtype": "float32",
        "torch_threads": "2",
        "max_input_tokens": "512",
    }
    for key, value in parameters.items():
        assert f'key: "{key}" value: {{ string_value: "{value}" }}' in text
    model_py = (REPO / "triton_models" / "guard" / "1" / "model.py").read_text()
    assert "from guardstream.guard.triton_backend import TritonPythonModel" in model_py


def test_idle_openmp_threads_sleep_unless_the_operator_chose_otherwise(
    monkeypatch: pytest.MonkeyPatch, default_checkpoint: Path
) -> None:
    import os

    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    from guardstream.guard.triton_backend import TritonPythonModel

    version_dir = default_checkpoint.parent
    args = {
        "model_config": json.dumps(_model_config(default_checkpoint.name)),
        "model_repository": str(version_dir.parent),
        "model_version": version_dir.name,
        "model_name": "guard",
    }
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # restored after the test
    TritonPythonModel().initialize(args)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    TritonPythonModel().initialize(args)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
