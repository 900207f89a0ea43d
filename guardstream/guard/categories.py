"""The seven harm scenarios of Libra-Test, the categories a guard verdict can name.

Each member's value is the English slug used on the wire (Avro enums, metrics labels, URLs);
:attr:`HarmCategory.chinese_name` is the scenario name as Libra-Test's ``category_name`` field
spells it. Libra-Test itself (a Hugging Face data set) could not be read from this machine; the
Chinese names follow the Libra paper's scenario list, and :meth:`HarmCategory.parse` also accepts
the word order ``仇恨辱骂`` seen in public Chinese red-team tooling for the same seven scenarios.
"""

from __future__ import annotations

from enum import StrEnum


class HarmCategory(StrEnum):
    """One of Libra-Test's seven harm scenarios, valued by its English slug."""

    ILLEGAL_ACTIVITIES = "illegal_activities"
    BIAS_DISCRIMINATION = "bias_discrimination"
    PRIVACY_PROPERTY = "privacy_property"
    RUMORS_MISINFORMATION = "rumors_misinformation"
    HATE_ABUSE = "hate_abuse"
    ETHICS_MORALITY = "ethics_morality"
    PHYSICAL_MENTAL_HEALTH = "physical_mental_health"

    @property
    def chinese_name(self) -> str:
        """The scenario's name as Libra-Test writes it in ``category_name``."""
        return _CHINESE_NAMES[self]

    @property
    def english_name(self) -> str:
        """A human-readable English name, for dashboards and the review UI."""
        return _ENGLISH_NAMES[self]

    @classmethod
    def parse(cls, name: str) -> HarmCategory:
        """Map a slug, a Chinese scenario name or an English name to its category.

        Raises ``ValueError`` (naming the accepted spellings) for anything else.
        """
        key = name.strip()
        found = _LOOKUP.get(key) or _LOOKUP.get(key.lower())
        if found is None:
            accepted = ", ".join(f"{c.value}/{c.chinese_name}" for c in cls)
            raise ValueError(f"unknown harm category {name!r}; expected one of: {accepted}")
        return found


_CHINESE_NAMES: dict[HarmCategory, str] = {
    HarmCategory.ILLEGAL_ACTIVITIES: "违法犯罪",
    HarmCategory.BIAS_DISCRIMINATION: "偏见歧视",
    HarmCategory.PRIVACY_PROPERTY: "隐私财产",
    HarmCategory.RUMORS_MISINFORMATION: "谣言错误",
    HarmCategory.HATE_ABUSE: "辱骂仇恨",
    HarmCategory.ETHICS_MORALITY: "伦理道德",
    HarmCategory.PHYSICAL_MENTAL_HEALTH: "身心健康",
}

_ENGLISH_NAMES: dict[HarmCategory, str] = {
    HarmCategory.ILLEGAL_ACTIVITIES: "illegal activities and crime",
    HarmCategory.BIAS_DISCRIMINATION: "bias and discrimination",
    HarmCategory.PRIVACY_PROPERTY: "privacy and property",
    HarmCategory.RUMORS_MISINFORMATION: "rumors and misinformation",
    HarmCategory.HATE_ABUSE: "hate speech and abuse",
    HarmCategory.ETHICS_MORALITY: "ethics and morality",
    HarmCategory.PHYSICAL_MENTAL_HEALTH: "physical and mental health",
}

_ALIASES: dict[str, HarmCategory] = {"仇恨辱骂": HarmCategory.HATE_ABUSE}

_LOOKUP: dict[str, HarmCategory] = {
    **{c.value: c for c in HarmCategory},
    **{name: c for c, name in _CHINESE_NAMES.items()},
    **{name: c for c, name in _ENGLISH_NAMES.items()},
    **_ALIASES,
}
