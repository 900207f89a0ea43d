"""Triton Python-backend glue for the guard model, in score or explain mode.

``triton_models/guard/<N>/model.py`` and ``triton_models/guard_explain/<N>/model.py`` re-export
:class:`TritonPythonModel` from here; the config parameter ``mode`` picks what it runs. Each
``execute`` call gathers QUESTION and RESPONSE from every request Triton batched together, runs
**one** model call over all of them (a forward pass in score mode, one greedy generation in
explain mode), and returns exactly one response per request, in order: a P_UNSAFE (score) or
VERDICT_JSON (explain) tensor of shape ``[batch, 1]``, or a ``TritonError`` for a request that is
malformed (without failing the others). ``triton_python_backend_utils`` exists only inside the Triton stub,
so it is imported when Triton initialises the model, not when this module is imported.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from guardstream.guard.backend_settings import (
    BackendSettings,
    INPUT_QUESTION,
    INPUT_RESPONSE,
    OUTPUT_P_UNSAFE,
    OUTPUT_VERDICT_JSON,
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


def _runner(settings: BackendSettings) -> Callable[[list[tuple[str, str]]], npt.NDArray[Any]]:
    """Score mode returns p_unsafe per pair; explain mode the generated verdict text (UTF-8)."""
    if settings.mode == "score":
        from guardstream.guard.scoring import GuardScorer

        scorer = GuardScorer(
            settings.checkpoint_path,
            device=settings.device,
            dtype=settings.dtype,
            max_input_tokens=settings.max_input_tokens,
            max_batch_size=settings.max_batch_size,
        )
        return scorer.score
    from guardstream.guard.explaining import GuardExplainer

    explainer = GuardExplainer(
        settings.checkpoint_path,
        device=settings.device,
        dtype=settings.dtype,
        max_input_tokens=settings.max_input_tokens,
        max_new_tokens=settings.max_new_tokens,
        max_batch_size=settings.max_batch_size,
    )
    return lambda pairs: np.array([text.encode("utf-8") for text in explainer.explain(pairs)], dtype=np.object_)


class TritonPythonModel:
    """The guard model as Triton's Python backend sees it."""

    def initialize(self, args: dict[str, str]) -> None:
        import torch
        import triton_python_backend_utils as pb_utils

        self._pb = pb_utils
        model_config = json.loads(args["model_config"])
        version_dir = Path(args["model_repository"]) / args["model_version"]
        settings = settings_from_model_config(model_config, version_dir)
        if settings.torch_threads is not None:
            torch.set_num_threads(settings.torch_threads)
        self._output = OUTPUT_P_UNSAFE if settings.mode == "score" else OUTPUT_VERDICT_JSON
        self._output_dtype = pb_utils.triton_string_to_numpy(output_data_type(model_config, self._output))
        self._run = _runner(settings)
        logger.info(
            "guard model initialised name=%s version=%s mode=%s checkpoint=%s",
            args.get("model_name"), args["model_version"], settings.mode, settings.checkpoint_path,
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
            results = self._run(pairs) if pairs else np.empty(0, dtype=self._output_dtype)
        except Exception as exc:  # one failing batch must answer every request, not crash
            logger.exception("guard model failed requests=%d pairs=%d", len(spans), len(pairs))
            for index, _, _ in spans:
                responses[index] = pb.InferenceResponse(
                    output_tensors=[], error=pb.TritonError(f"guard model failed: {exc}")
                )
            return responses

        for index, first, count in spans:
            column = results[first : first + count].reshape(-1, 1).astype(self._output_dtype, copy=False)
            responses[index] = pb.InferenceResponse(output_tensors=[pb.Tensor(self._output, column)])
        return responses

    def finalize(self) -> None:
        logger.info("guard model finalised")
