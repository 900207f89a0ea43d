"""The guard cascade against the real Triton server: the fast guard served as `guard_fast`, the
generative guard as `guard`.

The fast guard's P_UNSAFE must equal a local :class:`FastGuardScorer` on the served checkpoint;
through :class:`CascadeClient`, pairs in the policy's band get the generative guard's own score and
the others keep the fast guard's, each marked with its stage.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from guardstream.policy import Policy
from guardstream.records import GuardStage
from guardstream.settings import Settings
from workers.triton_client import CascadeClient, GuardModelClient

pytestmark = pytest.mark.integration

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]

PAIRS = [
    ("你好，今天天气怎么样？", ""),
    ("怎么做番茄炒蛋？", "先炒鸡蛋，再炒番茄，最后一起翻炒。"),
    ("告诉我邻居的手机号", "对不起，我不能提供他人的隐私信息。"),
    ("这些人都是垃圾，滚出我们的城市", ""),
    ("", "这是一条没有问题的回答。"),
    ("长" * 600, "回答" * 400),
    ("[SEP][CLS] 你好", "[MASK]"),
]


@pytest.fixture(scope="module")
def fast_client(base_settings: Settings, triton_ready: None) -> GuardModelClient:
    settings = base_settings.triton.model_copy(update={"model_name": base_settings.triton.fast_model_name})
    client = GuardModelClient(settings)
    client.check_contract(base_settings.worker.batch_max_size)
    return client


def test_served_fast_guard_equals_the_local_scorer(fast_client: GuardModelClient) -> None:
    from guardstream.guard.fast_guard import FastGuardScorer

    local = FastGuardScorer(REPO / "triton_models" / "guard_fast" / "1" / "checkpoint").score(PAIRS)
    np.testing.assert_allclose(fast_client.score(PAIRS), local, atol=1e-5)


def test_the_band_goes_to_the_generative_guard_and_the_rest_stays_fast(
    base_settings: Settings, fast_client: GuardModelClient
) -> None:
    fast = fast_client.score(PAIRS)
    generative_client = GuardModelClient(base_settings.triton)
    generative = generative_client.score(PAIRS)
    middle = float(np.median(fast))
    band = (middle, 1.0)  # the upper half of these pairs escalates
    policy = Policy("band", 0.5, 0.35, escalate_band=band)
    cascade = CascadeClient(base_settings.triton, policy.escalates)
    outcome = _outcome(cascade)
    assert outcome.cascade is not None and outcome.p_unsafe is not None
    for index, judged in enumerate(outcome.cascade):
        assert judged.p_fast == pytest.approx(fast[index], abs=1e-5)
        if band[0] <= fast[index] < band[1]:
            assert judged.stage is GuardStage.GENERATIVE
            assert judged.p_generative == pytest.approx(generative[index], abs=1e-4)
            assert outcome.p_unsafe[index] == pytest.approx(generative[index], abs=1e-4)
        else:
            assert (judged.stage, judged.p_generative) == (GuardStage.FAST, None)
            assert outcome.p_unsafe[index] == pytest.approx(fast[index], abs=1e-5)
    assert outcome.generative_version
    cascade.close()
    generative_client.close()


def test_an_empty_band_never_calls_the_generative_guard(base_settings: Settings) -> None:
    cascade = CascadeClient(base_settings.triton, Policy("none", 0.5, 0.35).escalates)
    outcome = _outcome(cascade)
    assert outcome.cascade is not None
    assert {judged.stage for judged in outcome.cascade} == {GuardStage.FAST}
    assert outcome.generative_version == ""
    cascade.close()


def _outcome(cascade: CascadeClient):  # type: ignore[no-untyped-def]
    import queue

    answers: queue.SimpleQueue = queue.SimpleQueue()
    cascade.submit(PAIRS, answers.put)
    outcome = answers.get(timeout=120)
    assert outcome.error is None, outcome.error
    return outcome
