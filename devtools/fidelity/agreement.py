"""Score mode against explain mode on the same items, through Triton: labels must agree.

Score mode's label is the more probable of the two answer words (p_unsafe ≥ 0.5); explain mode's
is what its generated JSON says (unparseable output counts as disagreement). ``score_eps`` and
``explain_eps`` are items per second of each mode, measured in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from guardstream.guard.verdict_parsing import parse_guard_output
from guardstream.records import VerdictLabel
from workers.triton_client import GuardModelClient


@dataclass(frozen=True, slots=True)
class AgreementReport:
    n: int
    agree: float
    score_eps: float
    explain_eps: float
    unparseable: int
    disagreements: list[tuple[str, str, float, str]]

    def line(self) -> str:
        return (
            f"AGREEMENT n={self.n} agree={self.agree:.4f} "
            f"score_eps={self.score_eps:.1f} explain_eps={self.explain_eps:.1f}"
        )


def measure_agreement(
    client: GuardModelClient,
    pairs: Sequence[tuple[str, str]],
    batch_size: int,
    progress: Callable[[int], None] = lambda _done: None,
) -> AgreementReport:
    chunks = [list(pairs[i : i + batch_size]) for i in range(0, len(pairs), batch_size)]
    started = time.perf_counter()
    scores = [float(p) for chunk in chunks for p in client.score(chunk)]
    score_s = time.perf_counter() - started
    started = time.perf_counter()
    texts: list[str] = []
    for chunk in chunks:
        texts.extend(client.explain(chunk))
        progress(len(texts))
    explain_s = time.perf_counter() - started
    agree, unparseable, disagreements = 0, 0, []
    for (question, response), p_unsafe, text in zip(pairs, scores, texts, strict=True):
        score_label = VerdictLabel.UNSAFE if p_unsafe >= 0.5 else VerdictLabel.SAFE
        parsed = parse_guard_output(text)
        unparseable += not parsed.parsed
        if parsed.label is score_label:
            agree += 1
        else:
            disagreements.append((question, response, p_unsafe, text))
    n = len(pairs)
    return AgreementReport(
        n=n,
        agree=agree / n if n else 0.0,
        score_eps=n / score_s if score_s else 0.0,
        explain_eps=n / explain_s if explain_s else 0.0,
        unparseable=unparseable,
        disagreements=disagreements,
    )
