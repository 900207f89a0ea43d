"""Training data: the Libra-Test record format, the synthetic generator, real-data import, splits."""
