"""Triton entry point of the fast guard, version 1: all logic lives in guardstream.guard."""

from guardstream.guard.triton_backend import TritonPythonModel

__all__ = ["TritonPythonModel"]
