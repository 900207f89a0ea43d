"""The stream models' Triton glue, run against an in-memory stand-in for triton_python_backend_utils."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from guardstream.errors import ConfigurationError
from guardstream.guard.backend_settings import settings_from_model_config
from guardstream.guard.stream_fast import FastStreamScorer
from tests.unit.guard.test_fast_guard import build_tiny_fast_guard
from tests.unit.guard.triton_fakes import FakeRequest, FakeResponse, fake_pb_utils

REPO = Path(__file__).resolve().parents[3]
WINDOW = 16
OUTPUTS = {
    "P_UNSAFE": "TYPE_FP32",
    "CATEGORY": "TYPE_STRING",
    "CATEGORY_SCORE": "TYPE_FP32",
    "NEEDS_TEXT": "TYPE_BOOL",
    "STREAM_CHARS": "TYPE_INT64",
}


def _model_config(mode: str, checkpoint: str, **parameters: str) -> dict[str, Any]:
    """The JSON Triton hands to initialize() for triton_models/guard_fast_stream/config.pbtxt."""
    return {
        "name": "guard_fast_stream",
        "backend": "python",
        "max_batch_size": 64,
        "output": [{"name": name, "data_type": kind, "dims": ["1"]} for name, kind in OUTPUTS.items()],
        "parameters": {
            key: {"string_value": value}
            for key, value in {"mode": mode, "checkpoint_path": checkpoint, **parameters}.items()
        },
    }


def _initialised(version_dir: Path, config: dict[str, Any]) -> Any:
    from guardstream.guard.stream_backend import TritonPythonModel

    model = TritonPythonModel()
    model.initialize(
        {
            "model_config": json.dumps(config),
            "model_repository": str(version_dir.parent),
            "model_version": version_dir.name,
            "model_name": config["name"],
        }
    )
    return model


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """guard_fast/1/checkpoint beside guard_fast_stream/1, as in triton_models/."""
    root = tmp_path_factory.mktemp("repository")
    build_tiny_fast_guard(root / "guard_fast" / "1" / "checkpoint", max_input_tokens=48)
    (root / "guard_fast_stream" / "1").mkdir(parents=True)
    return root


@pytest.fixture()
def model(monkeypatch: pytest.MonkeyPatch, repository: Path) -> Any:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    config = _model_config("stream_fast", "../../guard_fast/{version}/checkpoint", window_chars=str(WINDOW))
    return _initialised(repository / "guard_fast_stream" / "1", config)


def _chunk(
    stream: str,
    question: str,
    delta: str,
    prefix: int,
    *,
    start: bool = False,
    end: bool = False,
    text: str | None = None,
) -> FakeRequest:
    def one(value: object, dtype: Any) -> np.ndarray:
        return np.array([[value]], dtype=dtype)

    inputs = {
        "START": one(start, bool),
        "END": one(end, bool),
        "QUESTION": one(question.encode(), object),
        "DELTA": one(delta.encode(), object),
        "PREFIX_CHARS": one(prefix, np.int64),
    }
    if text is not None:
        inputs["TEXT"] = one(text.encode(), object)
    return FakeRequest(inputs, stream)


def _outputs(response: FakeResponse) -> dict[str, Any]:
    assert response.error is None, response.error
    tensors = {tensor.name: tensor.array for tensor in response.output_tensors}
    assert set(tensors) == set(OUTPUTS)
    assert all(array.shape == (1, 1) for array in tensors.values())
    return {name: array[0, 0] for name, array in tensors.items()}


def test_interleaved_streams_score_as_the_scorer_does_one_scorer_call_per_batch(model: Any, repository: Path) -> None:
    calls: list[int] = []
    scorer = model._steps._scorer
    advance = scorer.advance

    def counted(steps: Any) -> Any:
        calls.append(len(steps))
        return advance(steps)

    scorer.advance = counted
    a = ["今天天气很好。", "请问怎么做这个？", "谢谢你的回答。"]
    b = ["不是。", "是吗？"]
    responses = [
        model.execute([_chunk("a", "你好", a[0], 0, start=True), _chunk("b", "问题", b[0], 0, start=True)]),
        model.execute([_chunk("b", "问题", b[1], 3, end=True), _chunk("a", "你好", a[1], 7)]),
        model.execute([_chunk("a", "你好", a[2], 15, end=True)]),
    ]
    assert calls == [2, 2, 1]
    served = [_outputs(r) for batch in responses for r in batch]
    local = FastStreamScorer(repository / "guard_fast" / "1" / "checkpoint", window_chars=WINDOW)
    state_a, state_b = local.open("你好", ""), local.open("问题", "")
    expected = [
        local.advance([(state_a, a[0]), (state_b, b[0])]),
        local.advance([(state_b, b[1]), (state_a, a[1])]),
        local.advance([(state_a, a[2])]),
    ]
    p_expected = np.concatenate([s.p_unsafe for s in expected])
    np.testing.assert_allclose([o["P_UNSAFE"] for o in served], p_expected, atol=1e-6)
    assert [o["STREAM_CHARS"] for o in served] == [7, 3, 6, 15, 22]
    assert [bool(o["NEEDS_TEXT"]) for o in served] == [False] * 5
    slugs = [o["CATEGORY"].decode() for o in served]
    from guardstream.guard.category_layout import CATEGORIES

    assert slugs == [CATEGORIES[c].value for s in expected for c in s.category]
    assert served[0]["P_UNSAFE"].dtype == np.float32 and served[0]["STREAM_CHARS"].dtype == np.int64


def test_a_stream_the_model_does_not_hold_is_answered_needs_text_then_rebuilt(model: Any) -> None:
    (lost,) = model.execute([_chunk("gone", "你好", "谢谢。", 7)])
    out = _outputs(lost)
    assert bool(out["NEEDS_TEXT"]) and math.isnan(out["P_UNSAFE"]) and math.isnan(out["CATEGORY_SCORE"])
    assert (out["CATEGORY"], out["STREAM_CHARS"]) == (b"", 0)
    (rebuilt,) = model.execute([_chunk("gone", "你好", "谢谢。", 7, text="今天天气很好。")])
    again = _outputs(rebuilt)
    assert not bool(again["NEEDS_TEXT"]) and again["STREAM_CHARS"] == 10 and 0 < again["P_UNSAFE"] < 1


def test_a_malformed_request_fails_alone(model: Any) -> None:
    good = _chunk("ok", "你好", "好的", 0, start=True)
    no_prefix = _chunk("x", "q", "d", 0, start=True)
    del no_prefix.inputs["PREFIX_CHARS"]
    wrong_text = _chunk("y", "q", "d", 3, text="ab")
    two_rows = _chunk("z", "q", "d", 0, start=True)
    two_rows.inputs["DELTA"] = np.array([[b"a"], [b"b"]], dtype=object)
    responses = model.execute([no_prefix, good, wrong_text, two_rows])
    assert [r.error is None for r in responses] == [False, True, False, False]
    assert [r.error.code for r in responses if r.error] == ["INVALID_ARG"] * 3
    assert responses[0].error.message == "input PREFIX_CHARS is missing"
    assert "TEXT has 2 characters but PREFIX_CHARS is 3" in responses[2].error.message
    assert "DELTA must hold one row" in responses[3].error.message
    assert _outputs(responses[1])["STREAM_CHARS"] == 2


@pytest.mark.parametrize(
    ("failure", "code"),
    [(RuntimeError("shape mismatch"), "INTERNAL"), (torch.OutOfMemoryError("CUDA out of memory"), "UNAVAILABLE")],
)
def test_a_scorer_failure_answers_every_request_with_its_code(model: Any, failure: Exception, code: str) -> None:
    def boom(steps: object) -> None:
        raise failure

    model._steps._scorer.advance = boom
    malformed = _chunk("m", "q", "d", -1)
    responses = model.execute([_chunk("a", "q", "d", 0, start=True), malformed, _chunk("b", "q", "d", 0, start=True)])
    assert [r.error.code for r in responses] == [code, "INVALID_ARG", code]
    assert str(failure) in responses[0].error.message


def test_each_backend_refuses_the_others_modes_by_name(
    monkeypatch: pytest.MonkeyPatch, repository: Path, default_checkpoint: Path
) -> None:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    with pytest.raises(ConfigurationError, match=r"parameter mode .* must be one of stream_fast, stream_generative"):
        _initialised(repository / "guard_fast_stream" / "1", _model_config("fast", "../../guard_fast/1/checkpoint"))
    from guardstream.guard.triton_backend import TritonPythonModel

    config = _model_config("stream_fast", default_checkpoint.name)
    version_dir = default_checkpoint.parent
    with pytest.raises(ConfigurationError, match="must be one of score, explain, fast"):
        TritonPythonModel().initialize(
            {
                "model_config": json.dumps(config),
                "model_repository": str(version_dir.parent),
                "model_version": version_dir.name,
            }
        )


def test_the_generative_mode_builds_its_scorer_by_the_agreed_constructor(
    monkeypatch: pytest.MonkeyPatch, repository: Path
) -> None:
    built: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class GenerativeStreamScorer:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append((args, kwargs))

    stand_in = types.ModuleType("guardstream.guard.stream_generative")
    stand_in.GenerativeStreamScorer = GenerativeStreamScorer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "guardstream.guard.stream_generative", stand_in)
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    config = _model_config("stream_generative", "../../guard/{version}/checkpoint", dtype="bfloat16")
    _initialised(repository / "guard_fast_stream" / "1", config)
    checkpoint = repository / "guard_fast_stream" / "1" / "../../guard/1/checkpoint"
    assert built == [((checkpoint,), {"device": "cpu", "dtype": "bfloat16"})]


@pytest.mark.skipif(
    importlib.util.find_spec("guardstream.guard.stream_generative") is None,
    reason="guardstream.guard.stream_generative (GenerativeStreamScorer) is written on another branch, not merged yet",
)
def test_the_generative_mode_streams_through_the_glue(
    monkeypatch: pytest.MonkeyPatch, default_checkpoint: Path
) -> None:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    config = _model_config("stream_generative", default_checkpoint.name)
    model = _initialised(default_checkpoint.parent, config)
    first, second = model.execute([_chunk("g", "你好", "先炒鸡蛋", 0, start=True), _chunk("h", "hi", "ok", 0)])
    (third,) = model.execute([_chunk("g", "你好", "，再炒番茄", 4, end=True)])
    assert [_outputs(r)["STREAM_CHARS"] for r in (first, second, third)] == [4, 2, 9]
    assert all(0 <= _outputs(r)["P_UNSAFE"] <= 1 for r in (first, second, third))


def test_stream_settings_are_read_with_defaults_and_refused_by_name(tmp_path: Path) -> None:
    settings = settings_from_model_config(_model_config("stream_fast", "c"), tmp_path / "1")
    assert (settings.max_streams, settings.idle_timeout_s, settings.max_state_bytes, settings.window_chars) == (
        1024,
        600.0,
        None,
        None,
    )
    custom = _model_config("stream_fast", "c", max_streams="8", idle_timeout_s="2.5", max_state_bytes="99")
    settings = settings_from_model_config(custom | {}, tmp_path / "1")
    assert (settings.max_streams, settings.idle_timeout_s, settings.max_state_bytes) == (8, 2.5, 99)
    for name, value in (("idle_timeout_s", "0"), ("idle_timeout_s", "soon"), ("window_chars", "-3")):
        with pytest.raises(ConfigurationError, match=f"parameter {name}"):
            settings_from_model_config(_model_config("stream_fast", "c", **{name: value}), tmp_path / "1")


@pytest.mark.parametrize(
    ("model_name", "mode", "checkpoint"),
    [
        ("guard_fast_stream", "stream_fast", "../../guard_fast/{version}/checkpoint"),
        ("guard_stream", "stream_generative", "../../guard/{version}/checkpoint"),
    ],
)
def test_repository_configs_match_the_stream_contract(model_name: str, mode: str, checkpoint: str) -> None:
    text = (REPO / "triton_models" / model_name / "config.pbtxt").read_text()
    assert re.search(rf'^name: "{model_name}"$', text, re.M)
    tensors = {
        "QUESTION": "TYPE_STRING",
        "DELTA": "TYPE_STRING",
        "PREFIX_CHARS": "TYPE_INT64",
        "TEXT": "TYPE_STRING",
        **OUTPUTS,
    }
    for name, kind in tensors.items():
        assert re.search(rf'name: "{name}"\s+data_type: {kind}\s+dims: \[ 1 \]', text), name
    assert re.search(r'name: "TEXT"\s+data_type: TYPE_STRING\s+dims: \[ 1 \]\s+optional: true', text)
    assert "dynamic_batching" not in text and re.search(r"sequence_batching \{.*oldest \{", text, re.S)
    for control, kind in (("START", "CONTROL_SEQUENCE_START"), ("END", "CONTROL_SEQUENCE_END")):
        assert re.search(rf'name: "{control}"\s+control \[\s+\{{\s+kind: {kind}\s+bool_false_true', text)
    assert "CONTROL_SEQUENCE_CORRID" not in text  # Triton 2.51's Python backend cannot read a string one
    assert re.search(r"count: 1\s+kind: KIND_CPU", text)
    for key, value in {"mode": mode, "checkpoint_path": checkpoint, "idle_timeout_s": "600"}.items():
        assert f'key: "{key}" value: {{ string_value: "{value}" }}' in text
    assert "max_sequence_idle_microseconds: 600000000" in text  # the model's idle_timeout_s, in µs
    model_py = (REPO / "triton_models" / model_name / "1" / "model.py").read_text()
    assert "from guardstream.guard.stream_backend import TritonPythonModel" in model_py
