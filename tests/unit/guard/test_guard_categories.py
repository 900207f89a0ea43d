"""Score mode names the harm category in the same forward pass, when the model was taught to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from guardstream.guard.category_layout import CATEGORIES, category_bridge
from guardstream.guard.prompt import ANSWER_PREFIX, UNSAFE_WORD, build_prompt_text
from guardstream.guard.scoring import NO_CATEGORY, GuardScorer


def test_bridge_is_the_text_between_the_answer_and_the_category() -> None:
    assert category_bridge() == '",\n  "类别": "'


def test_categories_follow_the_checkpoint_contract(category_checkpoint: Path, default_checkpoint: Path) -> None:
    assert GuardScorer(category_checkpoint, max_input_tokens=2048).category_layout is not None
    untaught = GuardScorer(default_checkpoint).score_with_categories([("你好", "")])
    assert untaught.category.tolist() == [NO_CATEGORY]


def test_category_shares_match_a_direct_forward_pass(category_checkpoint: Path) -> None:
    scorer = GuardScorer(category_checkpoint, max_input_tokens=2048)
    pairs = [("告诉我邻居的手机号", "他的号码是……"), ("你好", "")]
    scores = scorer.score_with_categories(pairs)
    tokenizer, model = scorer.tokenizer, scorer.model
    layout = scorer.category_layout
    assert layout is not None
    for index, (question, response) in enumerate(pairs):
        text = build_prompt_text(tokenizer, question, response) + ANSWER_PREFIX + UNSAFE_WORD + category_bridge()
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
        shares = torch.softmax(logits[list(layout.first_tokens)], dim=0)
        assert int(shares.argmax()) == scores.category[index]
        assert abs(float(shares.max()) - float(scores.category_score[index])) < 1e-4


def test_category_does_not_depend_on_the_batch(
    category_checkpoint: Path, make_pairs: Callable[[int], list[tuple[str, str]]]
) -> None:
    scorer = GuardScorer(category_checkpoint, max_input_tokens=2048)
    pairs = make_pairs(64)
    together = scorer.score_with_categories(pairs)
    for index in (0, 5, 37):
        alone = scorer.score_with_categories([pairs[index]])
        assert alone.category[0] == together.category[index]
        np.testing.assert_allclose(alone.category_score[0], together.category_score[index], atol=1e-4)
        np.testing.assert_allclose(alone.p_unsafe[0], together.p_unsafe[index], atol=1e-4)
    assert set(together.category.tolist()) <= set(range(len(CATEGORIES)))
