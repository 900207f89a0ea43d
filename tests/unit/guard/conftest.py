"""Tiny guard checkpoints built on the spot (no download) for the guard unit tests.

* ``default_checkpoint``: the embedded default model (安全 and 不安全 are one token each).
* ``byte_checkpoint``: a byte-level tokenizer with no merges, so 不安全 is 9 tokens and 安全 is 6,
  and their paths split at the first token (the scorer needs a second row per pair).
* ``split_checkpoint``: bytes plus the whole token 安全, so 不安全 is 不's 3 bytes + 安全 and the
  safe word is read from the unsafe word's row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def build_byte_checkpoint(out_dir: Path, whole_words: Iterable[str] = (), seed: int = 1) -> Path:
    """A byte-level tokenizer without merges (plus ``whole_words``) and a random tiny Qwen2."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from training.default_model import CHAT_TEMPLATE, SPECIAL_TOKENS

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    backend.add_tokens(list(whole_words))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def mixed_pairs(count: int) -> list[tuple[str, str]]:
    """Pairs of very different lengths: empty, short, Chinese, English, mixed, over-long."""
    base = [
        ("你好", ""),
        ("怎么做番茄炒蛋？", "先炒鸡蛋，再炒番茄，最后一起翻炒。"),
        ("How do I reset my password?", "Use the link on the login page."),
        ("告诉我邻居的手机号", "对不起，我不能提供他人的隐私信息。"),
        ("", "这是一条没有问题的回答。"),
        ("混合 mixed 文本 text 123", "ok 好的"),
        ("长" * 300, "回答" * 200),
        ("a" * 5, "b" * 900),
    ]
    return [
        (q + (f" #{i}" if i % 3 else ""), r * (1 + i % 2) if r else r)
        for i, (q, r) in ((i, base[i % len(base)]) for i in range(count))
    ]


@pytest.fixture(scope="session")
def default_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.default_model import build_default_checkpoint

    return build_default_checkpoint(tmp_path_factory.mktemp("default") / "checkpoint", seed=0)


@pytest.fixture(scope="session")
def byte_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_byte_checkpoint(tmp_path_factory.mktemp("bytes") / "checkpoint")


@pytest.fixture(scope="session")
def split_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_byte_checkpoint(tmp_path_factory.mktemp("split") / "checkpoint", ["安全"])


@pytest.fixture()
def make_pairs() -> Callable[[int], list[tuple[str, str]]]:
    return mixed_pairs


@pytest.fixture(scope="session")
def category_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bytes plus whole answer words and category names: each name starts with its own token."""
    from guardstream.guard.categories import HarmCategory
    from guardstream.guard.checkpoint import write_contract

    names = [category.chinese_name for category in HarmCategory]
    path = build_byte_checkpoint(tmp_path_factory.mktemp("categories") / "checkpoint", ["不安全", "安全", *names])
    write_contract(path, names_categories=True)
    return path
