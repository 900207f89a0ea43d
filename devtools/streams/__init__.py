"""Streamed LLM replies for the stream worker's benchmark, tests and demo: generated, produced, read back."""
