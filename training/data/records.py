"""The Libra-Test record format: what every training and evaluation item looks like.

Libra-Test items are JSON objects with ``source``, ``category_name``, ``sub_category_name``,
``question``, ``response``, ``label`` (``安全`` or ``不安全``), ``analyze`` and ``id``. Synthetic,
imported and human-labelled data all become :class:`GuardRecord`, and are written back in the
same format, so an outside tool reads our files as it reads Libra-Test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from guardstream.guard.categories import HarmCategory
from guardstream.records import VerdictLabel

SAFE_LABEL = "安全"
UNSAFE_LABEL = "不安全"
FIELDS = ("source", "category_name", "sub_category_name", "question", "response", "label", "analyze", "id")
REQUIRED = ("question", "response", "label")

_LABEL_ALIASES = {
    SAFE_LABEL: SAFE_LABEL,
    UNSAFE_LABEL: UNSAFE_LABEL,
    "safe": SAFE_LABEL,
    "unsafe": UNSAFE_LABEL,
    "0": SAFE_LABEL,
    "1": UNSAFE_LABEL,
}


class RecordError(ValueError):
    """A record that is not a valid Libra-Test item; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class GuardRecord:
    """One labelled (question, response) pair in Libra-Test's format."""

    id: str
    source: str
    category_name: str
    sub_category_name: str
    question: str
    response: str
    label: str
    analyze: str = ""

    @property
    def unsafe(self) -> bool:
        return self.label == UNSAFE_LABEL

    @property
    def verdict_label(self) -> VerdictLabel:
        return VerdictLabel.UNSAFE if self.unsafe else VerdictLabel.SAFE

    @property
    def category(self) -> HarmCategory | None:
        """The harm scenario named by ``category_name``, when it is one of the seven."""
        try:
            return HarmCategory.parse(self.category_name) if self.category_name else None
        except ValueError:
            return None

    @property
    def pair(self) -> tuple[str, str]:
        return self.question, self.response

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_dict(cls, data: Any, *, default_source: str = "", default_id: str | None = None) -> GuardRecord:
        """Validate one raw item; raises :class:`RecordError` naming the offending field."""
        if not isinstance(data, dict):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}")
        for name in REQUIRED:
            if name not in data or data[name] is None:
                raise RecordError(f"missing required field {name!r}")
        values: dict[str, str] = {}
        for name in FIELDS:
            value = data.get(name)
            if value is None:
                value = ""
            if isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("id", "label"):
                value = str(int(value)) if float(value).is_integer() else str(value)
            if not isinstance(value, str):
                raise RecordError(f"field {name!r} must be a string, got {type(value).__name__}")
            values[name] = value
        label = _LABEL_ALIASES.get(values["label"].strip().lower()) or _LABEL_ALIASES.get(values["label"].strip())
        if label is None:
            raise RecordError(f"field 'label' must be {SAFE_LABEL!r} or {UNSAFE_LABEL!r}, got {values['label']!r}")
        if not values["question"].strip() and not values["response"].strip():
            raise RecordError("question and response are both empty")
        values["label"] = label
        values["source"] = values["source"] or default_source
        if not values["id"]:
            values["id"] = default_id or content_id(values["question"], values["response"])
        return cls(**values)


def content_id(question: str, response: str, prefix: str = "item") -> str:
    """A stable id from the pair's text."""
    digest = hashlib.sha1(f"{question}\x00{response}".encode()).hexdigest()[:16]
    return f"{prefix}-{digest}"


def label_text(unsafe: bool) -> str:
    return UNSAFE_LABEL if unsafe else SAFE_LABEL
