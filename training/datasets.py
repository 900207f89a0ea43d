"""Assembling a run's data: stage 1, stage 2 (with replay), the gold set, and their manifest.

* Stage 1: synthetic pairs from the generator (training frames).
* Stage 2: curated real files plus human labels, split without leakage; the training side gets
  ``replay_fraction`` of stage-1 data mixed in against forgetting.
* Gold set (the quality gate's and the report's): ``data.gold_file`` when given, else the test
  split of real + human data together with a synthetic held-out set (held-out frames, new seed).

Every input file is recorded with its SHA-256, and every derived set with the digest of its
records, in ``data_manifest.json``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.config import TrainConfig
from training.data.files import file_digest, read_records, records_digest, write_jsonl
from training.data.human_labels import LabelSource
from training.data.records import GuardRecord
from training.data.splits import leaked_groups, split_records
from training.data.synthetic.generator import SyntheticConfig, generate


@dataclass
class RunData:
    stage1: list[GuardRecord]
    stage2: list[GuardRecord]
    gold: list[GuardRecord]
    dev: list[GuardRecord]
    human_labels: int
    manifest: dict[str, Any] = field(default_factory=dict)


def replay_sample(stage1: Sequence[GuardRecord], real_count: int, fraction: float, seed: int) -> list[GuardRecord]:
    """Stage-1 records to mix into stage 2 so they make up ``fraction`` of it."""
    if fraction <= 0 or real_count == 0 or not stage1:
        return []
    wanted = min(len(stage1), round(real_count * fraction / (1 - fraction)))
    return random.Random(seed).sample(list(stage1), wanted)


def wants_stage1(config: TrainConfig) -> bool:
    """Whether this run needs stage-1 data: a guard it trains has a stage 1, or the generative guard's
    stage 2 replays it (a run that continues the served model on new labels alone still replays)."""
    fast = config.fast.stage1
    generative = config.stage1.steps > 0 or (config.stage2.steps > 0 and config.stage2.replay_fraction > 0)
    return (config.trains("generative") and generative) or (
        config.trains("fast") and (fast.epochs > 0 or fast.max_steps > 0)
    )


def assemble(config: TrainConfig, label_sources: Sequence[LabelSource], out_dir: Path) -> RunData:
    data = config.data
    stage1 = (
        generate(SyntheticConfig(count=data.synthetic_count, seed=data.synthetic_seed)) if wants_stage1(config) else []
    )
    inputs: list[dict[str, Any]] = []
    real: list[GuardRecord] = []
    for name in data.real_files:
        records = read_records(name)
        real.extend(records)
        inputs.append({"kind": "real", "path": str(name), "sha256": file_digest(name), "records": len(records)})
    human: list[GuardRecord] = []
    for source in label_sources:
        labelled = source.labelled_records()
        human.extend(labelled)
        inputs.append(
            {
                "kind": "human",
                "source": type(source).__name__,
                "records": len(labelled),
                "digest": records_digest(labelled),
            }
        )
    split = split_records(
        [*real, *human], dev_fraction=data.dev_fraction, test_fraction=data.test_fraction, seed=data.split_seed
    )
    if leaked_groups(split.train, split.test) or leaked_groups(split.train, split.dev):
        raise RuntimeError("split leaked a question across sides")  # split_records guarantees it; keep it checked
    if data.gold_file:
        gold = read_records(data.gold_file)
        inputs.append(
            {"kind": "gold", "path": data.gold_file, "sha256": file_digest(data.gold_file), "records": len(gold)}
        )
        gold_ids = {r.id for r in gold}
        train_real = [r for r in split.train + split.test if r.id not in gold_ids]
    else:
        heldout = generate(
            SyntheticConfig(
                count=data.heldout_count,
                seed=data.heldout_seed,
                frames="heldout",
                source="guardstream-synthetic-heldout",
            )
        )
        gold = [*split.test, *heldout]
        train_real = split.train
    stage2 = [*train_real, *replay_sample(stage1, len(train_real), config.stage2.replay_fraction, config.seed)]
    random.Random(config.seed).shuffle(stage2)
    sets = {"stage1": stage1, "stage2": stage2, "gold": gold, "dev": split.dev}
    out_dir.mkdir(parents=True, exist_ok=True)
    derived = {}
    for name, records in sets.items():
        write_jsonl(out_dir / f"{name}.jsonl", records)
        derived[name] = {
            "records": len(records),
            "digest": records_digest(records),
            "unsafe": sum(r.unsafe for r in records),
        }
    manifest = {
        "inputs": inputs,
        "sets": derived,
        "synthetic": {
            "count": data.synthetic_count,
            "seed": data.synthetic_seed,
            "heldout_count": data.heldout_count,
            "heldout_seed": data.heldout_seed,
        },
    }
    return RunData(stage1, stage2, gold, split.dev, len(human), manifest)
