"""A run's assembled data: stage 2 replays synthetic data even when stage 1 does not train."""

from __future__ import annotations

from pathlib import Path

from training.config import load_config
from training.data.records import GuardRecord
from training.datasets import assemble


class Labels:
    def __init__(self, count: int) -> None:
        self.records = [
            GuardRecord(f"fb-{i}", "human-feedback", "", "", f"问题{i}", f"回答{i}", "安全" if i % 2 else "不安全")
            for i in range(count)
        ]

    def labelled_records(self) -> list[GuardRecord]:
        return self.records


def run_data(tmp_path: Path, *overrides: str) -> tuple[int, int, int]:
    """(stage-1 records, human labels in stage 2, other stage-2 records) of a generative run on 100 labels."""
    base = ["guards=generative", "data.synthetic_count=300", "data.heldout_count=10", "data.dev_fraction=0"]
    data = assemble(load_config(None, [*base, *overrides]), [Labels(100)], tmp_path)
    human = sum(r.id.startswith("fb-") for r in data.stage2)
    return len(data.stage1), human, len(data.stage2) - human


def test_a_run_without_stage_1_still_replays_synthetic_data_in_stage_2(tmp_path: Path) -> None:
    stage1, human, replayed = run_data(tmp_path, "stage1.steps=0")
    assert stage1 == 300 and human > 50
    assert replayed == round(human * 0.3 / 0.7)  # stage 2's default replay_fraction


def test_no_stage_1_and_no_replay_needs_no_synthetic_data(tmp_path: Path) -> None:
    stage1, human, replayed = run_data(tmp_path, "stage1.steps=0", "stage2.replay_fraction=0")
    assert (stage1, replayed) == (0, 0) and human > 50
