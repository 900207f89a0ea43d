"""`guardstream eval` without --model evaluates the version Triton serves, through Triton."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardstream.settings import Settings
from training.data.files import write_jsonl
from training.data.synthetic.generator import SyntheticConfig, generate
from workers.cli.main import app

pytestmark = pytest.mark.integration


def test_eval_through_triton_writes_the_three_outputs(
    base_settings: Settings, triton_ready: None, tmp_path: Path
) -> None:
    records = generate(SyntheticConfig(count=8, seed=21, source="Real Data"))
    data = write_jsonl(tmp_path / "set.jsonl", records)
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", "--data", str(data), "--out", str(out), "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) == {"average", "Real Data"}
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(predictions) == 8 and all(p["critic"] for p in predictions)
    assert all(p["p_unsafe"] is not None for p in predictions), "score mode through Triton fills calibration"
    assert "Triton" in (out / "report.html").read_text(encoding="utf-8")
