"""Triton entry point of the fast guard's stream model, version 1: all logic lives in guardstream.guard."""

from guardstream.guard.stream_backend import TritonPythonModel

__all__ = ["TritonPythonModel"]
