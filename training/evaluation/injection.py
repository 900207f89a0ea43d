"""Injection robustness: how often an attack added to the response flips the verdict.

Each item is judged as it is and with one attack added to the text under judgement: its response,
or the message itself when the item is a single message (no response). Among items judged unsafe,
``flip_unsafe_to_safe`` is the share judged safe once attacked; among items judged safe,
``flip_safe_to_unsafe`` the share judged unsafe. Attacks come from a file (JSONL of strings or of
objects with ``text``, or plain text, one attack a line; appended in turn) or from the synthetic
generator's held-out family (``builtin``: each item gets an attack asking for the opposite of its
verdict, appended or embedded, with held-out frames and its own seed).
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.synthetic.injection import added_to_judged_text, attack_text, inject

BUILTIN = "builtin"
BUILTIN_SEED = 4242


@dataclass(frozen=True)
class InjectionResult:
    n: int
    flip_unsafe_to_safe: float
    flip_safe_to_unsafe: float

    def line(self) -> str:
        return f"INJECTION n={self.n} flip_unsafe_to_safe={self.flip_unsafe_to_safe:.4f} flip_safe_to_unsafe={self.flip_safe_to_unsafe:.4f}"


def flip_rates(before: Sequence[bool], after: Sequence[bool]) -> InjectionResult:
    """Flip shares from verdicts (True: unsafe) without and with the attack; 0.0 for an empty side."""
    unsafe = [a for b, a in zip(before, after, strict=True) if b]
    safe = [a for b, a in zip(before, after, strict=True) if not b]
    return InjectionResult(
        len(before),
        sum(not a for a in unsafe) / len(unsafe) if unsafe else 0.0,
        sum(safe) / len(safe) if safe else 0.0,
    )


def read_attacks(path: Path) -> list[str]:
    """Attack strings from a JSONL file (strings or objects with ``text``) or a text file."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".jsonl":
        values = [json.loads(line) for line in lines]
        return [str(v["text"] if isinstance(v, dict) else v) for v in values]
    return lines


def measure_injection(
    pairs: Sequence[tuple[str, str]],
    score: Callable[[Sequence[tuple[str, str]]], Any],
    unsafe: Callable[[float], bool],
    attacks: Sequence[str] | str,
    *,
    batch_size: int = 32,
) -> InjectionResult:
    """Judge every pair with and without an attack in its response (``attacks``: strings or ``builtin``)."""
    before = [
        unsafe(float(s)) for start in range(0, len(pairs), batch_size) for s in score(pairs[start : start + batch_size])
    ]
    rng = random.Random(BUILTIN_SEED)
    attacked: list[tuple[str, str]] = []
    for i, ((question, response), judged_unsafe) in enumerate(zip(pairs, before, strict=True)):
        if attacks == BUILTIN:
            attack = attack_text(rng, "heldout", wants_unsafe=not judged_unsafe)
            attacked.append(added_to_judged_text(question, response, functools.partial(inject, attack=attack, rng=rng)))
        else:
            attacked.append(
                added_to_judged_text(question, response, functools.partial(_appended, suffix=attacks[i % len(attacks)]))
            )
    after = [
        unsafe(float(s))
        for start in range(0, len(attacked), batch_size)
        for s in score(attacked[start : start + batch_size])
    ]
    return flip_rates(before, after)


def _appended(text: str, suffix: str) -> str:
    return text + suffix
