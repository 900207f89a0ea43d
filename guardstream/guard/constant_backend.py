"""A guard model that answers a constant, for measuring what the pipeline itself costs.

Same I/O contract as the score-mode ``guard`` model (QUESTION, RESPONSE in; P_UNSAFE, CATEGORY,
CATEGORY_SCORE out), so the worker's start-up contract check passes, but no network runs and the
input strings are never decoded: each request's row count is read from the tensor's shape. The
answer is the config parameter ``p_unsafe`` (default 0.01) for every row. It imports no torch, so
loading it costs a second and a few megabytes.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from guardstream.guard.backend_settings import (
    INPUT_QUESTION,
    OUTPUT_CATEGORY,
    OUTPUT_CATEGORY_SCORE,
    OUTPUT_P_UNSAFE,
)
from guardstream.guard.triton_errors import bad_request

DEFAULT_P_UNSAFE = 0.01


def constant_p_unsafe(model_config: dict[str, Any]) -> float:
    """The ``p_unsafe`` parameter of the config, checked to be a probability."""
    entry = model_config.get("parameters", {}).get("p_unsafe")
    raw = entry.get("string_value") if isinstance(entry, dict) else None
    value = float(raw) if raw not in (None, "") else DEFAULT_P_UNSAFE
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"p_unsafe must be within [0, 1], got {value}")
    return value


def constant_outputs(rows: int, p_unsafe: float) -> dict[str, np.ndarray[Any, Any]]:
    """The output tensors for ``rows`` pairs, shaped ``[rows, 1]`` as the guard contract says."""
    return {
        OUTPUT_P_UNSAFE: np.full((rows, 1), p_unsafe, dtype=np.float32),
        OUTPUT_CATEGORY: np.full((rows, 1), b"", dtype=np.object_),
        OUTPUT_CATEGORY_SCORE: np.zeros((rows, 1), dtype=np.float32),
    }


def _rows(tensor: Any) -> int:
    """The batch dimension, read from the tensor's shape without decoding its strings."""
    shape = getattr(tensor, "shape", None)
    if callable(shape):
        return int(shape()[0])
    return int(tensor.as_numpy().shape[0])


class ConstantTritonModel:
    """Triton Python-backend model: one response per request, each a constant answer."""

    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb_utils

        self._pb = pb_utils
        self._p_unsafe = constant_p_unsafe(json.loads(args["model_config"]))

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = self._pb
        responses = []
        for request in requests:
            tensor = pb.get_input_tensor_by_name(request, INPUT_QUESTION)
            if tensor is None:
                responses.append(pb.InferenceResponse(output_tensors=[], error=bad_request(pb, "QUESTION missing")))
                continue
            rows = _rows(tensor)
            outputs = constant_outputs(rows, self._p_unsafe)
            responses.append(pb.InferenceResponse(output_tensors=[pb.Tensor(n, v) for n, v in outputs.items()]))
        return responses

    def finalize(self) -> None:
        pass
