"""On-demand explanations: the guard model's explain mode, behind a small Protocol.

The UI shows either the model's analysis or "explanation unavailable: <reason>"; it never makes
an analysis up.
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
    """The model could not explain this item; the message says why, for the reviewer."""


class Explainer(Protocol):
    def explain(self, question: str, response: str) -> str:
        """The model's analysis of one (question, response) pair, or ExplanationUnavailable."""
        ...


def analysis_of(output: str) -> str:
    """The ``分析`` of the model's generated verdict JSON; unavailable when it states none."""
    analysis = parse_guard_output(output).analysis
    if analysis is None or not analysis.strip():
        raise ExplanationUnavailable(f"the model's answer contains no analysis (it wrote: {output[:300]!r})")
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
            raise ExplanationUnavailable(
                "the guard model client has no explain mode yet (GuardModelClient.explain is not built)"
            )
        try:
            analyses = method([(question, response)])
        except Exception as exc:  # the reviewer sees the reason; nothing is made up
            log.warning("explain failed at %s: %s", self._settings.grpc_url, exc)
            raise ExplanationUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not analyses or not str(analyses[0]).strip():
            raise ExplanationUnavailable("the model returned no output")
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
                    raise ExplanationUnavailable(f"cannot reach Triton at {self._settings.grpc_url}: {exc}") from exc
            return self._client
