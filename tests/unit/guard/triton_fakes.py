"""An in-memory stand-in for triton_python_backend_utils, which exists only inside the Triton stub."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np


@dataclass
class FakeTensor:
    name: str
    array: np.ndarray

    def as_numpy(self) -> np.ndarray:
        return self.array


@dataclass
class FakeError:
    """pb_utils.TritonError: a message and a code (its codes are class attributes, as in the stub)."""

    message: str
    code: str = "INTERNAL"
    INVALID_ARG: ClassVar[str] = "INVALID_ARG"
    UNAVAILABLE: ClassVar[str] = "UNAVAILABLE"
    INTERNAL: ClassVar[str] = "INTERNAL"


@dataclass
class FakeResponse:
    output_tensors: list[FakeTensor]
    error: FakeError | None = None


@dataclass
class FakeRequest:
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    correlation: int | str = 0
    """The sequence id a client sent (0: none), as ``InferenceRequest.correlation_id()`` returns it."""

    def correlation_id(self) -> int | str:
        return self.correlation


def fake_pb_utils() -> types.ModuleType:
    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = FakeTensor  # type: ignore[attr-defined]
    module.TritonError = FakeError  # type: ignore[attr-defined]
    module.InferenceResponse = FakeResponse  # type: ignore[attr-defined]

    def get_input_tensor_by_name(request: FakeRequest, name: str) -> FakeTensor | None:
        array = request.inputs.get(name)
        return None if array is None else FakeTensor(name, array)

    module.get_input_tensor_by_name = get_input_tensor_by_name  # type: ignore[attr-defined]
    numpy_types = {"TYPE_FP32": np.float32, "TYPE_STRING": np.object_, "TYPE_BOOL": np.bool_, "TYPE_INT64": np.int64}
    module.triton_string_to_numpy = numpy_types.__getitem__  # type: ignore[attr-defined]
    return module
