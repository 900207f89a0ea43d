"""The one place that builds Triton clients: the guard model over gRPC, many requests in flight.

``submit`` returns at once; the outcome arrives on gRPC's thread through the callback, so the
worker's Kafka loop never waits on inference.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from guardstream.errors import ConfigurationError, PermanentError, RetriableError
from guardstream.settings import TritonSettings

QUESTION = "QUESTION"
RESPONSE = "RESPONSE"
P_UNSAFE = "P_UNSAFE"
EXPECTED_INPUTS = {QUESTION: "BYTES", RESPONSE: "BYTES"}
EXPECTED_OUTPUTS = {P_UNSAFE: "FP32"}

_RETRIABLE_STATUS = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "CANCELLED", "ABORTED")
_RETRIABLE_TEXT = ("unknown model", "is not ready", "not found", "connect", "socket closed")


@dataclass(frozen=True, slots=True)
class ServedModel:
    """What Triton says it serves, checked against our contract at start-up."""

    name: str
    versions: tuple[str, ...]
    max_batch_size: int


@dataclass(frozen=True, slots=True)
class InferenceOutcome:
    """p_unsafe per item and the version that produced them, or the error that stopped it."""

    p_unsafe: np.ndarray | None
    model_version: str
    elapsed_ms: float
    error: RetriableError | PermanentError | None


class GuardModelClient:
    def __init__(self, settings: TritonSettings) -> None:
        self._settings = settings
        self._client = grpcclient.InferenceServerClient(url=settings.grpc_url)

    def check_contract(self, batch_size: int) -> ServedModel:
        """Verify tensor names, types and batch size of the served model before consuming."""
        name, version = self._settings.model_name, self._settings.model_version
        try:
            if not self._client.is_model_ready(name, version):
                raise RetriableError(f"Triton at {self._settings.grpc_url}: model {name!r} is not ready")
            metadata = self._client.get_model_metadata(name, version, as_json=True)
            config = self._client.get_model_config(name, version, as_json=True)["config"]
        except InferenceServerException as exc:
            raise RetriableError(f"Triton at {self._settings.grpc_url} unavailable: {exc}") from exc
        inputs = {tensor["name"]: tensor["datatype"] for tensor in metadata["inputs"]}
        outputs = {tensor["name"]: tensor["datatype"] for tensor in metadata["outputs"]}
        problems = [
            f"input {tensor} must be {dtype}, served: {inputs.get(tensor, 'missing')}"
            for tensor, dtype in EXPECTED_INPUTS.items()
            if inputs.get(tensor) != dtype
        ] + [
            f"output {tensor} must be {dtype}, served: {outputs.get(tensor, 'missing')}"
            for tensor, dtype in EXPECTED_OUTPUTS.items()
            if outputs.get(tensor) != dtype
        ]
        max_batch_size = int(config.get("max_batch_size", 0))
        if max_batch_size < batch_size:
            problems.append(
                f"max_batch_size {max_batch_size} is below the worker's batch size {batch_size} "
                "(lower GUARDSTREAM_WORKER__BATCH_MAX_SIZE or raise max_batch_size in config.pbtxt)"
            )
        if problems:
            raise ConfigurationError(f"served model {name!r} breaks the guard contract: " + "; ".join(problems))
        return ServedModel(name, tuple(metadata.get("versions", ())), max_batch_size)

    def submit(self, pairs: Sequence[tuple[str, str]], on_done: Callable[[InferenceOutcome], None]) -> None:
        """Send one batch; ``on_done`` is called once, from another thread, with the outcome."""
        started = time.perf_counter()
        inputs = [
            _bytes_input(QUESTION, [question for question, _ in pairs]),
            _bytes_input(RESPONSE, [response for _, response in pairs]),
        ]

        def finished(result: grpcclient.InferResult | None, error: InferenceServerException | None) -> None:
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            if error is not None or result is None:
                on_done(InferenceOutcome(None, "", elapsed_ms, classify(error)))
                return
            response = result.get_response()
            scores = result.as_numpy(P_UNSAFE).reshape(-1).astype(np.float64)
            on_done(InferenceOutcome(scores, response.model_version, elapsed_ms, None))

        try:
            self._client.async_infer(
                self._settings.model_name,
                inputs,
                finished,
                model_version=self._settings.model_version,
                outputs=[grpcclient.InferRequestedOutput(P_UNSAFE)],
                client_timeout=self._settings.request_timeout_s,
            )
        except InferenceServerException as exc:
            on_done(InferenceOutcome(None, "", 0.0, classify(exc)))

    def close(self) -> None:
        self._client.close()


def classify(error: InferenceServerException | None) -> RetriableError | PermanentError:
    """Unavailable, overloaded or reloading servers are retried; anything else is the input's fault."""
    status = str(error.status() if error is not None else "")
    message = str(error) if error is not None else "no result"
    if any(code in status for code in _RETRIABLE_STATUS) or any(
        text in message.lower() for text in _RETRIABLE_TEXT
    ):
        return RetriableError(f"Triton unavailable: {message}")
    return PermanentError(f"Triton rejected the request: {message}")


def _bytes_input(name: str, texts: Sequence[str]) -> grpcclient.InferInput:
    array = np.array([text.encode("utf-8") for text in texts], dtype=np.object_).reshape(-1, 1)
    tensor = grpcclient.InferInput(name, list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor
