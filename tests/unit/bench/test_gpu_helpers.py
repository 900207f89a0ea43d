from pathlib import Path

import pytest

from devtools.bench.gpu import QWEN25_0_5B, mfu, peak_flops, write_repository


def test_peak_of_known_gpus_by_name() -> None:
    assert peak_flops("NVIDIA H200") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("Some Future Accelerator") is None


def test_mfu_is_two_flops_per_parameter_per_token() -> None:
    assert mfu(500_000_000, 1_000_000.0, 1e15) == pytest.approx(1.0)
    assert mfu(1, 1.0, None) is None


def test_architecture_is_qwen2_5_0_5b() -> None:
    assert (QWEN25_0_5B["hidden_size"], QWEN25_0_5B["num_hidden_layers"]) == (896, 24)
    assert (QWEN25_0_5B["num_attention_heads"], QWEN25_0_5B["num_key_value_heads"]) == (14, 2)
    assert (QWEN25_0_5B["intermediate_size"], QWEN25_0_5B["vocab_size"]) == (4864, 151936)
    assert QWEN25_0_5B["tie_word_embeddings"] is True


def test_repository_serves_the_guard_model_on_the_device_and_dtype(tmp_path: Path) -> None:
    write_repository(tmp_path, tmp_path / "ckpt", "cuda", "bfloat16", 256)
    config = (tmp_path / "guard" / "config.pbtxt").read_text()
    assert 'string_value: "cuda"' in config and 'string_value: "bfloat16"' in config
    assert f'string_value: "{tmp_path / "ckpt"}"' in config
    assert "max_batch_size: 256" in config
    assert (tmp_path / "guard" / "1" / "model.py").is_file()
