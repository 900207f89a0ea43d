"""On-demand explanations: the guard model's explain mode, behind a small Protocol.

The UI shows either the model's analysis or "explanation unavailable: <reason>"; it never makes
an analysis up. The reason is one of a few plain sentences: what went wrong in detail (the model
server's address, its error, the model's raw answer) goes to the log only, never to the reviewer
or the trail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from guardstream.guard.verdict_parsing import parse_guard_output
from guardstream.settings import TritonSettings

log = logging.getLogger(__name__)


class ExplanationUnavailable(Exception):
    """The model could not explain this item; the message says why in words fit for the reviewer."""


UNREACHABLE = "the model server could not be reached"
FAILED = "the model server could not explain this item"
NO_EXPLAIN_MODE = "the model server has no explain mode"
NO_OUTPUT = "the model returned no output"
NO_ANALYSIS = "the model's answer contains no analysis"


class Explainer(Protocol):
    def explain(self, question: str, response: str) -> str:
        """The model's analysis of one (question, response) pair, or ExplanationUnavailable."""
        ...


def analysis_of(output: str) -> str:
    """The ``分析`` of the model's generated verdict JSON; unavailable when it states none."""
    analysis = parse_guard_output(output).analysis
    if analysis is None or not analysis.strip():
        log.warning("explain: the model's answer has no analysis: %r", output[:300])
        raise ExplanationUnavailable(NO_ANALYSIS)
    return analysis.strip()


class TritonExplainer:
    """Calls ``GuardModelClient.explain(pairs) -> list[str]`` (generated verdict JSON) of :mod:`workers.triton_client`."""

    def __init__(self, settings: TritonSettings, client_factory: Callable[[TritonSettings], Any] | None = None) -> None:
        self._settings = settings
        self._factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    def explain(self, question: str, response: str) -> str:
        client = self._get_client()
        method = getattr(client, "explain", None)
        if method is None:
            log.warning("explain: the guard model client has no explain method")
            raise ExplanationUnavailable(NO_EXPLAIN_MODE)
        try:
            analyses = method([(question, response)])
        except Exception as exc:  # the log says what failed; the reviewer, that it did
            log.warning("explain failed at %s: %s: %s", self._settings.grpc_url, type(exc).__name__, exc)
            raise ExplanationUnavailable(FAILED) from exc
        if not analyses or not str(analyses[0]).strip():
            raise ExplanationUnavailable(NO_OUTPUT)
        return analysis_of(str(analyses[0]))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                factory = self._factory
                if factory is None:
                    from workers.triton_client import GuardModelClient

                    factory = GuardModelClient
                try:
                    self._client = factory(self._settings)
                except Exception as exc:
                    log.warning("explain: cannot build a Triton client for %s: %s", self._settings.grpc_url, exc)
                    raise ExplanationUnavailable(UNREACHABLE) from exc
            return self._client
