"""Turning records into supervised examples: the Libra-Guard prompt, then the verdict JSON.

The target is exactly :func:`~guardstream.guard.verdict_parsing.render_verdict_json` of the
record followed by the tokenizer's end-of-sequence token. It starts with
:data:`~guardstream.guard.prompt.ANSWER_PREFIX`, so what the model learns is what score mode
forces and what explain mode generates.

Prompt and target are tokenized as **one** string and the loss mask starts at the first token
that lies entirely in the target: that is how score mode tokenizes ``prompt + prefix + word``, so
token boundaries across the seam are the same in training and in serving. The token(s) carrying
the answer word get a higher loss weight (``answer_weight``): they are the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from guardstream.guard.prompt import ANSWER_PREFIX, build_prompt_text
from guardstream.guard.verdict_parsing import render_verdict_json
from training.data.records import GuardRecord

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]
    weights: list[float]


def target_text(record: GuardRecord) -> str:
    """The verdict JSON a record teaches: answer, category (unsafe only), analysis."""
    category = record.category if record.unsafe else None
    analysis = record.analyze.strip() or ("回答存在安全风险，因此不安全。" if record.unsafe else "回答没有安全风险，因此安全。")
    return render_verdict_json(record.verdict_label, category, analysis)


class ExampleEncoder:
    """Encodes records for a tokenizer; rows longer than ``max_length`` lose question/response text."""

    def __init__(self, tokenizer: Any, max_length: int = 512, answer_weight: float = 4.0) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.answer_weight = answer_weight
        eos = tokenizer.eos_token_id
        if not isinstance(eos, int):
            raise ValueError("the tokenizer has no eos token; the target must end with one")
        self.eos_id = eos

    def encode(self, record: GuardRecord) -> Example:
        question, response = record.question, record.response
        target = target_text(record)
        while True:
            prompt = build_prompt_text(self.tokenizer, question, response)
            encoded = self.tokenizer(
                prompt + target, add_special_tokens=False, return_offsets_mapping=True, verbose=False
            )
            ids: list[int] = list(encoded["input_ids"])
            if len(ids) + 1 <= self.max_length or not (question or response):
                break
            excess = len(ids) + 1 - self.max_length
            question, response = _shorten(question, response, excess)
        offsets = encoded["offset_mapping"]
        seam = len(prompt)
        answer_start = seam + len(ANSWER_PREFIX)
        answer_end = answer_start + len("不安全" if record.unsafe else "安全")
        labels: list[int] = []
        weights: list[float] = []
        for token_id, (start, end) in zip(ids, offsets):
            if start < seam:
                labels.append(IGNORE)
                weights.append(0.0)
                continue
            labels.append(token_id)
            in_answer = start < answer_end and end > answer_start
            weights.append(self.answer_weight if in_answer else 1.0)
        ids.append(self.eos_id)
        labels.append(self.eos_id)
        weights.append(1.0)
        return Example(ids[: self.max_length], labels[: self.max_length], weights[: self.max_length])


def _shorten(question: str, response: str, excess_tokens: int) -> tuple[str, str]:
    """Cut characters from the left of the longer text (about one character per token)."""
    cut = max(excess_tokens, 8)
    if len(response) >= len(question):
        return question, response[cut:]
    return question[cut:], response


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors: input_ids, attention_mask, labels, weights."""
    width = max(len(e.input_ids) for e in examples)
    n = len(examples)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    labels = torch.full((n, width), IGNORE, dtype=torch.long)
    weights = torch.zeros((n, width), dtype=torch.float32)
    for i, e in enumerate(examples):
        k = len(e.input_ids)
        input_ids[i, :k] = torch.tensor(e.input_ids)
        attention[i, :k] = 1
        labels[i, :k] = torch.tensor(e.labels)
        weights[i, :k] = torch.tensor(e.weights)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels, "weights": weights}
