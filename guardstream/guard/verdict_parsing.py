"""Reading a guard model's generated verdict, shared by serving, evaluation and training.

Libra-Guard checkpoints answer ``{"答案": "安全" | "不安全", "分析": "..."}``; models trained here
also name the harm scenario (``"类别"``). Output is parsed tolerantly (broken JSON is repaired),
``不安全`` is tested before ``安全`` (the second is a substring of the first), and anything that
does not clearly state an answer becomes ``review`` — never ``safe``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import json_repair

from guardstream.guard.categories import HarmCategory
from guardstream.records import VerdictLabel

ANSWER_KEYS = ("答案", "answer")
CATEGORY_KEYS = ("类别", "category")
ANALYSIS_KEYS = ("分析", "analysis")
UNSAFE_WORD = "不安全"
SAFE_WORD = "安全"

_ANSWER_PATTERN = re.compile(r'["“”]?(?:答案|answer)["“”]?\s*[:：]\s*["“”]?\s*(不安全|安全)')


@dataclass(frozen=True, slots=True)
class ParsedVerdict:
    """What a generated answer says; ``parsed`` is False when no answer could be read."""

    label: VerdictLabel
    category: HarmCategory | None
    analysis: str | None
    parsed: bool


def parse_guard_output(text: str) -> ParsedVerdict:
    """The verdict stated by ``text``; ``review`` when it states none."""
    document = _json_object(text)
    answer = _first_string(document, ANSWER_KEYS)
    label = _label_from_answer(answer) if answer is not None else None
    if label is None:
        match = _ANSWER_PATTERN.search(text)
        label = _label_from_answer(match.group(1)) if match else None
    if label is None:
        return ParsedVerdict(VerdictLabel.REVIEW, None, _first_string(document, ANALYSIS_KEYS), parsed=False)
    return ParsedVerdict(
        label=label,
        category=_category(_first_string(document, CATEGORY_KEYS)),
        analysis=_first_string(document, ANALYSIS_KEYS),
        parsed=True,
    )


def render_verdict_json(label: VerdictLabel, category: HarmCategory | None, analysis: str) -> str:
    """The answer a guard trained here is taught to write (the inverse of the parser)."""
    import json

    fields: dict[str, str] = {"答案": UNSAFE_WORD if label is VerdictLabel.UNSAFE else SAFE_WORD}
    if category is not None:
        fields["类别"] = category.chinese_name
    fields["分析"] = analysis
    return json.dumps(fields, ensure_ascii=False, indent=2)


def _label_from_answer(answer: str) -> VerdictLabel | None:
    if UNSAFE_WORD in answer:
        return VerdictLabel.UNSAFE
    if SAFE_WORD in answer:
        return VerdictLabel.SAFE
    return None


def _json_object(text: str) -> dict[str, Any]:
    start = text.find("{")
    if start < 0:
        return {}
    try:
        repaired = json_repair.loads(text[start:])
    except Exception:  # json_repair is best effort; any failure means "no document"
        return {}
    if isinstance(repaired, list):
        repaired = next((item for item in repaired if isinstance(item, dict)), {})
    return repaired if isinstance(repaired, dict) else {}


def _first_string(document: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = document.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _category(name: str | None) -> HarmCategory | None:
    if name is None:
        return None
    try:
        return HarmCategory.parse(name)
    except ValueError:
        return None
