"""Triton Python-backend glue for the guard models: score, explain, or the fast guard.

``triton_models/guard/<N>/model.py`` and ``triton_models/guard_explain/<N>/model.py`` re-export
:class:`TritonPythonModel` from here; the config parameter ``mode`` picks what it runs. Each
``execute`` call gathers QUESTION and RESPONSE from every request Triton batched together, runs
**one** model call over all of them (a forward pass in score mode, one greedy generation in
explain mode), and returns exactly one response per request, in order: a P_UNSAFE (score) or
VERDICT_JSON (explain) tensor of shape ``[batch, 1]``, or a ``TritonError`` whose code says whose
fault it is (:mod:`guardstream.guard.triton_errors`): INVALID_ARG for a request that is malformed
(without failing the others), UNAVAILABLE or INTERNAL for every request of a batch the model failed
to run. ``triton_python_backend_utils`` exists only inside the Triton stub,
so it is imported when Triton initialises the model, not when this module is imported.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from guardstream.errors import ConfigurationError
from guardstream.guard.backend_settings import (
    INPUT_QUESTION,
    INPUT_RESPONSE,
    MODES,
    OUTPUT_CATEGORY,
    OUTPUT_CATEGORY_SCORE,
    OUTPUT_P_UNSAFE,
    OUTPUT_VERDICT_JSON,
    STREAM_MODES,
    BackendSettings,
    instance_device,
    output_data_type,
    settings_from_model_config,
)
from guardstream.guard.category_layout import category_slugs
from guardstream.guard.triton_errors import bad_request, model_failure

logger = logging.getLogger(__name__)

BATCH_MODES = tuple(mode for mode in MODES if mode not in STREAM_MODES)
"""The modes this backend serves; the stream modes are :mod:`guardstream.guard.stream_backend`'s."""


def decode_text(value: object) -> str:
    """A string tensor's element as text (invalid UTF-8 replaced, never fatal)."""
    if isinstance(value, bytes | bytearray | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def input_column(pb_utils: ModuleType, request: Any, name: str) -> npt.NDArray[Any] | None:
    """Input ``name`` of the request as one value per row (its shape must be ``[batch, 1]``), or
    None when the request does not carry it."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    array = tensor.as_numpy()
    if array.ndim != 2 or array.shape[1] != 1:
        raise ValueError(f"input {name} must have shape [batch, 1], got {list(array.shape)}")
    column: npt.NDArray[Any] = array[:, 0]
    return column


def _texts(pb_utils: ModuleType, request: Any, name: str) -> list[str]:
    column = input_column(pb_utils, request, name)
    if column is None:
        raise ValueError(f"input {name} is missing")
    return [decode_text(v) for v in column]


def initialise_backend(
    args: dict[str, str], modes: tuple[str, ...]
) -> tuple[ModuleType, dict[str, Any], BackendSettings]:
    """What every guard model does first: triton_python_backend_utils, its config, its settings
    (one of ``modes``), and torch's threads."""
    # Idle OpenMP threads sleep instead of spinning. The guard shares its cores with the worker and
    # Kafka, and spinning threads of busy neighbours starve each other: 2 torch threads on a loaded
    # 2-core machine scored ~35 items/s spinning, 300-500 passive. OpenMP reads this when torch
    # loads it, so it is set before the stub's first `import torch`; an operator's own value wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    import triton_python_backend_utils as pb_utils

    model_config = json.loads(args["model_config"])
    version_dir = Path(args["model_repository"]) / args["model_version"]
    settings = settings_from_model_config(model_config, version_dir)
    settings = replace(settings, device=instance_device(settings.device, args))
    if settings.mode not in modes:
        raise ConfigurationError(
            f"parameter mode of model {args.get('model_name')} must be one of {', '.join(modes)} for "
            f"the backend it imports, got {settings.mode!r}"
        )
    if settings.torch_threads is not None:
        torch.set_num_threads(settings.torch_threads)
    return pb_utils, model_config, settings


Outputs = dict[str, npt.NDArray[Any]]


def _runner(settings: BackendSettings, declared: set[str]) -> Callable[[list[tuple[str, str]]], Outputs]:
    """Score mode: p_unsafe (and the category, when the config declares those outputs) per pair;
    fast mode: the same outputs from the fast guard (a pretrained encoder with heads);
    explain mode: the generated verdict text (UTF-8) per pair."""
    if settings.mode == "fast":
        from guardstream.guard.fast_guard import FastGuardScorer

        fast = FastGuardScorer(
            settings.checkpoint_path,
            device=settings.device,
            dtype=settings.dtype,
            max_batch_size=settings.max_batch_size,
        )

        def score_fast(pairs: list[tuple[str, str]]) -> Outputs:
            scores = fast.score_with_categories(pairs)
            return {
                OUTPUT_P_UNSAFE: scores.p_unsafe,
                OUTPUT_CATEGORY: category_slugs(scores.category),
                OUTPUT_CATEGORY_SCORE: scores.category_score,
            }

        return score_fast
    if settings.mode == "score":
        from guardstream.guard.scoring import GuardScorer

        scorer = GuardScorer(
            settings.checkpoint_path,
            device=settings.device,
            dtype=settings.dtype,
            max_input_tokens=settings.max_input_tokens,
            max_batch_size=settings.max_batch_size,
            categories=None if OUTPUT_CATEGORY in declared else False,
        )

        def score(pairs: list[tuple[str, str]]) -> Outputs:
            scores = scorer.score_with_categories(pairs)
            return {
                OUTPUT_P_UNSAFE: scores.p_unsafe,
                OUTPUT_CATEGORY: category_slugs(scores.category),
                OUTPUT_CATEGORY_SCORE: scores.category_score,
            }

        return score
    from guardstream.guard.explaining import GuardExplainer

    explainer = GuardExplainer(
        settings.checkpoint_path,
        device=settings.device,
        dtype=settings.dtype,
        max_input_tokens=settings.max_input_tokens,
        max_new_tokens=settings.max_new_tokens,
        max_batch_size=settings.max_batch_size,
    )
    return lambda pairs: {
        OUTPUT_VERDICT_JSON: np.array([text.encode("utf-8") for text in explainer.explain(pairs)], dtype=np.object_)
    }


class TritonPythonModel:
    """The guard model as Triton's Python backend sees it."""

    def initialize(self, args: dict[str, str]) -> None:
        pb_utils, model_config, settings = initialise_backend(args, BATCH_MODES)
        self._pb = pb_utils
        declared = {output["name"] for output in model_config.get("output", [])}
        self._outputs = {
            name: pb_utils.triton_string_to_numpy(output_data_type(model_config, name)) for name in declared
        }
        self._run = _runner(settings, declared)
        logger.info(
            "guard model initialised name=%s version=%s mode=%s checkpoint=%s",
            args.get("model_name"),
            args["model_version"],
            settings.mode,
            settings.checkpoint_path,
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
                        f"{INPUT_QUESTION} has {len(questions)} rows but {INPUT_RESPONSE} has {len(answers)}"
                    )
            except ValueError as exc:
                responses[index] = pb.InferenceResponse(output_tensors=[], error=bad_request(pb, str(exc)))
                continue
            spans.append((index, len(pairs), len(questions)))
            pairs.extend(zip(questions, answers, strict=True))

        try:
            results = self._run(pairs) if pairs else {}
        except Exception as exc:  # one failing batch must answer every request, not crash
            logger.exception("guard model failed requests=%d pairs=%d", len(spans), len(pairs))
            error = model_failure(pb, exc)
            for index, _, _ in spans:
                responses[index] = pb.InferenceResponse(output_tensors=[], error=error)
            return responses

        for index, first, count in spans:
            tensors = [
                pb.Tensor(name, values[first : first + count].reshape(-1, 1).astype(self._outputs[name], copy=False))
                for name, values in results.items()
                if name in self._outputs
            ]
            responses[index] = pb.InferenceResponse(output_tensors=tensors)
        return responses

    def finalize(self) -> None:
        logger.info("guard model finalised")
