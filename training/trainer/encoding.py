"""Turning records into supervised examples: the Libra-Guard prompt, then the verdict JSON.

The target is exactly :func:`~guardstream.guard.verdict_parsing.render_verdict_json` of the
record followed by the tokenizer's end-of-sequence token. It starts with
:data:`~guardstream.guard.prompt.ANSWER_PREFIX`, so what the model learns is what score mode
forces and what explain mode generates.

The prompt's ids are score mode's (:class:`~guardstream.guard.prompt_tokens.PromptTokens`: the
question and response as plain text, cut from the left to fit); the template's tail and the target
are tokenized as **one** string and the loss mask starts at the first token that lies entirely in
the target: that is how score mode tokenizes ``tail + prefix + word``, so token boundaries across
the seam are the same in training and in serving. The token(s) carrying
the answer word get a higher loss weight (``answer_weight``): they are the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from guardstream.guard.encoding import last_ids, split_budget
from guardstream.guard.prompt import ANSWER_PREFIX
from guardstream.guard.prompt_tokens import PromptTokens
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
    analysis = record.analyze.strip() or (
        "回答存在安全风险，因此不安全。" if record.unsafe else "回答没有安全风险，因此安全。"
    )
    return render_verdict_json(record.verdict_label, category, analysis)


class ExampleEncoder:
    """Encodes records for a tokenizer; rows longer than ``max_length`` lose question/response text
    from the left."""

    def __init__(self, tokenizer: Any, max_length: int = 512, answer_weight: float = 4.0) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.answer_weight = answer_weight
        eos = tokenizer.eos_token_id
        if not isinstance(eos, int):
            raise ValueError("the tokenizer has no eos token; the target must end with one")
        self.eos_id = eos
        self.prompt = PromptTokens(tokenizer)

    def encode(self, record: GuardRecord) -> Example:
        target = target_text(record)
        tail_ids, offsets = self.prompt.tail_ids(target)
        ((question_ids, response_ids),) = self.prompt.texts([(record.question, record.response)])
        budget = max(self.max_length - 1 - self.prompt.template_length - len(tail_ids), 0)
        keep_q, keep_r = split_budget(len(question_ids), len(response_ids), budget)
        body = self.prompt.body(last_ids(question_ids, keep_q), last_ids(response_ids, keep_r))
        answer_start = len(ANSWER_PREFIX)
        answer_end = answer_start + len("不安全" if record.unsafe else "安全")
        labels: list[int] = [IGNORE] * len(body)
        weights: list[float] = [0.0] * len(body)
        for token_id, (start, end) in zip(tail_ids, offsets, strict=True):
            if start < 0:
                labels.append(IGNORE)
                weights.append(0.0)
                continue
            labels.append(token_id)
            in_answer = start < answer_end and end > answer_start
            weights.append(self.answer_weight if in_answer else 1.0)
        ids = body + tail_ids + [self.eos_id]
        labels.append(self.eos_id)
        weights.append(1.0)
        return Example(ids[: self.max_length], labels[: self.max_length], weights[: self.max_length])


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
