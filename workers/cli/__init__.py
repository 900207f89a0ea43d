"""Command-line entry points of guardstream."""
