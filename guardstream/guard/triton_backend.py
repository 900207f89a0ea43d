"""Triton Python-backend glue for the guard model (score mode).

``triton_models/guard/<N>/model.py`` re-exports :class:`TritonPythonModel` from here. Each
``execute`` call gathers QUESTION and RESPONSE from every request Triton batched together, runs
**one** scorer call over all of them, and returns exactly one response per request, in order: a
P_UNSAFE tensor of shape ``[batch, 1]``, or a ``TritonError`` for a request that is malformed
(without failing the others). ``triton_python_backend_utils`` exists only inside the Triton stub,
so it is imported when Triton initialises the model, not when this module is imported.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from guardstream.guard.backend_settings import (
    INPUT_QUESTION,
    INPUT_RESPONSE,
    OUTPUT_P_UNSAFE,
    output_data_type,
    settings_from_model_config,
)

logger = logging.getLogger(__name__)


def _decode(value: object) -> str:
    if isinstance(value, bytes | bytearray | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _texts(pb_utils: ModuleType, request: Any, name: str) -> list[str]:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise ValueError(f"input {name} is missing")
    array = tensor.as_numpy()
    if array.ndim != 2 or array.shape[1] != 1:
        raise ValueError(f"input {name} must have shape [batch, 1], got {list(array.shape)}")
    return [_decode(v) for v in array[:, 0]]


class TritonPythonModel:
    """The guard model as Triton's Python backend sees it."""

    def initialize(self, args: dict[str, str]) -> None:
        import torch
        import triton_python_backend_utils as pb_utils

        from guardstream.guard.scoring import GuardScorer

        self._pb = pb_utils
        model_config = json.loads(args["model_config"])
        version_dir = Path(args["model_repository"]) / args["model_version"]
        settings = settings_from_model_config(model_config, version_dir)
        if settings.torch_threads is not None:
            torch.set_num_threads(settings.torch_threads)
        self._output_dtype = pb_utils.triton_string_to_numpy(
            output_data_type(model_config, OUTPUT_P_UNSAFE)
        )
        self._scorer = GuardScorer(
            settings.checkpoint_path,
            device=settings.device,
            dtype=settings.dtype,
            max_input_tokens=settings.max_input_tokens,
            max_batch_size=settings.max_batch_size,
        )
        logger.info(
            "guard model initialised name=%s version=%s checkpoint=%s",
            args.get("model_name"), args["model_version"], settings.checkpoint_path,
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = self._pb
        responses: list[Any] = [None] * len(requests)
        pairs: list[tuple[str, str]] = []
        spans: list[tuple[int, int, int]] = []  # (request index, first pair, pair count)
        for index, request in enumerate(requests):
            try:
                questions = _texts(pb, request, INPUT_QUESTION)
                answers = _texts(pb, request, INPUT_RESPONSE)
                if len(questions) != len(answers):
                    raise ValueError(
                        f"{INPUT_QUESTION} has {len(questions)} rows but {INPUT_RESPONSE} "
                        f"has {len(answers)}"
                    )
            except ValueError as exc:
                responses[index] = pb.InferenceResponse(
                    output_tensors=[], error=pb.TritonError(str(exc))
                )
                continue
            spans.append((index, len(pairs), len(questions)))
            pairs.extend(zip(questions, answers))

        try:
            scores = self._scorer.score(pairs) if pairs else np.empty(0, dtype=np.float32)
        except Exception as exc:  # one failing batch must answer every request, not crash
            logger.exception("guard scoring failed requests=%d pairs=%d", len(spans), len(pairs))
            for index, _, _ in spans:
                responses[index] = pb.InferenceResponse(
                    output_tensors=[], error=pb.TritonError(f"guard scoring failed: {exc}")
                )
            return responses

        for index, first, count in spans:
            column = self._column(scores[first : first + count])
            responses[index] = pb.InferenceResponse(
                output_tensors=[pb.Tensor(OUTPUT_P_UNSAFE, column)]
            )
        return responses

    def _column(self, scores: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        return scores.reshape(-1, 1).astype(self._output_dtype, copy=False)

    def finalize(self) -> None:
        logger.info("guard model finalised")
