"""The SFT loss: weighted next-token cross-entropy on target positions only.

Only hidden states at positions that predict a target token go through the LM head (most of a
row is the prompt, whose logits are never needed), which is most of the saving on a small model
with a large vocabulary.

Every row of a batch begins with the same prompt tokens (the chat template and the guard's
instruction: about 80 of the embedded default's ~150 tokens a row). Under causal attention their
hidden states, keys and values are the same in every row, so they are computed once, for one row,
and the rows feed only their tails after them (:func:`shared_start`). Gradients flow through the
shared pass as through every row's own: the loss and the gradients are those of the plain forward
pass, up to the order of float sums. A batch whose targets begin inside the common prefix, or a
model with active dropout (each row would draw its own masks), takes the plain pass.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from guardstream.guard.prefix_cache import PrefixCache, cache_keyword, shared_prefix


def _parts(model: Any) -> tuple[Any, Any]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    if head is None:
        raise ValueError("the model has no LM head")
    return base.get_decoder(), head


def shared_start(model: Any, batch: dict[str, torch.Tensor]) -> int:
    """How many leading tokens every row shares and no target is read from (0: run rows in full)."""
    input_ids, lengths = batch["input_ids"], batch["attention_mask"].sum(dim=1).tolist()
    if len(lengths) < 2 or (model.training and _has_active_dropout(model)):
        return 0
    rows = [row[:length] for row, length in zip(input_ids.tolist(), lengths, strict=True)]
    start = len(shared_prefix(rows))
    # hidden[j] predicts token j + 1: no target may sit at positions 1..start.
    if start == 0 or bool((batch["labels"][:, 1 : start + 1] != -100).any()):
        return 0
    return start


def _has_active_dropout(model: Any) -> bool:
    return any(isinstance(module, torch.nn.Dropout) and module.p > 0 for module in model.modules())


def _hidden(backbone: Any, batch: dict[str, torch.Tensor], start: int) -> torch.Tensor:
    """Last hidden states of positions ``start`` onwards: the common prefix run once when ``start`` > 0."""
    input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    keyword = cache_keyword(backbone) if start else None
    if keyword is None:
        return backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, start:]
    rows, width = input_ids.shape
    output = backbone(input_ids=input_ids[:1, :start], attention_mask=attention_mask[:1, :start], use_cache=True)
    prefix = PrefixCache.from_output(input_ids[0, :start].tolist(), output, keyword)
    if prefix is None:  # sliding-window or other caches keep more than keys and values: run rows in full
        return backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, start:]
    positions = torch.arange(start, width, device=input_ids.device).expand(rows, -1)
    return backbone(
        input_ids=input_ids[:, start:],
        attention_mask=attention_mask,
        position_ids=positions,
        use_cache=True,
        **{keyword: prefix.expanded(rows)},
    ).last_hidden_state


def sft_loss(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """(weighted mean loss, number of target tokens) for one collated batch."""
    backbone, head = _parts(model)
    start = shared_start(model, batch)
    hidden = _hidden(backbone, batch, start)
    labels = batch["labels"][:, start + 1 :]
    weights = batch["weights"][:, start + 1 :]
    mask = labels != -100
    picked = hidden[:, :-1][mask]
    logits = head(picked).float()
    token_loss = F.cross_entropy(logits, labels[mask], reduction="none")
    w = weights[mask]
    return (token_loss * w).sum() / w.sum().clamp_min(1e-6), int(mask.sum())
