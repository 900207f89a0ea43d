"""The one place that builds Triton clients: the guard model over gRPC, many requests in flight.

``submit`` returns at once; the outcome arrives on gRPC's thread through the callback, so the
worker's Kafka loop never waits on inference. Unless a version is pinned in the settings, every
request names the version promoted as current (``guardstream model promote``), re-read from
Triton every few seconds, so workers follow a promotion or a rollback without a restart.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from guardstream.errors import ConfigurationError, PermanentError, RetriableError
from guardstream.guard.backend_settings import (
    INPUT_QUESTION,
    INPUT_RESPONSE,
    OUTPUT_CATEGORY,
    OUTPUT_CATEGORY_SCORE,
    OUTPUT_P_UNSAFE,
    OUTPUT_VERDICT_JSON,
)
from guardstream.guard.categories import HarmCategory
from guardstream.records import GuardStage
from guardstream.settings import TritonSettings

CURRENT_VERSION_PARAMETER = "current_version"
EXPECTED_INPUTS = {INPUT_QUESTION: "BYTES", INPUT_RESPONSE: "BYTES"}
EXPECTED_OUTPUTS = {OUTPUT_P_UNSAFE: "FP32"}

REJECTED_STATUS = str(grpc.StatusCode.INVALID_ARGUMENT)
"""The one gRPC status that blames the request (python backend: ``TritonError.INVALID_ARG``)."""


@dataclass(frozen=True, slots=True)
class ServedModel:
    """What Triton says it serves, checked against our contract at start-up."""

    name: str
    versions: tuple[str, ...]
    max_batch_size: int


@dataclass(frozen=True, slots=True)
class CascadeScore:
    """How the cascade judged one item: the stage that decided and the scores of both stages."""

    stage: GuardStage
    p_fast: float
    p_generative: float | None


@dataclass(frozen=True, slots=True)
class InferenceOutcome:
    """p_unsafe per item and the version that produced them, or the error that stopped it."""

    p_unsafe: np.ndarray | None
    model_version: str
    elapsed_ms: float
    error: RetriableError | PermanentError | None
    categories: list[tuple[str, float] | None] | None = None
    """Per item, the harm category (slug, score) the model named, when it names categories."""
    cascade: list[CascadeScore] | None = None
    """Per item, when a cascade judged: ``model_version`` is then the fast guard's."""
    generative_version: str = ""
    """The generative guard's version, when the cascade escalated any item."""


def build_grpc_client(settings: TritonSettings) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(url=settings.grpc_url)


def ensure_loaded(settings: TritonSettings, model_names: Iterable[str]) -> None:
    """Loads, through Triton's explicit model control, each model that is not ready (a no-op for the rest)."""
    client = build_grpc_client(settings)
    try:
        for name in model_names:
            if not client.is_model_ready(name):
                client.load_model(name)
    finally:
        client.close()


def build_aio_grpc_client(settings: TritonSettings) -> Any:
    """The asyncio gRPC client (benchmarks drive many requests from one event loop with it)."""
    import tritonclient.grpc.aio as aioclient

    return aioclient.InferenceServerClient(url=settings.grpc_url)


def current_version(client: grpcclient.InferenceServerClient, model_name: str) -> str:
    """The version promoted as current; before any promotion, the newest ready version.

    Always a concrete number, so that loading a newer version beside it never moves traffic
    before that version is promoted.
    """
    config = client.get_model_config(model_name, as_json=True)["config"]
    entry = config.get("parameters", {}).get(CURRENT_VERSION_PARAMETER, {})
    promoted = str(entry.get("string_value", "")) if isinstance(entry, dict) else ""
    if promoted:
        return promoted
    index = client.get_model_repository_index(as_json=True).get("models", [])
    ready = [int(e["version"]) for e in index if e.get("name") == model_name and e.get("state") == "READY"]
    return str(max(ready)) if ready else ""


Escalates = Callable[[float, HarmCategory | None], bool]
"""The policy's question: is this fast-guard score (for this category) uncertain?"""


class GuardModelClient:
    def __init__(self, settings: TritonSettings) -> None:
        self._settings = settings
        self._client = build_grpc_client(settings)
        self._version = settings.model_version
        self._version_read_at = 0.0
        self._version_lock = threading.Lock()
        self._outputs = [grpcclient.InferRequestedOutput(OUTPUT_P_UNSAFE)]

    def version(self) -> str:
        """The version requests go to: pinned, or the current one (re-read every few seconds)."""
        if self._settings.model_version:
            return self._settings.model_version
        now = time.monotonic()
        if now - self._version_read_at >= self._settings.version_poll_s and self._version_lock.acquire(blocking=False):
            try:
                self._version = current_version(self._client, self._settings.model_name)
            except InferenceServerException:
                pass  # keep the last known version; inference errors drive retries
            finally:
                self._version_read_at = now
                self._version_lock.release()
        return self._version

    def forget_version(self) -> None:
        """Re-read the current version before the next request (after a request failed)."""
        self._version_read_at = 0.0

    def check_contract(self, batch_size: int) -> ServedModel:
        """Verify tensor names, types and batch size of the served model before consuming."""
        name, version = self._settings.model_name, self.version()
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
        if {OUTPUT_CATEGORY, OUTPUT_CATEGORY_SCORE} <= set(outputs):
            self._outputs = [
                grpcclient.InferRequestedOutput(name)
                for name in (OUTPUT_P_UNSAFE, OUTPUT_CATEGORY, OUTPUT_CATEGORY_SCORE)
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

    def submit(
        self,
        pairs: Sequence[tuple[str, str]],
        on_done: Callable[[InferenceOutcome], None],
        escalates: Sequence[Escalates] | None = None,
    ) -> None:
        """Send one batch; ``on_done`` is called once, from another thread, with the outcome.
        ``escalates`` is for a cascade; one model has nothing to escalate to."""
        started = time.perf_counter()
        inputs = [
            bytes_input(INPUT_QUESTION, [question for question, _ in pairs]),
            bytes_input(INPUT_RESPONSE, [response for _, response in pairs]),
        ]

        def finished(result: grpcclient.InferResult | None, error: InferenceServerException | None) -> None:
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            if error is not None or result is None:
                on_done(InferenceOutcome(None, "", elapsed_ms, classify(error)))
                return
            response = result.get_response()
            scores = result.as_numpy(OUTPUT_P_UNSAFE).reshape(-1).astype(np.float64)
            on_done(InferenceOutcome(scores, response.model_version, elapsed_ms, None, _categories(result)))

        try:
            self._client.async_infer(
                self._settings.model_name,
                inputs,
                finished,
                model_version=self.version(),
                outputs=self._outputs,
                client_timeout=self._settings.request_timeout_s,
            )
        except InferenceServerException as exc:
            on_done(InferenceOutcome(None, "", 0.0, classify(exc)))

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """p_unsafe per pair, waiting for the answer (for tools; the worker uses ``submit``)."""
        return _wait(self, pairs, self._settings.request_timeout_s)

    def explain(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        """The explain model's generated verdict text per pair (same version as scoring)."""
        if not pairs:
            return []
        inputs = [
            bytes_input(INPUT_QUESTION, [question for question, _ in pairs]),
            bytes_input(INPUT_RESPONSE, [response for _, response in pairs]),
        ]
        try:
            result = self._client.infer(
                self._settings.explain_model_name,
                inputs,
                model_version=self.version(),
                outputs=[grpcclient.InferRequestedOutput(OUTPUT_VERDICT_JSON)],
                client_timeout=self._settings.request_timeout_s,
            )
        except InferenceServerException as exc:
            raise classify(exc) from exc
        return [value.decode("utf-8", errors="replace") for value in result.as_numpy(OUTPUT_VERDICT_JSON).reshape(-1)]

    def close(self) -> None:
        self._client.close()


class CascadeClient:
    """The guard cascade: the fast guard scores every pair; the pairs the policy finds uncertain
    go on to the generative guard's score mode within the same request cycle, and its score decides.

    The worker sees one outcome per part, as with a single model. An error at either stage fails
    the part (retried or halved as usual); explain requests go to the generative guard.
    """

    def __init__(self, settings: TritonSettings, escalates: Escalates) -> None:
        fast_settings = settings.model_copy(
            update={"model_name": settings.fast_model_name, "model_version": settings.fast_model_version}
        )
        self.fast = GuardModelClient(fast_settings)
        self.generative = GuardModelClient(settings)
        self._escalates = escalates
        self._timeout_s = settings.request_timeout_s

    def version(self) -> str:
        return self.fast.version()

    def forget_version(self) -> None:
        self.fast.forget_version()
        self.generative.forget_version()

    def check_contract(self, batch_size: int) -> ServedModel:
        """Both stages must keep the guard contract; the fast guard's description is returned."""
        self.generative.check_contract(batch_size)
        return self.fast.check_contract(batch_size)

    def submit(
        self,
        pairs: Sequence[tuple[str, str]],
        on_done: Callable[[InferenceOutcome], None],
        escalates: Sequence[Escalates] | None = None,
    ) -> None:
        """``escalates``: each pair's band (the policy its event is judged by); None: the cascade's own."""
        started = time.perf_counter()

        def fast_done(fast: InferenceOutcome) -> None:
            if fast.error is not None or fast.p_unsafe is None:
                on_done(fast)
                return
            fast_scores = fast.p_unsafe
            categories = fast.categories or [None] * len(pairs)
            bands = escalates or [self._escalates] * len(pairs)
            escalated = [
                index
                for index, (score, named, band) in enumerate(zip(fast_scores, categories, bands, strict=True))
                if band(float(score), HarmCategory(named[0]) if named else None)
            ]
            if not escalated:
                cascade = [CascadeScore(GuardStage.FAST, float(score), None) for score in fast_scores]
                on_done(replace(fast, cascade=cascade, elapsed_ms=_since(started)))
                return

            def generative_done(generative: InferenceOutcome) -> None:
                if generative.error is not None or generative.p_unsafe is None:
                    on_done(InferenceOutcome(None, "", _since(started), generative.error))
                    return
                merged = fast_scores.copy()
                merged_categories = list(categories)
                cascade = [CascadeScore(GuardStage.FAST, float(score), None) for score in fast_scores]
                second_categories = generative.categories or [None] * len(escalated)
                for position, index in enumerate(escalated):
                    p_generative = float(generative.p_unsafe[position])
                    merged[index] = p_generative
                    cascade[index] = CascadeScore(GuardStage.GENERATIVE, float(fast_scores[index]), p_generative)
                    if second_categories[position] is not None:
                        merged_categories[index] = second_categories[position]
                on_done(
                    InferenceOutcome(
                        merged,
                        fast.model_version,
                        _since(started),
                        None,
                        merged_categories,
                        cascade,
                        generative.model_version,
                    )
                )

            self.generative.submit([pairs[index] for index in escalated], generative_done)

        self.fast.submit(pairs, fast_done)

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The cascade's p_unsafe per pair, waiting for the answer."""
        return _wait(self, pairs, self._timeout_s)

    def explain(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        return self.generative.explain(pairs)

    def close(self) -> None:
        self.fast.close()
        self.generative.close()


GuardClient = GuardModelClient | CascadeClient
"""What the worker submits to: one served model, or the cascade."""


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _wait(client: GuardModelClient | CascadeClient, pairs: Sequence[tuple[str, str]], timeout_s: float) -> np.ndarray:
    """Submit and wait for the p_unsafe per pair (tools; the worker uses ``submit``)."""
    outcome = wait_for_outcome(client, pairs, timeout_s)
    assert outcome.p_unsafe is not None
    return outcome.p_unsafe


def wait_for_outcome(
    client: GuardModelClient | CascadeClient, pairs: Sequence[tuple[str, str]], timeout_s: float
) -> InferenceOutcome:
    """Submit and wait for the whole outcome (scores, categories, version); its error is raised."""
    answers: queue.SimpleQueue[InferenceOutcome] = queue.SimpleQueue()
    client.submit(pairs, answers.put)
    outcome = answers.get(timeout=timeout_s + 5)
    if outcome.error is not None:
        raise outcome.error
    return outcome


class InferenceFailed(RetriableError):
    """A guard request that failed in a way that says nothing against its records: retried.

    ``reason`` is the gRPC status in lower case (``unavailable``, ``internal``,
    ``deadline_exceeded``…, ``no_status``): the label of the worker's retry counter.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def retry_reason(error: Exception) -> str:
    """The retry counter's label for ``error``: its status when Triton answered, else unavailable."""
    return error.reason if isinstance(error, InferenceFailed) else "unavailable"


def classify(error: InferenceServerException | None) -> RetriableError | PermanentError:
    """What the caller does about a failed request, decided by its gRPC status code alone.

    ``INVALID_ARGUMENT`` means the request is malformed: permanent, and the worker halves the part
    until the record that causes it stands alone. Every other outcome (UNAVAILABLE, INTERNAL, a
    deadline, a model being reloaded, no status at all) says nothing against the records, so it is
    retried with backoff: they are never halved and never dead-lettered for it.
    """
    status = error.status() if error is not None else None
    message = str(error) if error is not None else "no result"
    if status == REJECTED_STATUS:
        return PermanentError(f"Triton rejected the request: {message}")
    reason = status.removeprefix("StatusCode.").lower() if status else "no_status"
    return InferenceFailed(f"Triton failed ({status or 'no status'}), retrying: {message}", reason)


def _categories(result: grpcclient.InferResult) -> list[tuple[str, float] | None] | None:
    names, scores = result.as_numpy(OUTPUT_CATEGORY), result.as_numpy(OUTPUT_CATEGORY_SCORE)
    if names is None or scores is None:
        return None
    return [
        (name.decode("utf-8"), float(score)) if name else None
        for name, score in zip(names.reshape(-1), scores.reshape(-1), strict=True)
    ]


def bytes_input(name: str, texts: Sequence[str]) -> grpcclient.InferInput:
    """A BYTES tensor of shape [n, 1] holding ``texts`` as UTF-8 (the guard models' inputs)."""
    array = np.array([text.encode("utf-8") for text in texts], dtype=np.object_).reshape(-1, 1)
    tensor = grpcclient.InferInput(name, list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor
