"""A guard that fails its first requests, then recovers: the Python-backend side of a sick model.

The first ``fail_unavailable`` requests fail as a model out of memory, the next ``fail_internal``
as a model that crashed; each gets the error the real guard backend answers such a failure with
(:func:`guardstream.guard.triton_errors.model_failure`: UNAVAILABLE, then INTERNAL). Every later
request is answered as the constant guard answers it.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from guardstream.guard.backend_settings import INPUT_QUESTION
from guardstream.guard.constant_backend import constant_outputs
from guardstream.guard.triton_errors import model_failure


def _count(model_config: dict[str, Any], key: str) -> int:
    return int(model_config["parameters"][key]["string_value"])


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb_utils

        self._pb = pb_utils
        config = json.loads(args["model_config"])
        self._unavailable = _count(config, "fail_unavailable")
        self._failing = self._unavailable + _count(config, "fail_internal")
        self._served = 0

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = self._pb
        responses = []
        for request in requests:
            self._served += 1
            if self._served <= self._failing:
                sick: Exception = (
                    torch.OutOfMemoryError("CUDA out of memory (scripted)")
                    if self._served <= self._unavailable
                    else RuntimeError("model crashed (scripted)")
                )
                responses.append(pb.InferenceResponse(output_tensors=[], error=model_failure(pb, sick)))
                continue
            rows = pb.get_input_tensor_by_name(request, INPUT_QUESTION).as_numpy().shape[0]
            outputs = constant_outputs(rows, 0.01)
            responses.append(pb.InferenceResponse(output_tensors=[pb.Tensor(n, v) for n, v in outputs.items()]))
        return responses
