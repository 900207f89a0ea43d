"""The codes a guard model answers a failed request with: clients decide by code, never by text.

* ``INVALID_ARG`` — the request itself is malformed; retrying it cannot help, so a client halves
  the batch to find the record that causes it.
* ``UNAVAILABLE`` — the model ran out of memory (a GPU shared with other work, an oversized batch);
  it may well succeed later.
* ``INTERNAL`` — any other model failure; nothing says the input caused it, so it is retried too.

Triton's gRPC frontend turns these into ``INVALID_ARGUMENT``, ``UNAVAILABLE`` and ``INTERNAL``.
``pb_utils`` is ``triton_python_backend_utils``, which exists only inside the Triton stub.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def bad_request(pb_utils: ModuleType, reason: str) -> Any:
    """The error for a request the model cannot read (a missing tensor, a wrong shape)."""
    return pb_utils.TritonError(reason, pb_utils.TritonError.INVALID_ARG)


def model_failure(pb_utils: ModuleType, exc: Exception) -> Any:
    """The error for a batch the model failed to run: UNAVAILABLE when out of memory, else INTERNAL."""
    import torch

    out_of_memory = isinstance(exc, MemoryError | torch.OutOfMemoryError)
    code = pb_utils.TritonError.UNAVAILABLE if out_of_memory else pb_utils.TritonError.INTERNAL
    return pb_utils.TritonError(f"guard model failed: {exc}", code)
