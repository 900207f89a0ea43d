"""The models Triton serves judge chat they were never trained on well above chance.

Every other test proves the plumbing: a checkpoint with untrained weights, a broken trainer,
tokenizer or prompt still answers every request with a probability. Only the answers show it, so
each served guard is scored through Triton on held-out items and must clear a floor on balanced
accuracy (the mean of the recalls of both classes: a constant answer scores exactly 0.5 on any mix):

- both guards on synthetic chat from frames and a seed no build trains on;
- the generative guard's explain mode on the same chat, by the verdict its JSON states (a JSON that
  states none counts as wrong);
- the fast guard on the real dev split named in its build manifest (the build trains on the train
  files only; the dev files sit beside them).

The floors are measured figures less a wide margin (see FLOORS), far above the 0.5 of chance.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from guardstream.guard.verdict_parsing import VerdictLabel, parse_guard_output
from guardstream.paths import repository_root
from guardstream.policy import Policy
from guardstream.settings import Settings
from tests.support.stack import unavailable
from training.data.files import file_digest, read_records
from training.data.records import GuardRecord
from training.data.synthetic.generator import SyntheticConfig, generate
from training.default_model import MANIFEST_NAME
from workers.cli.model import FAST_CHECKPOINT, default_real_data_dir
from workers.triton_client import GuardModelClient

pytestmark = pytest.mark.integration

HELDOUT_SEED = 4242
"""Neither build generates from it (generative guard: 1 and 1001; fast guard: 11 and 1011)."""
SYNTHETIC_ITEMS = 160
REAL_ITEMS = 200
BATCH = 16
FLOORS = {
    # measured on the make test builds: generative guard 0.913 on these synthetic items (300 steps; 0.931
    # at the default's 600), fast guard 0.922 on them and 0.867 on the COLD dev items; the generative
    # guard after one training step: 0.5
    "generative_synthetic": 0.75,
    "fast_synthetic": 0.75,
    "fast_real": 0.70,
    # explain mode (the verdict its JSON states): 0.913 (300 steps); the build's own held-out figure was 0.49
    # while the served tokenizer split the verdict JSON unlike the trained one
    "generative_explain": 0.75,
}


def balanced_accuracy(p_unsafe: Sequence[float], unsafe: Sequence[bool], threshold: float) -> float:
    predicted = np.asarray(p_unsafe) >= threshold
    truth = np.asarray(unsafe, dtype=bool)
    if truth.all() or not truth.any():
        raise ValueError("balanced accuracy needs items of both classes")
    return float((predicted[truth].mean() + (~predicted[~truth]).mean()) / 2)


def served_score(settings: Settings, model_name: str, records: Sequence[GuardRecord]) -> list[float]:
    client = GuardModelClient(settings.triton.model_copy(update={"model_name": model_name, "model_version": ""}))
    try:
        pairs = [(r.question, r.response) for r in records]
        return [float(p) for start in range(0, len(pairs), BATCH) for p in client.score(pairs[start : start + BATCH])]
    finally:
        client.close()


@pytest.fixture(scope="module")
def threshold(base_settings: Settings) -> float:
    return Policy.from_settings(base_settings.policy).unsafe_threshold


@pytest.fixture(scope="module")
def heldout_synthetic() -> list[GuardRecord]:
    records = generate(SyntheticConfig(count=SYNTHETIC_ITEMS, seed=HELDOUT_SEED, frames="heldout"))
    assert 0.3 < sum(r.unsafe for r in records) / len(records) < 0.7
    return records


def served_balanced_accuracy(
    settings: Settings, model_name: str, records: Sequence[GuardRecord], threshold: float
) -> float:
    return balanced_accuracy(served_score(settings, model_name, records), [r.unsafe for r in records], threshold)


@pytest.mark.parametrize(
    ("served", "floor"), [("model_name", "generative_synthetic"), ("fast_model_name", "fast_synthetic")]
)
def test_each_served_guard_judges_held_out_synthetic_chat(
    base_settings: Settings,
    triton_ready: None,
    threshold: float,
    heldout_synthetic: list[GuardRecord],
    served: str,
    floor: str,
) -> None:
    measured = served_balanced_accuracy(
        base_settings, getattr(base_settings.triton, served), heldout_synthetic, threshold
    )
    assert measured >= FLOORS[floor], f"balanced accuracy {measured:.3f}"


def test_the_served_generative_guard_explains_held_out_synthetic_chat(
    base_settings: Settings, triton_ready: None, heldout_synthetic: list[GuardRecord]
) -> None:
    client = GuardModelClient(base_settings.triton.model_copy(update={"model_version": ""}))
    try:
        pairs = [(r.question, r.response) for r in heldout_synthetic]
        texts = [text for start in range(0, len(pairs), BATCH) for text in client.explain(pairs[start : start + BATCH])]
    finally:
        client.close()
    verdicts = [parse_guard_output(text) for text in texts]
    right = [
        v.parsed and (v.label is VerdictLabel.UNSAFE) == r.unsafe
        for v, r in zip(verdicts, heldout_synthetic, strict=True)
    ]
    measured = sum(right) / len(right)
    wrong = [text for text, ok in zip(texts, right, strict=True) if not ok][:3]
    assert measured >= FLOORS["generative_explain"], f"accuracy {measured:.3f}; wrong answers such as {wrong}"


def real_dev_records(manifest: dict[str, object], folder: Path | None) -> list[GuardRecord]:
    """The dev files the fast guard's build names, as they were then (same digest)."""
    named = manifest.get("dev_data") or {}
    assert isinstance(named, dict)
    if not named or folder is None:
        unavailable(
            "the served fast guard was built without real dev data",
            "put the real data in ../shared/datasets and rebuild it (make test-model)",
        )
    records: list[GuardRecord] = []
    for name, digest in sorted(named.items()):
        path = folder / name
        if not path.is_file() or file_digest(path) != digest:
            unavailable(
                f"{path} is missing or not the file the fast guard's build measured", "rebuild it (make test-model)"
            )
        records += read_records(path)
    return records


def test_the_served_fast_guard_judges_the_real_dev_split(
    base_settings: Settings, triton_ready: None, threshold: float
) -> None:
    manifest = json.loads((repository_root() / FAST_CHECKPOINT / MANIFEST_NAME).read_text(encoding="utf-8"))
    records = real_dev_records(manifest, default_real_data_dir())
    sample = random.Random(HELDOUT_SEED).sample(records, min(REAL_ITEMS, len(records)))
    measured = served_balanced_accuracy(base_settings, base_settings.triton.fast_model_name, sample, threshold)
    assert measured >= FLOORS["fast_real"], f"balanced accuracy {measured:.3f} on {len(sample)} items"
