"""Dev tooling: the local stack, benchmarks, the chaos suite, load generation, the demo job and fidelity checks.

The services in ``workers`` never import this package; its commands join the ``guardstream`` command line
as ``guardstream.commands`` entry points (pyproject.toml).
"""
