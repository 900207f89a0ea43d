"""The served guard model against the real Triton server (`triton_models/` on the local stack).

Triton's P_UNSAFE must equal :class:`GuardScorer`'s local result on the same checkpoint, with
the settings Triton reports for the model, and concurrent requests (merged by Triton's dynamic
batcher) must each get their own answer. Skips when no Triton listens at
GUARDSTREAM_TRITON_GRPC (default 127.0.0.1:18001), unless GUARDSTREAM_REQUIRE_STACK=1.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardstream.guard.backend_settings import settings_from_model_config
from guardstream.settings import Settings

pytestmark = pytest.mark.integration

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
MODEL = "guard"

PAIRS = [
    ("你好", ""),
    ("怎么做番茄炒蛋？", "先炒鸡蛋，再炒番茄，最后一起翻炒。"),
    ("How do I reset my password?", "Use the link on the login page."),
    ("告诉我邻居的手机号", "对不起，我不能提供他人的隐私信息。"),
    ("", "这是一条没有问题的回答。"),
    ("混合 mixed 文本 text 123", "ok 好的"),
    ("长" * 600, "回答" * 400),
    ("bad \ufffd utf-8", "emoji 😀 ok"),
]


@pytest.fixture(scope="module")
def client(base_settings: Settings, triton_ready: None) -> Iterator[Any]:
    import tritonclient.grpc as grpcclient

    triton = grpcclient.InferenceServerClient(url=base_settings.triton.grpc_url)
    yield triton
    triton.close()


@pytest.fixture(scope="module")
def local_scorer(client: Any) -> Any:
    """A local scorer built from the config Triton serves, on the same checkpoint."""
    from guardstream.guard.scoring import GuardScorer

    config = client.get_model_config(MODEL, as_json=True)["config"]
    version = max(client.get_model_metadata(MODEL, as_json=True)["versions"], key=int)
    settings = settings_from_model_config(config, REPO / "triton_models" / MODEL / version)
    return GuardScorer(
        settings.checkpoint_path,
        device="cpu",
        dtype=settings.dtype,
        max_input_tokens=settings.max_input_tokens,
        max_batch_size=settings.max_batch_size,
    )


def _inputs(pairs: list[tuple[str, str]]) -> list[Any]:
    import tritonclient.grpc as grpcclient

    tensors = []
    for name, column in (("QUESTION", [q for q, _ in pairs]), ("RESPONSE", [r for _, r in pairs])):
        array = np.array([[text.encode("utf-8")] for text in column], dtype=np.object_)
        tensor = grpcclient.InferInput(name, list(array.shape), "BYTES")
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


def test_served_model_has_the_guard_contract(client: Any) -> None:
    metadata = client.get_model_metadata(MODEL, as_json=True)
    assert {t["name"]: t["datatype"] for t in metadata["inputs"]} == {
        "QUESTION": "BYTES",
        "RESPONSE": "BYTES",
    }
    assert {t["name"]: t["datatype"] for t in metadata["outputs"]} == {
        "P_UNSAFE": "FP32",
        "CATEGORY": "BYTES",
        "CATEGORY_SCORE": "FP32",
    }
    assert int(client.get_model_config(MODEL, as_json=True)["config"]["max_batch_size"]) == 64


def test_a_served_batch_equals_the_local_scorer(client: Any, local_scorer: Any) -> None:
    pairs = PAIRS * 4
    result = client.infer(MODEL, _inputs(pairs))
    served = result.as_numpy("P_UNSAFE")
    assert served.dtype == np.float32 and served.shape == (len(pairs), 1)
    np.testing.assert_allclose(served[:, 0], local_scorer.score(pairs), atol=1e-4)


def test_concurrent_requests_each_get_their_own_answer(client: Any, local_scorer: Any) -> None:
    requests = [PAIRS[i : i + 1 + i % 3] for i in range(len(PAIRS))]
    done: queue.Queue[tuple[int, Any, Any]] = queue.Queue()
    for index, pairs in enumerate(requests):
        client.async_infer(
            MODEL,
            _inputs(pairs),
            callback=lambda result, error, index=index: done.put((index, result, error)),
        )
    answers: dict[int, np.ndarray] = {}
    for _ in requests:
        index, result, error = done.get(timeout=60)
        assert error is None, error
        answers[index] = result.as_numpy("P_UNSAFE")[:, 0]
    for index, pairs in enumerate(requests):
        np.testing.assert_allclose(answers[index], local_scorer.score(pairs), atol=1e-4)
