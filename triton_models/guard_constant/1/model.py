"""Triton entry point of the constant guard model (benchmarks): all logic lives in guardstream.guard."""

from guardstream.guard.constant_backend import ConstantTritonModel as TritonPythonModel

__all__ = ["TritonPythonModel"]
