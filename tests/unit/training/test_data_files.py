"""Libra-Test files: JSON, JSONL and Parquet read alike; bad records are named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.data.files import DataFileError, read_records, write_json, write_jsonl
from training.data.records import GuardRecord
from training.data.splits import leaked_groups, split_records
from training.data.synthetic.generator import SyntheticConfig, generate

ITEM = {
    "source": "Real Data",
    "category_name": "违法犯罪",
    "sub_category_name": "诈骗",
    "question": "怎么骗钱？",
    "response": "对不起，我不能帮你。",
    "label": "安全",
    "analyze": "拒绝了",
    "id": 7,
}


def test_json_jsonl_and_parquet_give_the_same_records(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = generate(SyntheticConfig(count=40, seed=1))
    from_json = read_records(write_json(tmp_path / "a.json", records))
    from_jsonl = read_records(write_jsonl(tmp_path / "a.jsonl", records))
    pq.write_table(pa.Table.from_pylist([r.to_dict() for r in records]), tmp_path / "a.parquet")
    from_parquet = read_records(tmp_path / "a.parquet")
    assert from_json == from_jsonl == from_parquet == records


def test_numeric_ids_and_english_labels_are_normalised(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps([ITEM, {**ITEM, "id": 8, "label": "unsafe"}], ensure_ascii=False), encoding="utf-8")
    first, second = read_records(path)
    assert (first.id, first.label, second.label) == ("7", "安全", "不安全")


def test_jsonl_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps(ITEM, ensure_ascii=False),
        "{not json",
        json.dumps({**ITEM, "id": 9, "label": "maybe"}, ensure_ascii=False),
        json.dumps({k: v for k, v in ITEM.items() if k != "question"} | {"id": 10}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        read_records(path)
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith(f"{path}:2: invalid JSON")
    assert problems[1].startswith(f"{path}:3: field 'label'")
    assert problems[2].startswith(f"{path}:4: missing required field 'question'")


def test_json_array_errors_name_the_line_where_the_item_starts(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    good = json.dumps(ITEM, ensure_ascii=False, indent=1)
    bad = json.dumps({**ITEM, "id": 2, "response": 5}, ensure_ascii=False, indent=1)
    path.write_text("[\n" + good + ",\n" + bad + "\n]\n", encoding="utf-8")
    start_of_bad = 2 + good.count("\n") + 1
    with pytest.raises(DataFileError) as caught:
        read_records(path)
    assert caught.value.problems == [f"{path}:{start_of_bad}: field 'response' must be a string, got int"]


def test_duplicate_ids_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text(json.dumps([ITEM, ITEM], ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DataFileError, match="duplicate id '7'"):
        read_records(path)
    with pytest.raises(DataFileError, match="unknown format"):
        (tmp_path / "a.csv").write_text("x")
        read_records(tmp_path / "a.csv")


def test_split_never_puts_one_question_on_two_sides() -> None:
    base = generate(SyntheticConfig(count=600, seed=2))
    # The same question with several responses (and spacing/punctuation variants) must stay together.
    variants = [
        GuardRecord(
            f"v{i}-{r.id}",
            r.source,
            r.category_name,
            r.sub_category_name,
            r.question.replace("？", "?") + " ",
            f"{r.response}{i}",
            r.label,
            r.analyze,
        )
        for r in base[:100]
        for i in range(2)
    ]
    split = split_records([*base, *variants], dev_fraction=0.1, test_fraction=0.2, seed=3)
    assert split.train and split.dev and split.test
    assert not leaked_groups(split.train, split.test)
    assert not leaked_groups(split.train, split.dev)
    assert not leaked_groups(split.dev, split.test)
    assert len(split.train) + len(split.dev) + len(split.test) == 800
