"""A generative guard whose answers are a table, for tests of what is done with the answers."""

from __future__ import annotations

from collections.abc import Sequence


class ScriptedExplainer:
    """Answers each pair with the text its question maps to (the explain-mode protocol)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def explain(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        return [self.answers[q] for q, _ in pairs]
