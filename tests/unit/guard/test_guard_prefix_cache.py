"""Score mode with the shared-prefix KV cache and length groups equals a plain forward pass per prompt.

The reference here runs each pair alone, unpadded, through the model's full forward pass over its
whole prompt (no cache, no batch); the scorer must agree with it within 1e-4 on inputs chosen to
stress the cache: texts whose first characters could merge with the prefix's last token, special
token text, empty texts, mixed scripts, over-long texts that are cut, and models whose cache is
not plain (sliding window) or that come as a LoRA adapter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from guardstream.guard.checkpoint import load_tokenizer
from guardstream.guard.prefix_cache import PrefixCache, plan_groups, shared_prefix
from guardstream.guard.scoring import NO_CATEGORY, GuardScorer, Scores
from tests.unit.guard.conftest import build_byte_checkpoint

MakePairs = Callable[[int], list[tuple[str, str]]]

BOUNDARY_PAIRS: list[tuple[str, str]] = [
    ("", ""),
    (" ", ""),
    ("\n", "\n"),
    ("：你好", "：好"),
    (":colon first", "ok"),
    ("'s apostrophe", "'ll"),
    ("!!!", "???"),
    ("\u3000全角空格开头", "\u3000"),
    ("😀😀 emoji", "😀"),
    ("\ufffd replacement", "\ufffd"),
    ("<|im_end|>", "<|im_start|>assistant"),
    ("<|endoftext|>hi", ""),
    ("人类的问题：重复模板", "大语言模型的回答：重复"),
    ("123456", "7890"),
    ("Zoo at the start", "Zebra"),
    ("混合 mixed 文本 русский 한국어 العربية", "ok 好的 да"),
    ("长" * 3000, "回答" * 2000),
    ("a" * 5, "b" * 900),
    ("告诉我邻居的手机号", "他的号码是……"),
]


def _limit(path: Path) -> int:
    return 512 if "default" in str(path) else 1400


def reference_scores(scorer: GuardScorer, pairs: list[tuple[str, str]]) -> Scores:
    """Each pair alone through ``scorer.model``'s plain forward pass over its whole prompt."""
    layout, categories = scorer.layout, scorer.category_layout
    p_unsafe, category, share = [], [], []
    with torch.inference_mode():
        for pair in pairs:
            (context,) = scorer.encoder.contexts([pair])

            def word_log_probability(word: tuple[int, ...], context: list[int] = context) -> float:
                ids = torch.tensor([context + list(word[:-1])], device=scorer.device)
                logits = scorer.model(input_ids=ids).logits[0].double()
                steps = torch.log_softmax(logits[len(context) - 1 :], dim=-1)
                return float(sum(steps[j, token] for j, token in enumerate(word)))

            lp_unsafe, lp_safe = word_log_probability(layout.unsafe), word_log_probability(layout.safe)
            p_unsafe.append(1.0 / (1.0 + np.exp(lp_safe - lp_unsafe)))
            if categories is None:
                category.append(NO_CATEGORY)
                share.append(0.0)
                continue
            ids = torch.tensor([context + list(categories.inputs)], device=scorer.device)
            logits = scorer.model(input_ids=ids).logits[0, -1].double()
            shares = torch.softmax(logits[list(categories.first_tokens)], dim=0)
            category.append(int(shares.argmax()))
            share.append(float(shares.max()))
    return Scores(np.array(p_unsafe, np.float32), np.array(category, np.int64), np.array(share, np.float32))


SCORE_ATOL = 1e-4
"""How far a cached score may lie from the plain forward pass's."""


def assert_scores_close(actual: Scores, expected: Scores, atol: float = SCORE_ATOL) -> None:
    np.testing.assert_allclose(actual.p_unsafe, expected.p_unsafe, atol=atol)
    np.testing.assert_array_equal(actual.category, expected.category)
    np.testing.assert_allclose(actual.category_score, expected.category_score, atol=atol)


def _pairs(make_pairs: MakePairs) -> list[tuple[str, str]]:
    return BOUNDARY_PAIRS + make_pairs(13)


@pytest.fixture(scope="module")
def merge_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bytes plus the token ``：Z``: a question starting with Z merges with the prefix's last character."""
    return build_byte_checkpoint(tmp_path_factory.mktemp("merge") / "checkpoint", ["：Z"])


@pytest.fixture(scope="module")
def sliding_checkpoint(tmp_path_factory: pytest.TempPathFactory, byte_checkpoint: Path) -> Path:
    """The byte model with a sliding-window attention layer: its cache is not a plain key/value store."""
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("sliding") / "checkpoint"
    model = AutoModelForCausalLM.from_pretrained(byte_checkpoint, local_files_only=True)
    model.config.use_sliding_window = True
    model.config.sliding_window = 256
    model.config.max_window_layers = 1
    model.config.layer_types = ["full_attention", "sliding_attention"]
    model.save_pretrained(out)
    load_tokenizer(byte_checkpoint).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def llama_checkpoint(tmp_path_factory: pytest.TempPathFactory, byte_checkpoint: Path) -> Path:
    """Another architecture (Llama) on the byte tokenizer: the cache works for any HF causal LM."""
    from transformers import LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("llama") / "checkpoint"
    tokenizer = load_tokenizer(byte_checkpoint)
    torch.manual_seed(3)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def lora_checkpoint(tmp_path_factory: pytest.TempPathFactory, category_checkpoint: Path) -> Path:
    """A LoRA adapter (random, non-zero) over the category model, its base referred to by path."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("lora") / "adapter"
    base = AutoModelForCausalLM.from_pretrained(category_checkpoint, local_files_only=True)
    torch.manual_seed(5)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(out)
    adapter_config = out / "adapter_config.json"
    settings = json.loads(adapter_config.read_text(encoding="utf-8"))
    settings["base_model_name_or_path"] = str(category_checkpoint)
    adapter_config.write_text(json.dumps(settings), encoding="utf-8")
    (out / "guard_contract.json").write_text('{"names_categories": true}\n', encoding="utf-8")
    return out


@pytest.mark.parametrize(
    "fixture", ["default_checkpoint", "byte_checkpoint", "split_checkpoint", "category_checkpoint", "llama_checkpoint"]
)
def test_cached_scores_equal_a_plain_forward_pass_over_each_whole_prompt(
    fixture: str, request: pytest.FixtureRequest, make_pairs: MakePairs
) -> None:
    path = request.getfixturevalue(fixture)
    scorer = GuardScorer(path, max_input_tokens=_limit(path))
    assert scorer.runner.prefix is not None and len(scorer.runner.prefix.ids) > 20
    pairs = _pairs(make_pairs)
    assert_scores_close(scorer.score_with_categories(pairs), reference_scores(scorer, pairs))
    assert scorer.runner.cached_rows >= len(pairs) and scorer.runner.full_rows == 0


def test_a_wrong_prefix_cache_changes_the_scores(default_checkpoint: Path, make_pairs: MakePairs) -> None:
    """The comparison above can fail: a cache of another prefix, or values out of place, moves the scores
    several times further than it allows (the untrained model moves them little: about 1e-3)."""
    scorer = GuardScorer(default_checkpoint)
    pairs = _pairs(make_pairs)
    expected = reference_scores(scorer, pairs).p_unsafe
    prefix = scorer.runner.prefix
    assert prefix is not None
    right = prefix.layers
    other = PrefixCache.build(scorer.model.get_decoder(), prefix.ids[:-1] + prefix.ids[:1], scorer.device)
    assert other is not None
    prefix.layers = other.layers  # the last prefix token's keys and values belong to another token
    assert np.abs(scorer.score(pairs) - expected).max() > 5 * SCORE_ATOL
    prefix.layers = [(keys, values.roll(1, dims=-2)) for keys, values in right]
    assert np.abs(scorer.score(pairs) - expected).max() > 5 * SCORE_ATOL
    prefix.layers = right
    assert np.abs(scorer.score(pairs) - expected).max() < SCORE_ATOL


def test_user_text_that_would_merge_with_the_template_is_encoded_on_its_own_so_every_row_uses_the_cache(
    merge_checkpoint: Path, make_pairs: MakePairs
) -> None:
    """In this tokenizer a question starting with Z merges with the template's last token when the
    prompt is tokenized whole; user text is encoded as plain text on its own, so it never does."""
    scorer = GuardScorer(merge_checkpoint, max_input_tokens=1400)
    pairs = [("Zoo at the start", ""), ("Z", "Z"), ("Zebra 斑马", "ok"), *_pairs(make_pairs)]
    scores = scorer.score_with_categories(pairs)
    rows_per_pair = 1 + scorer.layout.needs_extra_row
    assert scorer.runner.full_rows == 0 and scorer.runner.cached_rows == len(pairs) * rows_per_pair
    assert_scores_close(scores, reference_scores(scorer, pairs))


def test_a_row_that_does_not_begin_with_the_prefix_runs_in_full(default_checkpoint: Path) -> None:
    scorer = GuardScorer(default_checkpoint)
    prefix = scorer.runner.prefix
    assert prefix is not None
    (context,) = scorer.encoder.contexts([("问题", "回答")])
    row = [prefix.ids[1], *context[1:]]  # the first token changed: the cache does not hold this row's start
    last = np.array([len(row) - 1])
    with torch.inference_mode():
        hidden = scorer.runner.hidden_at([row], np.array([0]), last)
        plain = scorer.model.get_decoder()(input_ids=torch.tensor([row], device=scorer.device)).last_hidden_state[0, -1]
    assert scorer.runner.full_rows == 1 and scorer.runner.cached_rows == 0
    assert torch.allclose(hidden[0].float(), plain.float(), atol=1e-4)


def test_a_sliding_window_model_is_served_without_the_cache(sliding_checkpoint: Path, make_pairs: MakePairs) -> None:
    scorer = GuardScorer(sliding_checkpoint, max_input_tokens=1400)
    assert scorer.runner.prefix is None
    pairs = _pairs(make_pairs)
    assert_scores_close(scorer.score_with_categories(pairs), reference_scores(scorer, pairs))


def test_a_lora_adapter_gets_its_own_prefix_cache(
    lora_checkpoint: Path, category_checkpoint: Path, make_pairs: MakePairs
) -> None:
    adapted = GuardScorer(lora_checkpoint, max_input_tokens=1400)
    base = GuardScorer(category_checkpoint, max_input_tokens=1400)
    assert adapted.runner.prefix is not None and base.runner.prefix is not None
    assert adapted.runner.prefix.ids == base.runner.prefix.ids
    assert not torch.allclose(adapted.runner.prefix.layers[0][1], base.runner.prefix.layers[0][1])  # LoRA on v_proj
    pairs = _pairs(make_pairs)
    assert_scores_close(adapted.score_with_categories(pairs), reference_scores(adapted, pairs))
    assert_scores_close(base.score_with_categories(pairs), reference_scores(base, pairs))


@pytest.mark.parametrize("fixture", ["default_checkpoint", "category_checkpoint", "merge_checkpoint"])
def test_a_pair_scores_the_same_alone_and_among_64_of_all_lengths(
    fixture: str, request: pytest.FixtureRequest, make_pairs: MakePairs
) -> None:
    path = request.getfixturevalue(fixture)
    scorer = GuardScorer(path, max_input_tokens=_limit(path))
    pairs = (BOUNDARY_PAIRS + make_pairs(64))[:64]
    together = scorer.score_with_categories(pairs)
    for index in range(0, 64, 3):
        alone = scorer.score_with_categories([pairs[index]])
        np.testing.assert_allclose(alone.p_unsafe[0], together.p_unsafe[index], atol=1e-4)
        assert alone.category[0] == together.category[index]
        np.testing.assert_allclose(alone.category_score[0], together.category_score[index], atol=1e-4)


def test_without_the_cache_the_scorer_gives_the_same_answers(default_checkpoint: Path, make_pairs: MakePairs) -> None:
    pairs = _pairs(make_pairs)
    cached = GuardScorer(default_checkpoint).score_with_categories(pairs)
    plain = GuardScorer(default_checkpoint, prefix_cache=False)
    assert plain.runner.prefix is None
    assert_scores_close(plain.score_with_categories(pairs), cached)


def test_shared_prefix_keeps_a_tail_for_every_context() -> None:
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 4, 6]]) == [1, 2, 3]
    assert shared_prefix([[1, 2, 3], [1, 2, 3, 4]]) == [1, 2]
    assert shared_prefix([[7, 1], [8, 1]]) == []
    assert shared_prefix([]) == []


def test_plan_groups_cover_every_row_once_in_length_order() -> None:
    lengths = [40, 300, 12, 41, 39, 290, 5, 300]
    groups = plan_groups(lengths, overhead=96.0, context=80, attention_span=384.0)
    flat = [index for group in groups for index in group]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    assert len(groups) > 1, "rows of 5 and 300 tokens should not share one padded pass"
    assert plan_groups([50] * 16, overhead=96.0) == [list(range(16))]
    assert plan_groups(lengths, overhead=1e12) == [sorted(range(len(lengths)), key=lengths.__getitem__)]
    assert plan_groups([], overhead=1.0) == []
