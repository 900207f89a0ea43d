"""Score mode's category: which of the seven harm scenarios an unsafe verdict names.

Models trained here answer ``{"答案": "不安全", "类别": "<scenario>", …}`` (see
:func:`~guardstream.guard.verdict_parsing.render_verdict_json`). After the unsafe word, the text up
to the category's opening quote (the *bridge*) is fixed, so the same forward pass that scores the
answer can also read, at the bridge's last position, the probability of each scenario's first
token. The seven Chinese names start with seven different characters; when a tokenizer gives
them distinct first tokens, the category is the most probable of those seven, with its share of
their probability as the score. Checkpoints that cannot name a category (Libra-Guard's own, or a
tokenizer whose first tokens collide) are served with no category.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guardstream.guard.categories import HarmCategory
from guardstream.guard.encoding import common_prefix_length
from guardstream.guard.prompt import ANSWER_PREFIX, UNSAFE_WORD
from guardstream.guard.verdict_parsing import render_verdict_json
from guardstream.records import VerdictLabel

logger = logging.getLogger(__name__)

CATEGORIES: tuple[HarmCategory, ...] = tuple(HarmCategory)
NO_CATEGORY = -1
"""The category index of a score that names none (a checkpoint that cannot name categories)."""


def category_slugs(category: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """Each category index as its slug in UTF-8, as the models' CATEGORY output carries it; empty
    for ``NO_CATEGORY``."""
    slugs = np.array([c.value.encode() for c in CATEGORIES] + [b""], dtype=np.object_)
    named: npt.NDArray[np.object_] = slugs[np.where(category == NO_CATEGORY, len(CATEGORIES), category)]
    return named


def category_bridge() -> str:
    """The text between the unsafe word and the category name in a rendered verdict."""
    rendered = render_verdict_json(VerdictLabel.UNSAFE, CATEGORIES[0], "")
    start = len(ANSWER_PREFIX) + len(UNSAFE_WORD)
    return rendered[start : rendered.index(CATEGORIES[0].chinese_name)]


@dataclass(frozen=True)
class CategoryLayout:
    """Token ids that follow the context: inputs up to the category, then one first token each."""

    inputs: tuple[int, ...]
    first_tokens: tuple[int, ...]


def measure_category_layout(
    answer_ids: Callable[[Sequence[str]], list[list[int]]], context_length: int
) -> CategoryLayout | None:
    """The layout after a context of ``context_length`` tokens; ``answer_ids`` gives the ids of the
    prompt + answer prefix followed by each text it is given.

    None when the category names' first tokens are not distinct, or when tokenization of the
    bridge depends on the name that follows it.
    """
    base_text = UNSAFE_WORD + category_bridge()
    base, *named = answer_ids([base_text] + [base_text + c.chinese_name for c in CATEGORIES])
    shared = min(common_prefix_length(base, ids) for ids in named)
    if shared <= context_length or any(len(ids) <= shared for ids in named):
        return None
    first_tokens = tuple(ids[shared] for ids in named)
    if len(set(first_tokens)) != len(first_tokens):
        logger.info("category names share first tokens with this tokenizer; serving without categories")
        return None
    return CategoryLayout(inputs=tuple(base[context_length:shared]), first_tokens=first_tokens)
