"""The one error the dev stack raises: a component could not be started, and why."""

from __future__ import annotations

from guardstream.errors import GuardstreamError


class DevStackError(GuardstreamError):
    """A local component failed to start or answer; the message says what to fix or where to look."""
