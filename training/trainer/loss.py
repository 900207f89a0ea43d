"""The SFT loss: weighted next-token cross-entropy on target positions only.

Only hidden states at positions that predict a target token go through the LM head (most of a
row is the prompt, whose logits are never needed), which is most of the saving on a small model
with a large vocabulary.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def _parts(model: Any) -> tuple[Any, Any]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    if head is None:
        raise ValueError("the model has no LM head")
    return base.get_decoder(), head


def sft_loss(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """(weighted mean loss, number of target tokens) for one collated batch."""
    backbone, head = _parts(model)
    hidden = backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    labels = batch["labels"][:, 1:]
    weights = batch["weights"][:, 1:]
    mask = labels != -100
    picked = hidden[:, :-1][mask]
    logits = head(picked).float()
    token_loss = F.cross_entropy(logits, labels[mask], reduction="none")
    w = weights[mask]
    return (token_loss * w).sum() / w.sum().clamp_min(1e-6), int(mask.sum())
