"""The guard model contract: harm categories, the Libra-Guard prompt, score mode and its serving.

Import the submodules directly; this package imports nothing on its own so that light users
(:mod:`~guardstream.guard.categories`, :mod:`~guardstream.guard.prompt`) do not pay for torch.
"""
