"""The embedded default guard model: a tiny Qwen2 trained from scratch here, on synthetic data.

``guardstream model build-default`` (``make model``) calls :func:`build_trained_default`:

1. generate the stage-1 synthetic set (training frames) and a held-out set (held-out frames, a
   new seed: sentence shapes the model never saw);
2. train the byte-level BPE tokenizer and initialise the tiny model (:mod:`training.default_model`);
3. train it to write the verdict JSON (:mod:`training.trainer.loop`), a few minutes on 2 cores;
4. save the checkpoint, then evaluate it on the held-out set with Libra-Test's protocol (explain
   mode, plus score mode for calibration) into ``<out>/evaluation/``;
5. write the manifest last: it records the build parameters, a digest of the code that decides
   the bytes, file digests and the held-out metrics. A build whose manifest matches is skipped.

The folder is built under a temporary sibling name and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardstream.guard.checkpoint import write_contract
from training.config import StageConfig
from training.default_model import MANIFEST_NAME, DefaultModelSpec, swap_into_place

logger = logging.getLogger(__name__)

BUILDER = "guardstream.default_model.trained"
FORMAT_VERSION = 1
EVALUATION_DIR = "evaluation"
HELDOUT_FILE = "heldout.jsonl"
TARGET_ACCURACY = 0.95

_CODE_FILES = (
    "default_model.py",
    "embedded_default.py",
    "data/synthetic/lexicon.py",
    "data/synthetic/templates.py",
    "data/synthetic/adversarial.py",
    "data/synthetic/generator.py",
    "data/synthetic/injection.py",
    "data/dedup.py",
    "trainer/encoding.py",
    "trainer/loss.py",
    "trainer/loop.py",
    "../guardstream/guard/checkpoint.py",  # loads the build to measure it (its tokenizer)
)


@dataclass(frozen=True)
class TrainedDefaultSpec:
    """Everything that decides the trained default checkpoint (recorded in its manifest)."""

    model: DefaultModelSpec = field(default_factory=DefaultModelSpec)
    synthetic_count: int = 10000
    synthetic_seed: int = 1
    heldout_count: int = 400
    heldout_seed: int = 1001
    steps: int = 600
    """Held-out synthetic accuracy 0.9225 at 600 steps against 0.9150 at 1,200 (same data and seed,
    after prompt-injection items joined the data): the second half bought nothing but 3 minutes."""
    batch_size: int = 32
    learning_rate: float = 2e-3
    answer_weight: float = 4.0
    threads: int = 2


def code_digest() -> str:
    from training.data.files import code_files_digest

    return code_files_digest(Path(__file__).resolve().parent, _CODE_FILES)


def _identity(spec: TrainedDefaultSpec) -> dict[str, Any]:
    from training.data.files import build_spec_identity

    return {
        "builder": BUILDER,
        "format_version": FORMAT_VERSION,
        "spec": build_spec_identity(spec),
        "code": code_digest(),
    }


def is_complete(out_dir: Path, spec: TrainedDefaultSpec) -> bool:
    """True when ``out_dir`` holds a finished build of exactly this spec and code."""
    try:
        manifest = json.loads((Path(out_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    identity = _identity(spec)
    return all(manifest.get(k) == v for k, v in identity.items()) and all(
        (Path(out_dir) / name).is_file() for name in manifest.get("files", {})
    )


def stage_config(spec: TrainedDefaultSpec) -> StageConfig:
    return StageConfig(
        steps=spec.steps,
        batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        answer_weight=spec.answer_weight,
        warmup_steps=30,
        checkpoint_every=0,
    )


def build_trained_default(
    out_dir: Path, spec: TrainedDefaultSpec | None = None, *, force: bool = False, observer: Any = None
) -> dict[str, Any]:
    """Build (or keep) the trained default checkpoint; returns its manifest."""
    import torch

    from guardstream.guard.explaining import GuardExplainer
    from guardstream.guard.scoring import GuardScorer
    from training.data.files import write_jsonl
    from training.data.synthetic.generator import SyntheticConfig, generate
    from training.default_model import init_model, train_tokenizer
    from training.evaluation.runner import evaluate
    from training.trainer.encoding import ExampleEncoder
    from training.trainer.loop import train_stage

    spec = spec or TrainedDefaultSpec()
    out_dir = Path(out_dir)
    if not force and is_complete(out_dir, spec):
        logger.info("trained default checkpoint up to date path=%s", out_dir)
        return json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    if spec.threads > 0:
        torch.set_num_threads(spec.threads)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        started = time.perf_counter()
        train = generate(SyntheticConfig(count=spec.synthetic_count, seed=spec.synthetic_seed))
        heldout = generate(
            SyntheticConfig(
                count=spec.heldout_count,
                seed=spec.heldout_seed,
                frames="heldout",
                source="guardstream-synthetic-heldout",
            )
        )
        tokenizer = train_tokenizer(spec.model)
        torch.manual_seed(spec.model.seed)
        model = init_model(spec.model, tokenizer)
        encoder = ExampleEncoder(tokenizer, max_length=512, answer_weight=spec.answer_weight)
        examples = [encoder.encode(r) for r in train]
        result = train_stage(
            "default",
            model,
            examples,
            stage_config(spec),
            pad_id=tokenizer.pad_token_id,
            seed=spec.synthetic_seed,
            device=torch.device("cpu"),
            observer=observer,
        )
        train_seconds = time.perf_counter() - started
        model.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_contract(staging, names_categories=True)  # taught to name the scenario of unsafe answers
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(staging.iterdir()) if p.is_file()}

        evaluation = staging / EVALUATION_DIR
        write_jsonl(evaluation / HELDOUT_FILE, heldout)
        eval_started = time.perf_counter()
        report = evaluate(
            heldout,
            GuardExplainer(staging, max_new_tokens=64),
            evaluation,
            scorer=GuardScorer(staging),
            title="embedded default model on the held-out synthetic set",
            model=f"{BUILDER} (seed {spec.model.seed})",
        )
        prompt_tokens = [len(encoder.encode(r).input_ids) for r in heldout]
        manifest = {
            **_identity(spec),
            "files": files,
            "training": {
                "seconds": round(train_seconds, 1),
                "steps": result.steps,
                "final_loss": result.final_loss,
                "examples": len(examples),
                "mean_row_tokens": round(sum(prompt_tokens) / len(prompt_tokens), 1),
            },
            "heldout": {
                "items": len(heldout),
                "metrics": report.metrics,
                "unparseable": report.details["unparseable"],
                "evaluation_seconds": round(time.perf_counter() - eval_started, 1),
            },
        }
        accuracy = report.metrics["average"]["accuracy"]
        if accuracy < TARGET_ACCURACY:
            logger.warning("default model held-out accuracy %.4f is below the %.2f target", accuracy, TARGET_ACCURACY)
        (staging / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        swap_into_place(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("trained default checkpoint built path=%s heldout_accuracy=%.4f", out_dir, accuracy)
    return manifest
