"""Supervised fine-tuning of a causal LM to write the guard's verdict JSON."""
