"""Checks that the two serving modes tell the same story."""
