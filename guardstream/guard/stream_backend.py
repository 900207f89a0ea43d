"""Triton Python-backend glue for the stream models: a reply scored chunk by chunk as it streams.

``triton_models/guard_fast_stream/<N>/model.py`` (mode ``stream_fast``) and
``triton_models/guard_stream/<N>/model.py`` (mode ``stream_generative``) re-export
:class:`TritonPythonModel` from here. Triton's sequence batcher routes every chunk of a stream,
named by its string correlation id, to the one model instance that holds the stream's state, with
START on its first chunk and END on its last. The id is read from the request
(``request.correlation_id()``), not from a CORRID control tensor: Triton 2.51 pads a string CORRID
tensor to 128 bytes and the Python backend then refuses every request ("unexpected number of string
elements 2 for inference input 'CORRID', expecting 1"). Each ``execute`` call reads its
requests, lets :class:`~guardstream.guard.stream_steps.StreamSteps` find or rebuild their states
and advance them in **one** scorer call, and answers each request with P_UNSAFE, CATEGORY,
CATEGORY_SCORE, NEEDS_TEXT and STREAM_CHARS (shape ``[1, 1]`` each). A malformed request gets
INVALID_ARG without failing the others; a failing scorer answers every request of the call with
:func:`~guardstream.guard.triton_errors.model_failure`'s code.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from guardstream.guard.backend_settings import (
    CONTROL_END,
    CONTROL_START,
    INPUT_DELTA,
    INPUT_PREFIX_CHARS,
    INPUT_QUESTION,
    INPUT_TEXT,
    OUTPUT_CATEGORY,
    OUTPUT_CATEGORY_SCORE,
    OUTPUT_NEEDS_TEXT,
    OUTPUT_P_UNSAFE,
    OUTPUT_STREAM_CHARS,
    STREAM_MODES,
    BackendSettings,
    output_data_type,
)
from guardstream.guard.category_layout import category_slugs
from guardstream.guard.stream_states import StreamStates
from guardstream.guard.stream_steps import StreamAnswer, StreamRequest, StreamSteps
from guardstream.guard.triton_backend import decode_text, initialise_backend, input_column
from guardstream.guard.triton_errors import bad_request, model_failure

if TYPE_CHECKING:  # the contract imports torch, which must load after initialise_backend's OMP setting
    from guardstream.guard.stream_scoring import StreamScorer

logger = logging.getLogger(__name__)

OUTPUTS = (OUTPUT_P_UNSAFE, OUTPUT_CATEGORY, OUTPUT_CATEGORY_SCORE, OUTPUT_NEEDS_TEXT, OUTPUT_STREAM_CHARS)


def build_stream_scorer(settings: BackendSettings) -> StreamScorer:
    """The mode's scorer: the fast guard on a window of the reply, or the generative guard with its
    key/value cache (imported only when served: it is the heavier of the two)."""
    if settings.mode == "stream_fast":
        from guardstream.guard.stream_fast import DEFAULT_WINDOW_CHARS, FastStreamScorer

        return FastStreamScorer(
            settings.checkpoint_path,
            device=settings.device,
            dtype=settings.dtype,
            window_chars=settings.window_chars or DEFAULT_WINDOW_CHARS,
            max_batch_size=settings.max_batch_size,
        )
    from guardstream.guard.stream_generative import GenerativeStreamScorer

    scorer: StreamScorer = GenerativeStreamScorer(
        settings.checkpoint_path, device=settings.device, dtype=settings.dtype
    )
    return scorer


def _one(pb_utils: ModuleType, request: Any, name: str, *, required: bool = True) -> Any:
    """The request's one value of input ``name`` (a stream request is one row), None when absent."""
    column = input_column(pb_utils, request, name)
    if column is None:
        if required:
            raise ValueError(f"input {name} is missing")
        return None
    if len(column) != 1:
        raise ValueError(f"input {name} must hold one row per stream request, got {len(column)}")
    return column[0]


def read_request(pb_utils: ModuleType, request: Any) -> StreamRequest:
    """The stream request Triton handed over; ValueError names what is malformed."""
    text = _one(pb_utils, request, INPUT_TEXT, required=False)
    prefix = _one(pb_utils, request, INPUT_PREFIX_CHARS)
    try:
        prefix_chars = int(prefix)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"input {INPUT_PREFIX_CHARS} must be an integer: {exc}") from None
    return StreamRequest(
        stream_id=str(request.correlation_id()),
        start=bool(_one(pb_utils, request, CONTROL_START)),
        end=bool(_one(pb_utils, request, CONTROL_END)),
        question=decode_text(_one(pb_utils, request, INPUT_QUESTION)),
        delta=decode_text(_one(pb_utils, request, INPUT_DELTA)),
        prefix_chars=prefix_chars,
        text=None if text is None else decode_text(text),
    )


class TritonPythonModel:
    """A stream model as Triton's Python backend sees it."""

    def initialize(self, args: dict[str, str]) -> None:
        pb_utils, model_config, settings = initialise_backend(args, STREAM_MODES)
        self._pb = pb_utils
        self._types = {name: pb_utils.triton_string_to_numpy(output_data_type(model_config, name)) for name in OUTPUTS}
        states = StreamStates(
            max_streams=settings.max_streams,
            idle_timeout_s=settings.idle_timeout_s,
            max_state_bytes=settings.max_state_bytes,
        )
        self._steps = StreamSteps(build_stream_scorer(settings), states)
        self._states = states
        logger.info(
            "stream model initialised name=%s version=%s mode=%s checkpoint=%s max_streams=%d idle_timeout_s=%s",
            args.get("model_name"),
            args["model_version"],
            settings.mode,
            settings.checkpoint_path,
            settings.max_streams,
            settings.idle_timeout_s,
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = self._pb
        responses: list[Any] = [None] * len(requests)
        readable: list[tuple[int, StreamRequest]] = []
        for index, request in enumerate(requests):
            try:
                readable.append((index, read_request(pb, request)))
            except ValueError as exc:
                responses[index] = pb.InferenceResponse(output_tensors=[], error=bad_request(pb, str(exc)))
        try:
            answers = self._steps.run([stream_request for _, stream_request in readable])
        except Exception as exc:  # one failing batch must answer every request, not crash
            logger.exception("stream model failed requests=%d streams_held=%d", len(readable), len(self._states))
            error = model_failure(pb, exc)
            for index, _ in readable:
                responses[index] = pb.InferenceResponse(output_tensors=[], error=error)
            return responses
        for (index, _), answer in zip(readable, answers, strict=True):
            responses[index] = pb.InferenceResponse(output_tensors=self._tensors(answer))
        return responses

    def _tensors(self, answer: StreamAnswer) -> list[Any]:
        values = {
            OUTPUT_P_UNSAFE: answer.p_unsafe,
            OUTPUT_CATEGORY: category_slugs(np.array([answer.category], dtype=np.int64))[0],
            OUTPUT_CATEGORY_SCORE: answer.category_score,
            OUTPUT_NEEDS_TEXT: answer.needs_text,
            OUTPUT_STREAM_CHARS: answer.stream_chars,
        }
        return [self._pb.Tensor(name, np.array([[value]], dtype=self._types[name])) for name, value in values.items()]

    def finalize(self) -> None:
        logger.info(
            "stream model finalised streams_held=%d evictions=%s outcomes=%s",
            len(self._states),
            dict(self._states.evictions),
            dict(self._steps.outcomes),
        )
