"""Moderating LLM replies while they stream: the records, each stream's progress and the decisions."""
