"""Fast-guard training on a tiny BERT: both heads learn a rule the data holds, the mix weighs them
on held-out items, and what is saved scores exactly what was trained."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from guardstream.guard.fast_guard import (
    FastGuardContract,
    FastGuardScorer,
    LexicalHashing,
    PairEncoder,
    save_fast_guard,
)
from tests.unit.guard.test_fast_guard import build_tiny_encoder
from training.data.records import GuardRecord
from training.fast_guard import FastStageConfig, fit_mix, freeze_lower, new_network, train_fast_stage, train_lexical

WORDS = "你好世界问题回答谢谢天气今明很好的是吗请怎么做这个"


def records(count: int, seed: int) -> list[GuardRecord]:
    """Unsafe exactly when the text holds 不安全's first character 不 (a lexical rule)."""
    rng = random.Random(seed)
    items = []
    for index in range(count):
        text = "".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
        unsafe = index % 2 == 0
        if unsafe:
            position = rng.randint(0, len(text))
            text = text[:position] + "不" + text[position:]
        items.append(GuardRecord(f"r{seed}-{index}", "toy", "", "", text, "", "不安全" if unsafe else "安全"))
    return items


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("encoder"))


def accuracy(scores: np.ndarray, items: list[GuardRecord]) -> float:
    return float(np.mean([(score >= 0.5) == item.unsafe for score, item in zip(scores, items, strict=True)]))


def test_lexical_head_learns_the_rule_and_the_mix_leans_on_it(base: Path, tmp_path: Path) -> None:
    train, held_out = records(400, 1), records(200, 2)
    network, tokenizer = new_network(base, LexicalHashing(buckets=4096))
    freeze_lower(network, 1)
    encoder = PairEncoder(tokenizer, 32)
    train_fast_stage(
        "toy", network, encoder, train, FastStageConfig(epochs=1.0, batch_size=16, learning_rate=1e-3), seed=0
    )
    assert network.lexical is not None
    loss = train_lexical(network.lexical, train, epochs=10)
    assert loss < 0.3
    mix = fit_mix(network, encoder, held_out)
    assert mix[1] > 0.5  # the lexical logit carries the rule

    contract = FastGuardContract(max_input_tokens=32, lexical=LexicalHashing(buckets=4096))
    save_fast_guard(network, tokenizer, contract, tmp_path / "checkpoint")
    scorer = FastGuardScorer(tmp_path / "checkpoint")
    scores = scorer.score([item.pair for item in held_out])
    assert accuracy(scores, held_out) >= 0.8  # unseen n-grams around 不 carry noise; the rule still shows
    with torch.inference_mode():
        pairs = [item.pair for item in held_out[:8]]
        deep = network(**encoder.batch(pairs, torch.device("cpu")))[0]
        expected = torch.sigmoid(network.unsafe_logit(deep, pairs)).numpy()
    np.testing.assert_allclose(scorer.score(pairs), expected, atol=1e-5)


def test_frozen_layers_keep_their_pretrained_weights(base: Path) -> None:
    network, tokenizer = new_network(base)
    freeze_lower(network, 1)
    before = {name: p.detach().clone() for name, p in network.encoder.named_parameters()}
    train_fast_stage(
        "toy", network, PairEncoder(tokenizer, 32), records(64, 3), FastStageConfig(epochs=1.0, batch_size=16), seed=0
    )
    after = dict(network.encoder.named_parameters())
    changed = {name for name, value in before.items() if not torch.equal(value, after[name])}
    assert changed and all(name.startswith("encoder.layer.1.") for name in changed)


def test_freezing_every_layer_is_refused(base: Path) -> None:
    network, _ = new_network(base)
    with pytest.raises(ValueError, match="nothing would be left"):
        freeze_lower(network, 2)


def test_a_fast_guard_checkpoint_is_judged_by_its_score_through_the_policy(base: Path, tmp_path: Path) -> None:
    from guardstream.guard.fast_guard import FastGuardContract, save_fast_guard
    from training.evaluation.runner import evaluate

    network, tokenizer = new_network(base)
    save_fast_guard(network, tokenizer, FastGuardContract(max_input_tokens=32), tmp_path / "checkpoint")
    scorer = FastGuardScorer(tmp_path / "checkpoint")
    items = records(40, 4)
    scores = scorer.score([item.pair for item in items])
    threshold = float(np.median(scores))
    result = evaluate(items, None, tmp_path / "eval", scorer=scorer, unsafe=lambda p: p >= threshold)
    said = [bool(p >= threshold) for p in scores]
    assert [p.predicted_unsafe for p in result.predictions] == said
    expected = float(np.mean([s == item.unsafe for s, item in zip(said, items, strict=True)]))
    assert result.metrics["average"]["accuracy"] == pytest.approx(expected)
    # The decision is written in Libra's answer format: Libra's own reading gives the same answers.
    from guardstream.records import VerdictLabel
    from training.evaluation.libra_label import libra_label

    assert [libra_label(p.critic) for p in result.predictions] == [
        VerdictLabel.UNSAFE if s else VerdictLabel.SAFE for s in said
    ]
