"""The stream models behind Triton, asked one chunk per stream at a time (sequence batching).

Each stream is a Triton *sequence* whose correlation id is its stream_id; Triton batches the chunks
of many streams together and keeps each stream on the model instance that holds its state. A
request carries the chunk's delta and how many characters of the reply came before it, so the
model can tell a chunk it has seen (a replay after a crash: it rewinds its state) from one that
follows. When the model no longer holds the stream (evicted, Triton restarted, the sequence idled
out) it answers NEEDS_TEXT, or Triton refuses a request without the START flag; the chunk is then
sent again with START and the reply's text so far, and the model rebuilds the stream from it.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from guardstream.errors import RetriableError
from guardstream.guard.categories import HarmCategory
from guardstream.settings import TritonSettings
from workers.triton_client import build_grpc_client, bytes_input, classify, current_version

INPUT_DELTA = "DELTA"
INPUT_PREFIX_CHARS = "PREFIX_CHARS"
INPUT_TEXT = "TEXT"
OUTPUT_NEEDS_TEXT = "NEEDS_TEXT"
_OUTPUTS = ("P_UNSAFE", "CATEGORY", "CATEGORY_SCORE", OUTPUT_NEEDS_TEXT)
_NO_START = "must specify the START flag"


@dataclass(frozen=True, slots=True)
class ChunkRequest:
    stream_id: str
    question: str
    delta: str
    text_before: str
    """The reply before this chunk (sent only when the model must rebuild the stream)."""
    start: bool
    """The stream's first chunk as far as the model is concerned (seq 0, or a rebuild)."""
    end: bool


@dataclass(frozen=True, slots=True)
class ChunkAnswer:
    p_unsafe: float
    category: HarmCategory | None
    rebuilt: bool
    """The model rebuilt the stream from the text (it had lost it)."""


class StreamModelClient:
    def __init__(self, settings: TritonSettings, model_name: str) -> None:
        self._settings = settings
        self.model_name = model_name
        self._client = build_grpc_client(settings)
        self._version = ""
        self._version_read_at = -float("inf")

    def version(self) -> str:
        now = time.monotonic()
        if not self._version or now - self._version_read_at >= self._settings.version_poll_s:
            try:
                self._version = current_version(self._client, self.model_name)
            except InferenceServerException as exc:
                raise RetriableError(f"Triton: the version of {self.model_name!r} is unknown: {exc}") from exc
            self._version_read_at = now
        return self._version

    def score(self, requests: Sequence[ChunkRequest]) -> list[ChunkAnswer]:
        """One answer per request, in order; at most one request per stream. Raises RetriableError
        (Triton away or failing) or PermanentError (a request Triton calls malformed)."""
        version = self.version()
        answers = self._send(requests, version, rebuild=[False] * len(requests))
        again = [i for i, answer in enumerate(answers) if answer is None]
        if again:
            retried = self._send([requests[i] for i in again], version, rebuild=[True] * len(again))
            for index, answer in zip(again, retried, strict=True):
                if answer is None:
                    raise RetriableError(
                        f"{self.model_name} still lacks stream {requests[index].stream_id!r} after a rebuild"
                    )
                answers[index] = answer
        return [answer for answer in answers if answer is not None]

    def _send(
        self, requests: Sequence[ChunkRequest], version: str, rebuild: Sequence[bool]
    ) -> list[ChunkAnswer | None]:
        """None where the model must rebuild the stream (NEEDS_TEXT, or Triton wanted START)."""
        done: queue.SimpleQueue[tuple[int, grpcclient.InferResult | None, InferenceServerException | None]] = (
            queue.SimpleQueue()
        )
        for index, (request, full) in enumerate(zip(requests, rebuild, strict=True)):
            inputs = [
                bytes_input("QUESTION", [request.question]),
                bytes_input(INPUT_DELTA, [request.delta]),
                _int64_input(INPUT_PREFIX_CHARS, len(request.text_before)),
            ]
            if full and request.text_before:
                inputs.append(bytes_input(INPUT_TEXT, [request.text_before]))
            try:
                self._client.async_infer(
                    self.model_name,
                    inputs,
                    lambda result, error, index=index: done.put((index, result, error)),
                    model_version=version,
                    outputs=[grpcclient.InferRequestedOutput(name) for name in _OUTPUTS],
                    sequence_id=request.stream_id,
                    sequence_start=request.start or full,
                    sequence_end=request.end,
                    client_timeout=self._settings.request_timeout_s,
                )
            except InferenceServerException as exc:
                done.put((index, None, exc))
        answers: list[ChunkAnswer | None] = [None] * len(requests)
        failure: Exception | None = None
        for _ in requests:
            try:
                index, result, error = done.get(timeout=self._settings.request_timeout_s + 5)
            except queue.Empty:
                raise RetriableError(f"{self.model_name} did not answer in time") from None
            if error is not None or result is None:
                if error is not None and _NO_START in str(error) and not rebuild[index]:
                    continue  # Triton released the sequence: resend with START and the text
                failure = failure or classify(error)
                continue
            answers[index] = _answer(result, rebuilt=rebuild[index])
        if failure is not None:
            raise failure
        return answers

    def close(self) -> None:
        self._client.close()


def _answer(result: grpcclient.InferResult, *, rebuilt: bool) -> ChunkAnswer | None:
    needs_text = result.as_numpy(OUTPUT_NEEDS_TEXT)
    if needs_text is not None and bool(needs_text.reshape(-1)[0]):
        return None
    p_unsafe = float(result.as_numpy("P_UNSAFE").reshape(-1)[0])
    slug = result.as_numpy("CATEGORY").reshape(-1)[0]
    slug = slug.decode("utf-8") if isinstance(slug, bytes) else str(slug)
    return ChunkAnswer(p_unsafe, HarmCategory(slug) if slug else None, rebuilt)


def _int64_input(name: str, value: int) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, [1, 1], "INT64")
    tensor.set_data_from_numpy(np.array([[value]], dtype=np.int64))
    return tensor
