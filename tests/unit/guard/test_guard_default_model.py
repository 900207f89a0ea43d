"""The embedded default checkpoint: reproducible, idempotent, atomic, loadable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from guardstream.guard.checkpoint import load_checkpoint, load_tokenizer
from guardstream.guard.encoding import PromptEncoder
from guardstream.guard.verdict_parsing import VerdictLabel, render_verdict_json
from training.default_model import MANIFEST_NAME, DefaultModelSpec, build_default_checkpoint, train_tokenizer


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_builds_identical_files(tmp_path: Path, default_checkpoint: Path) -> None:
    again = build_default_checkpoint(tmp_path / "again", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json", MANIFEST_NAME):
        assert _digest(again / name) == _digest(default_checkpoint / name), name


def test_another_seed_changes_the_weights_not_the_tokenizer(tmp_path: Path, default_checkpoint: Path) -> None:
    other = build_default_checkpoint(tmp_path / "other", seed=7)
    assert _digest(other / "model.safetensors") != _digest(default_checkpoint / "model.safetensors")
    assert _digest(other / "tokenizer.json") == _digest(default_checkpoint / "tokenizer.json")
    assert json.loads((other / MANIFEST_NAME).read_text())["spec"]["seed"] == 7


def test_a_complete_build_is_skipped_and_force_rebuilds(tmp_path: Path) -> None:
    out = build_default_checkpoint(tmp_path / "ckpt", seed=0)
    weights = out / "model.safetensors"
    first = weights.stat().st_mtime_ns
    build_default_checkpoint(out, seed=0)
    assert weights.stat().st_mtime_ns == first
    build_default_checkpoint(out, seed=0, force=True)
    assert weights.stat().st_mtime_ns != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"], "no staging folders left"


def test_an_incomplete_folder_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "config.json").write_text("{}")
    build_default_checkpoint(out, seed=0)
    assert (out / MANIFEST_NAME).is_file() and (out / "model.safetensors").is_file()


def test_seed_change_rebuilds_in_place(tmp_path: Path) -> None:
    out = build_default_checkpoint(tmp_path / "ckpt", seed=0)
    before = _digest(out / "model.safetensors")
    build_default_checkpoint(out, seed=1)
    assert _digest(out / "model.safetensors") != before


def test_tokenizer_keeps_answer_words_and_keys_whole_and_speaks_chatml(
    default_checkpoint: Path,
) -> None:
    tokenizer = load_tokenizer(default_checkpoint)
    for word in ("安全", "不安全", "答案", "分析"):
        assert tokenizer.tokenize(word) == [word]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tokenizer(special, add_special_tokens=False)["input_ids"]) == 1
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.decode(tokenizer("你好，世界 hello")["input_ids"]) == "你好，世界 hello"


def test_model_is_a_tiny_qwen2(default_checkpoint: Path) -> None:
    config = json.loads((default_checkpoint / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    assert (config["hidden_size"], config["num_hidden_layers"]) == (128, 2)
    assert (config["num_attention_heads"], config["num_key_value_heads"]) == (4, 2)


def test_the_served_tokenizer_splits_text_as_the_model_learned_it(default_checkpoint: Path) -> None:
    """transformers' AutoTokenizer loads a qwen2 folder as a Qwen2 tokenizer, whose own pre-tokenizer
    split the verdict JSON's newline-and-indent unlike the trained one: the default guard wrote
    "答案" twice and its held-out explain accuracy fell to 0.49."""
    trained = train_tokenizer(DefaultModelSpec())
    served = load_checkpoint(default_checkpoint).tokenizer
    verdict = render_verdict_json(VerdictLabel.SAFE, None, "对话是日常交流，没有风险，因此安全。")
    texts = [verdict, "混合 mixed  文本\n\n  text 123 ", "  leading and trailing  \t", "你好，世界 hello"]
    for text in texts:
        ids = served(text, add_special_tokens=False)["input_ids"]
        assert ids == trained(text, add_special_tokens=False)["input_ids"], text
    pairs = [("怎么做番茄炒蛋？\n  先说步骤", "先炒鸡蛋，\n\n  再炒番茄。")]
    assert PromptEncoder(served, 512).contexts(pairs) == PromptEncoder(trained, 512).contexts(pairs)
