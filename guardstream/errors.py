"""One exception root for guardstream, split by what the caller should do about it.

* :class:`RetriableError` — a dependency (broker, Triton, database) is unavailable or slow:
  pause, back off, retry; never skip the work. :class:`DependencyUnavailableError` also names
  the dependency, so that a health report can say which one is down.
* :class:`PermanentError` — this input can never succeed; :class:`PoisonInputError` carries the
  reason that goes with it to the dead-letter topic.
* :class:`ConfigurationError` — a setting or a served contract is wrong; fail at start-up with a
  message that says what to fix.
"""

from __future__ import annotations


class GuardstreamError(Exception):
    """Root of every error guardstream raises on purpose."""


class RetriableError(GuardstreamError):
    """A dependency failed in a way that may succeed later; retry with backoff."""


class DependencyUnavailableError(RetriableError):
    """A named dependency failed in a way that may succeed later.

    ``dependency`` is the name health reports use: ``kafka``, ``audit`` (the audit store) or ``triton``.
    """

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(message)
        self.dependency = dependency


class PermanentError(GuardstreamError):
    """Retrying cannot help."""


class PoisonInputError(PermanentError):
    """An input record that can never be processed; it goes to the dead-letter topic.

    ``kind`` is a short machine-readable category (``malformed_avro``, ``unknown_schema``,
    ``invalid_utf8``, ``empty_text`` …); the message is the human-readable reason.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class ConfigurationError(GuardstreamError):
    """A setting or a served contract is wrong; the message names what to fix."""
