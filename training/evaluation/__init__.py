"""Evaluation with Libra-Test's protocol, plus per-category results, calibration and a report."""
