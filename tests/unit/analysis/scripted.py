"""A scripted explain model for the analysis tests (Triton itself is in the integration tests)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from guardstream.errors import PermanentError, RetriableError


def verdict_json(analysis: str, answer: str = "不安全", category: str = "隐私财产") -> str:
    return json.dumps({"答案": answer, "类别": category, "分析": analysis}, ensure_ascii=False)


@dataclass
class ScriptedExplainer:
    """Answers per response text; ``reject`` texts make any request holding them fail for good."""

    answer: Callable[[str, str], str] = lambda question, response: verdict_json(f"分析：{response}")
    reject: set[str] = field(default_factory=set)
    unavailable: int = 0
    """How many requests fail as if Triton were down before it answers again."""
    requests: list[list[str]] = field(default_factory=list)
    closed: bool = False

    def explain(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        self.requests.append([response for _, response in pairs])
        if self.unavailable:
            self.unavailable -= 1
            raise RetriableError("Triton unavailable: connection refused")
        if any(response in self.reject for _, response in pairs):
            raise PermanentError("Triton rejected the request: input too long")
        return [self.answer(question, response) for question, response in pairs]

    def version(self) -> str:
        return "7"

    def close(self) -> None:
        self.closed = True
