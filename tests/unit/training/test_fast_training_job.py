"""`guardstream train --model fast` end to end on a tiny BERT built here: stage 1, stage 2 with
real files and human labels, evaluation of candidate and serving fast guard on the gold set by
score, the gate, and a published ``guard_fast/<N+1>/`` that serves exactly the candidate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from guardstream.guard.fast_guard import FastGuardContract, FastGuardScorer
from guardstream.guard.serving_pointer import ServingPointer, write_pointer
from tests.unit.guard.test_fast_guard import build_tiny_encoder, build_tiny_fast_guard
from training.config import load_config
from training.data.files import write_jsonl
from training.data.human_labels import FileLabels
from training.data.synthetic.generator import SyntheticConfig, generate
from training.embedded_fast_guard import PROFILES
from training.job import run_training
from training.publish import MODEL_PY


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("encoder"))


def repository_serving_untrained_fast_guard(root: Path) -> Path:
    repository = root / "repo"
    build_tiny_fast_guard(repository / "guard_fast" / "1" / "checkpoint")
    (repository / "guard_fast" / "1" / "model.py").write_text(MODEL_PY, encoding="utf-8")
    return repository


def fast_config(tmp_path: Path, repository: Path, base: str, *extra: str) -> list[str]:
    real = write_jsonl(tmp_path / "real.jsonl", generate(SyntheticConfig(count=160, seed=77, source="Real Data")))
    return [
        "guards=fast",
        f"runs_dir={tmp_path / 'runs'}",
        f"repository={repository}",
        f"data.real_files=[{real}]",
        "data.synthetic_count=240",
        "data.heldout_count=60",
        "data.use_review_store=false",
        f"fast.base={base}",
        "fast.frozen_layers=1",
        "fast.max_input_tokens=48",
        "fast.lexical_epochs=4",
        "fast.stage1.max_steps=6",
        "fast.stage1.batch_size=16",
        "fast.stage1.learning_rate=0.001",
        "fast.stage2.max_steps=6",
        "fast.stage2.batch_size=16",
        "fast.stage2.learning_rate=0.001",
        *extra,
    ]


def test_fast_candidate_beats_the_untrained_serving_version_and_is_published_as_the_next_version(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    repository = repository_serving_untrained_fast_guard(tmp_path)
    humans = write_jsonl(tmp_path / "human.jsonl", generate(SyntheticConfig(count=30, seed=91, source="human")))
    config = load_config(None, fast_config(tmp_path, repository, str(tiny_encoder)))
    outcome = run_training(config, label_sources=[FileLabels(humans)])

    assert [g.guard for g in outcome.guards] == ["fast"]
    fast = outcome.guard("fast")
    assert fast.serving is not None, "the served version 1 was evaluated on the same gold set"
    assert fast.candidate.details["unparseable"] == 0
    assert all(p.p_unsafe is not None for p in fast.candidate.predictions)
    assert fast.decision.publish and fast.decision.candidate > fast.decision.serving + 0.1, fast.decision
    assert fast.candidate.average_accuracy >= 0.75  # the lexical head learns the synthetic scenarios' words
    assert [s["stage"] for s in fast.stages] == ["stage1", "stage2", "lexical"]

    assert fast.published is not None and fast.published.version == 2
    version = repository / "guard_fast" / "2"
    assert (version / "model.py").read_text(encoding="utf-8") == MODEL_PY
    gold = [
        json.loads(line) for line in (outcome.run_dir / "data" / "gold.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    pairs = [(item["question"], item["response"]) for item in gold[:12]]
    published = FastGuardScorer(version / "checkpoint").score(pairs)
    np.testing.assert_allclose(published, [p.p_unsafe for p in fast.candidate.predictions[:12]], atol=1e-5)

    manifest = json.loads((outcome.run_dir / "data" / "data_manifest.json").read_text(encoding="utf-8"))
    assert [entry["records"] for entry in manifest["inputs"] if entry["kind"] == "human"] == [30]
    # as in the default build: stage 2 also learns its items with attacks, padding and reports added
    stage2 = next(s for s in fast.stages if s["stage"] == "stage2")
    assert stage2["examples"] > manifest["sets"]["stage2"]["records"]
    # and a fresh fast guard keeps the default's injection defences, not the library's plain defaults
    full = PROFILES["full"]
    contract = FastGuardContract.read(version / "checkpoint")
    assert contract.segment_min_chars == full.segment_min_chars > 0
    assert contract.segment_raise_min == full.segment_raise_min > 0
    assert contract.lexical is not None
    assert (contract.lexical.pooling, contract.lexical.prefix_min_chars) == (
        full.lexical_pooling,
        full.lexical_prefix_min_chars,
    )
    summary = json.loads((outcome.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert set(summary["guards"]) == {"fast"}
    assert summary["guards"]["fast"]["published_version"] == 2
    report = (outcome.run_dir / "report.html").read_text(encoding="utf-8")
    assert "fast guard (guard_fast) — quality gate: PUBLISHED" in report
    for side in ("candidate", "serving"):
        assert (outcome.run_dir / "fast" / "eval" / side / "report.html").is_file()


def test_fast_candidate_continues_from_the_promoted_version_and_a_worse_one_is_rejected(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    repository = repository_serving_untrained_fast_guard(tmp_path)
    build_tiny_fast_guard(repository / "guard_fast" / "2" / "checkpoint", seed=5)
    write_pointer(repository, "guard_fast", ServingPointer("1", "", ["1", "2"]))
    config = load_config(None, fast_config(tmp_path, repository, "serving", "gate.min_improvement=1.0"))
    outcome = run_training(config)

    fast = outcome.guard("fast")
    start = json.loads((outcome.run_dir / "fast" / "candidate" / "training.json").read_text(encoding="utf-8"))["start"]
    assert start.startswith("serving version 1 ")
    assert not fast.decision.publish and fast.decision.reason.startswith("rejected:")
    assert sorted(p.name for p in (repository / "guard_fast").iterdir()) == ["1", "2"]
    assert "quality gate: NOT PUBLISHED" in (outcome.run_dir / "report.html").read_text(encoding="utf-8")


def test_both_guards_train_by_default_and_the_model_option_names_one() -> None:
    from typer.testing import CliRunner

    from training.config import ConfigError
    from workers.cli.main import app

    default = load_config(None, [])
    assert default.guards == "both" and default.trains("fast") and default.trains("generative")
    fast = load_config(None, ["guards=fast"])
    assert fast.trains("fast") and not fast.trains("generative")
    with pytest.raises(ConfigError, match="guards"):
        load_config(None, ["guards=all"])
    result = CliRunner().invoke(app, ["train", "run", "--model", "all"])
    assert result.exit_code == 2 and "--model must be one of both, fast, generative" in result.output
