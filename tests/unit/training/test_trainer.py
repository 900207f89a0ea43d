"""Trainer smoke tests (TRL style): a few steps log a loss, change the weights, export a model
that loads and answers; resuming gives the same weights; LoRA trains only its adapter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from guardstream.guard.prompt import ANSWER_PREFIX
from training.config import ModelConfig, StageConfig
from training.data.synthetic.generator import SyntheticConfig, generate
from training.trainer.encoding import IGNORE, ExampleEncoder, target_text
from training.trainer.loop import StepInfo, train_stage
from training.trainer.model_setup import export_model, prepare_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Recorder:
    def __init__(self, fail_at: int | None = None) -> None:
        self.steps: list[StepInfo] = []
        self.fail_at = fail_at

    def on_start(self, stage: str, total_steps: int, first_step: int) -> None:
        self.first = first_step

    def on_step(self, info: StepInfo) -> None:
        if self.fail_at is not None and info.step == self.fail_at:
            raise KeyboardInterrupt("interrupted")
        self.steps.append(info)

    def on_end(self, stage: str) -> None:
        pass


@pytest.fixture(scope="module")
def records() -> list[Any]:
    return generate(SyntheticConfig(count=48, seed=11))


def scratch() -> Any:
    torch.manual_seed(0)
    return prepare_model(ModelConfig(threads=0))


def stage(steps: int, every: int = 0) -> StageConfig:
    return StageConfig(steps=steps, batch_size=4, learning_rate=3e-3, warmup_steps=1, checkpoint_every=every)


def test_target_is_the_verdict_json_and_only_it_carries_loss(records: list[Any]) -> None:
    prepared = scratch()
    encoder = ExampleEncoder(prepared.tokenizer, 512, answer_weight=4.0)
    record = next(r for r in records if r.unsafe)
    example = encoder.encode(record)
    supervised = [t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE]
    text = prepared.tokenizer.decode(supervised[:-1])
    assert text == target_text(record) and text.startswith(ANSWER_PREFIX)
    assert supervised[-1] == prepared.tokenizer.eos_token_id
    assert max(example.weights) == 4.0 and sum(w == 4.0 for w in example.weights) >= 1


def test_a_few_steps_log_a_loss_change_weights_and_export_a_model_that_answers(
    records: list[Any], tmp_path: Path
) -> None:
    from guardstream.guard.explaining import GuardExplainer
    from guardstream.guard.scoring import GuardScorer

    prepared = scratch()
    before = {k: v.clone() for k, v in prepared.model.state_dict().items()}
    examples = [ExampleEncoder(prepared.tokenizer).encode(r) for r in records]
    recorder = Recorder()
    result = train_stage(
        "stage1",
        prepared.model,
        examples,
        stage(4),
        pad_id=prepared.tokenizer.pad_token_id,
        seed=0,
        device=prepared.device,
        state_dir=tmp_path / "state",
        observer=recorder,
    )
    assert [s.step for s in recorder.steps] == [1, 2, 3, 4]
    assert all(s.loss > 0 and s.tokens_per_second > 0 for s in recorder.steps)
    assert len(result.losses) == 4 and (tmp_path / "state" / "log.jsonl").read_text().count("\n") == 4
    after = prepared.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    out = export_model(prepared, tmp_path / "export")
    texts = GuardExplainer(out, max_new_tokens=8).explain([records[0].pair, records[1].pair])
    assert len(texts) == 2 and all(t.startswith(ANSWER_PREFIX) and len(t) > len(ANSWER_PREFIX) for t in texts)
    scores = GuardScorer(out).score([records[0].pair])
    assert 0.0 <= float(scores[0]) <= 1.0


def test_an_interrupted_stage_resumes_to_the_same_weights(records: list[Any], tmp_path: Path) -> None:
    encoder_model = scratch()
    examples = [ExampleEncoder(encoder_model.tokenizer).encode(r) for r in records]
    pad = encoder_model.tokenizer.pad_token_id
    straight = scratch()
    train_stage("s", straight.model, examples, stage(4), pad_id=pad, seed=1, device=straight.device)

    resumed = scratch()
    with pytest.raises(KeyboardInterrupt):
        train_stage(
            "s",
            resumed.model,
            examples,
            stage(4, every=2),
            pad_id=pad,
            seed=1,
            device=resumed.device,
            state_dir=tmp_path,
            observer=Recorder(fail_at=3),
        )
    fresh = scratch()  # a new process: weights from scratch, state from disk
    recorder = Recorder()
    result = train_stage(
        "s",
        fresh.model,
        examples,
        stage(4, every=2),
        pad_id=pad,
        seed=1,
        device=fresh.device,
        state_dir=tmp_path,
        observer=recorder,
    )
    assert result.resumed_from == 2 and [s.step for s in recorder.steps] == [3, 4]
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), fresh.model.state_dict().items(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_lora_trains_an_adapter_that_loads_merged(records: list[Any], tmp_path: Path) -> None:
    from guardstream.guard.checkpoint import load_checkpoint

    base = export_model(scratch(), tmp_path / "base")
    prepared = prepare_model(ModelConfig(base=str(base), method="lora", lora_r=4, lora_alpha=8, threads=0))
    assert prepared.method == "lora" and prepared.trainable < prepared.parameters / 5
    examples = [ExampleEncoder(prepared.tokenizer).encode(r) for r in records]
    frozen = {n: p.clone() for n, p in prepared.model.named_parameters() if not p.requires_grad}
    train_stage(
        "lora",
        prepared.model,
        examples,
        stage(2),
        pad_id=prepared.tokenizer.pad_token_id,
        seed=0,
        device=prepared.device,
    )
    assert all(torch.equal(frozen[n], p) for n, p in prepared.model.named_parameters() if n in frozen)
    out = export_model(prepared, tmp_path / "adapter")
    assert (out / "adapter_config.json").is_file() and not (out / "config.json").exists()
    loaded = load_checkpoint(out)
    assert loaded.model.config.hidden_size == 128
