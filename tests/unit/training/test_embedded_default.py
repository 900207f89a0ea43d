"""The trained default checkpoint's build (here with a tiny spec): manifest, evaluation, caching."""

from __future__ import annotations

import json
from pathlib import Path

from training.default_model import MANIFEST_NAME
from training.embedded_default import TrainedDefaultSpec, build_trained_default, is_complete

TINY = TrainedDefaultSpec(synthetic_count=120, heldout_count=20, steps=3, batch_size=8, threads=0)


def test_build_writes_a_checkpoint_its_evaluation_and_a_manifest_then_is_cached(tmp_path: Path) -> None:
    out = tmp_path / "checkpoint"
    manifest = build_trained_default(out, TINY)
    assert is_complete(out, TINY)
    written = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert written == manifest
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= set(manifest["files"])
    assert manifest["training"]["steps"] == 3 and manifest["training"]["mean_row_tokens"] > 0
    assert manifest["heldout"]["items"] == 20
    assert set(manifest["heldout"]["metrics"]) == {"average", "guardstream-synthetic-heldout"}
    for name in ("metrics.json", "predictions.jsonl", "report.html", "heldout.jsonl"):
        assert (out / "evaluation" / name).is_file()
    weights = (out / "model.safetensors").stat().st_mtime_ns
    build_trained_default(out, TINY)
    assert (out / "model.safetensors").stat().st_mtime_ns == weights
    assert not is_complete(out, TrainedDefaultSpec(synthetic_count=120, heldout_count=20, steps=4, batch_size=8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_the_thread_count_is_not_part_of_what_a_build_is() -> None:
    from dataclasses import replace

    from training.embedded_default import _identity as generative_identity
    from training.embedded_fast_guard import _identity as fast_identity
    from training.embedded_fast_guard import profile

    generative = TrainedDefaultSpec()
    assert generative_identity(replace(generative, threads=1)) == generative_identity(generative)
    assert generative_identity(replace(generative, steps=generative.steps + 1)) != generative_identity(generative)
    fast = profile("test")
    assert fast_identity(replace(fast, threads=1), [], []) == fast_identity(fast, [], [])
    assert fast_identity(replace(fast, seed=fast.seed + 1), [], []) != fast_identity(fast, [], [])
