"""`guardstream eval --model CHECKPOINT`: the three outputs from any Libra-Test-format file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from training.data.files import write_json
from training.data.synthetic.generator import SyntheticConfig, generate
from training.default_model import build_default_checkpoint
from workers.cli.main import app


def test_eval_on_a_local_checkpoint_writes_metrics_predictions_and_report(tmp_path: Path) -> None:
    checkpoint = build_default_checkpoint(tmp_path / "ckpt", seed=0)
    records = generate(SyntheticConfig(count=12, seed=8, source="Synthetic Data"))
    data = write_json(tmp_path / "libra.json", records)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--data",
            str(data),
            "--model",
            str(checkpoint),
            "--out",
            str(out),
            "--max-new-tokens",
            "12",
            "--batch-size",
            "6",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) == {"average", "Synthetic Data"}
    assert set(metrics["average"]) == {"accuracy", "f1_safe", "f1_unsafe"}
    lines = (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r.id for r in records]
    assert all(json.loads(line)["critic"] for line in lines)
    assert (out / "report.html").is_file() and (out / "calibration.png").is_file()


def test_eval_names_the_bad_line_of_a_bad_file(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"question": "q", "response": "r", "label": "安全", "id": "1"}\n{"question": "q2"}\n', encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["eval", "--data", str(data), "--model", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert f"{data}:2: missing required field 'response'" in result.output
