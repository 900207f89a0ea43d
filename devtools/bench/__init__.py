"""Benchmarks: the pipeline against the Triton ceiling, a naive consumer and a constant model."""
