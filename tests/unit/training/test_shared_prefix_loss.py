"""The SFT loss runs the rows' common prompt once: the same loss and gradients as the plain pass."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from training.config import ModelConfig
from training.data.synthetic.generator import SyntheticConfig, generate
from training.trainer import loss as sft
from training.trainer.encoding import IGNORE, ExampleEncoder, collate


@pytest.fixture(scope="module")
def prepared() -> Any:
    from training.trainer.model_setup import prepare_model

    torch.manual_seed(0)
    return prepare_model(ModelConfig(threads=0))


def batch_of(prepared: Any, count: int = 6) -> dict[str, torch.Tensor]:
    encoder = ExampleEncoder(prepared.tokenizer, 512, answer_weight=4.0)
    records = generate(SyntheticConfig(count=count, seed=5))
    return collate([encoder.encode(r) for r in records], prepared.tokenizer.pad_token_id)


def loss_and_gradients(model: Any, batch: dict[str, torch.Tensor]) -> tuple[float, int, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss, targets = sft.sft_loss(model, batch)
    loss.backward()
    return loss.item(), targets, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_the_shared_prompt_pass_gives_the_plain_loss_and_gradients(
    prepared: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, batch = prepared.model, batch_of(prepared)
    model.train()
    assert sft.shared_start(model, batch) > 20, "the rows share the guard's instruction"
    shared = loss_and_gradients(model, batch)
    monkeypatch.setattr(sft, "shared_start", lambda model, batch: 0)
    plain = loss_and_gradients(model, batch)
    assert shared[0] == pytest.approx(plain[0], abs=1e-5) and shared[1] == plain[1]
    assert shared[2].keys() == plain[2].keys()
    for name, gradient in plain[2].items():
        assert torch.allclose(shared[2][name], gradient, atol=1e-5), name


def test_a_target_inside_the_common_prefix_or_active_dropout_takes_the_plain_pass(prepared: Any) -> None:
    model, batch = prepared.model, batch_of(prepared)
    model.train()
    start = sft.shared_start(model, batch)
    early = {**batch, "labels": batch["labels"].clone()}
    early["labels"][0, start] = batch["input_ids"][0, start]
    assert sft.shared_start(model, early) == 0
    assert int((batch["labels"][:, : start + 1] != IGNORE).sum()) == 0
    dropout = torch.nn.Dropout(0.1)
    model.add_module("probe_dropout", dropout)
    try:
        assert sft.shared_start(model, batch) == 0
        model.eval()
        assert sft.shared_start(model, batch) == start
    finally:
        del model.probe_dropout
