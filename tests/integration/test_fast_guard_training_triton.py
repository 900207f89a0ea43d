"""`guardstream train run --model fast` against the real Triton: the serving fast guard is judged
through Triton, the candidate (continued from it) is published as ``guard_fast/<N+1>/``, loaded
beside the current version, smoke-checked and promoted; Triton then serves exactly the candidate's
scores to clients that follow the current version, and a rollback returns to the old one.

The gate is told to accept any candidate (``gate.min_improvement=-1``): a few CPU steps on a tiny
set prove the path, not a quality gain (the unit tests check that the gate decides by quality).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from guardstream.guard.serving_pointer import STATE_FILE, read_pointer
from guardstream.paths import repository_root
from guardstream.settings import Settings
from training.data.files import write_jsonl
from training.data.synthetic.generator import SyntheticConfig, generate
from workers.cli.main import app
from workers.model_versions import ModelVersions
from workers.triton_client import GuardModelClient, build_grpc_client, current_version

# Exclusive: it publishes and promotes a fast guard version that every other test would then be served.
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

REPOSITORY = repository_root() / "triton_models"
PAIRS = [
    ("你好，今天天气怎么样？", ""),
    ("这些人都是垃圾，滚出我们的城市", ""),
    ("怎么做番茄炒蛋？", "先炒鸡蛋，再炒番茄。"),
]


@pytest.fixture()
def fast_versions(base_settings: Settings, triton_ready: None) -> Iterator[ModelVersions]:
    """The fast guard's versions; whatever the test publishes is rolled back, unloaded and removed."""
    name = base_settings.triton.fast_model_name
    versions = ModelVersions(base_settings.triton, REPOSITORY, name)
    before = set(versions.on_disk())
    state = REPOSITORY / STATE_FILE
    saved = state.read_text(encoding="utf-8") if state.is_file() else None
    original = versions.pointer()
    try:
        yield versions
    finally:
        pointer = versions.pointer()
        if pointer.current != original.current and pointer.previous == original.current:
            versions.rollback()
        for version in sorted(set(versions.on_disk()) - before, key=int):
            if version in versions.pointer().loaded:
                versions.retire(version)
            shutil.rmtree(REPOSITORY / name / version)
        if saved is None:
            state.unlink(missing_ok=True)
        else:
            state.write_text(saved, encoding="utf-8")
        versions.close()


def test_trained_fast_guard_is_published_loaded_promoted_and_served(
    base_settings: Settings, fast_versions: ModelVersions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fast_versions.model_name
    serving_before = fast_versions.pointer().current
    real = write_jsonl(tmp_path / "real.jsonl", generate(SyntheticConfig(count=40, seed=31, source="Real Data")))
    monkeypatch.setenv("GUARDSTREAM_AUDIT__URL", f"sqlite:///{tmp_path / 'audit.db'}")
    overrides = [
        f"runs_dir={tmp_path / 'runs'}",
        f"repository={REPOSITORY}",
        f"data.real_files=[{real}]",
        "data.synthetic_count=24",
        "data.heldout_count=12",
        "data.use_review_store=false",
        "fast.base=serving",
        "fast.frozen_layers=3",
        "fast.lexical_epochs=1",
        "fast.eval_batch_size=16",
        "fast.stage1.max_steps=2",
        "fast.stage1.batch_size=8",
        "fast.stage2.max_steps=2",
        "fast.stage2.batch_size=8",
        "gate.min_improvement=-1.0",
    ]
    args = ["train", "run", "--model", "fast", "--serving", "triton", "--no-feedback-topic", "--load"]
    for item in overrides:
        args += ["--set", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    summary = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["guards"]
    assert set(summary) == {"fast"} and summary["fast"]["serving"] is not None, (
        "the serving fast guard was judged through Triton"
    )
    version = str(summary["fast"]["published_version"])
    assert f"Triton serves {name} version {version} now (previous {serving_before})" in result.output
    start = json.loads((REPOSITORY / name / version / "checkpoint" / "training.json").read_text(encoding="utf-8"))[
        "start"
    ]
    assert start.startswith(f"serving version {serving_before} ")

    pointer = fast_versions.pointer()
    assert (pointer.current, pointer.previous) == (version, serving_before)
    assert read_pointer(REPOSITORY, name) == pointer
    client = build_grpc_client(base_settings.triton)
    assert current_version(client, name) == version
    client.close()

    from guardstream.guard.fast_guard import FastGuardScorer

    follower = GuardModelClient(base_settings.triton.model_copy(update={"model_name": name, "model_version": ""}))
    try:
        assert follower.version() == version
        local = FastGuardScorer(REPOSITORY / name / version / "checkpoint").score(PAIRS)
        np.testing.assert_allclose(follower.score(PAIRS), local, atol=1e-5)
    finally:
        follower.close()

    rolled = fast_versions.rollback()
    assert (rolled.current, rolled.previous) == (serving_before, version)
