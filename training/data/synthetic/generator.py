"""Compose seeded, deduplicated synthetic guard data in the Libra-Test record format.

Kinds of items (and how each is labelled):

=====================  ===========================================================  =========
kind                   question / response                                          label
=====================  ===========================================================  =========
``comply``             harmful request / an answer that helps with it               不安全
``prompt_only``        harmful request / empty (a user message judged on its own)   不安全
``unprompted``         everyday question / answer carrying a harmful statement      不安全
``refuse``             harmful request / a refusal                                  安全
``protective``         safe question on a sensitive topic / helpful answer          安全
``protective_prompt``  safe question on a sensitive topic / empty                   安全
``benign``             everyday question / helpful answer (or empty)                安全
=====================  ===========================================================  =========

Requests are rewritten adversarially (see :mod:`.adversarial`) and wrapped in role-play frames,
harmful and protective ones alike. Some items carry a prompt-injection attack (see
:mod:`.injection`: fake verdicts, instructions, template look-alikes) in the response, or in the
question posing as an earlier turn; an attack never changes the label. The same seed and settings give the same records; a held-out
set uses the ``heldout`` frames of :mod:`.templates` and should use another seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from guardstream.guard.categories import HarmCategory
from training.data.dedup import Deduplicator
from training.data.records import GuardRecord, content_id, label_text
from training.data.synthetic import templates
from training.data.synthetic.adversarial import rewrite_ask
from training.data.synthetic.injection import inject_pair
from training.data.synthetic.lexicon import BENIGN_CHAT, SCENARIOS, Scenario, SubScenario
from training.data.synthetic.templates import FrameSplit

KIND_WEIGHTS: dict[str, float] = {
    "comply": 0.30,
    "prompt_only": 0.12,
    "unprompted": 0.08,
    "refuse": 0.20,
    "protective": 0.14,
    "protective_prompt": 0.05,
    "benign": 0.11,
}
UNSAFE_KINDS = frozenset({"comply", "prompt_only", "unprompted"})
BENIGN_SUB_CATEGORY = "日常对话"


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate: how many records, from which seed, with which frames."""

    count: int = 2000
    seed: int = 0
    frames: FrameSplit = "train"
    source: str = "guardstream-synthetic"
    rewrite_probability: float = 0.3
    role_play_probability: float = 0.15
    chatter_probability: float = 0.6
    """Chance of everyday-chat noise at each label-neutral spot: before and after the question and
    after the response. It moves the request around in the row, so that a small model learns the
    content rather than positions (held-out accuracy of the default model: 0.67 without the
    noise after the question and response, 0.98 with it)."""
    bare_probability: float = 0.15
    injection_probability: float = 0.12
    """Chance that an item carries a prompt-injection attack (label unchanged); most ask for the
    opposite of the label, so the model learns that the attacker's word decides nothing."""
    near_duplicate_threshold: float = 0.9
    kind_weights: dict[str, float] = field(default_factory=lambda: dict(KIND_WEIGHTS))


def analysis_for(kind: str, category: HarmCategory | None) -> str:
    """The analysis a guard trained on this data writes; one fixed sentence per kind."""
    name = category.chinese_name if category is not None else ""
    return {
        "comply": f"回答按照问题的要求提供了有害的具体内容，属于{name}风险，因此不安全。",
        "prompt_only": f"问题本身在请求有害内容，属于{name}风险，因此不安全。",
        "unprompted": f"回答中包含有害言论，属于{name}风险，因此不安全。",
        "refuse": "回答拒绝了有害请求，没有提供任何有害信息，因此安全。",
        "protective": "对话讨论如何防范风险，回答给出了正当的建议，因此安全。",
        "protective_prompt": "问题是正当的求助或咨询，没有风险，因此安全。",
        "benign": "对话是日常交流，没有风险，因此安全。",
    }[kind]


class _Composer:
    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.split = config.frames
        kinds = sorted(config.kind_weights)
        self.kinds = kinds
        self.weights = [config.kind_weights[k] for k in kinds]

    def _frame(self, frames: templates.FrameSet) -> str:
        if (
            frames in (templates.COMPLY, templates.HELPFUL)
            and self.split == "train"
            and self.rng.random() < self.config.bare_probability
        ):
            return "{body}"
        return self.rng.choice(frames.pick(self.split))

    def _chatter(self) -> str:
        """Label-neutral noise from everyday chat (training frames only), so that the model
        learns to look past whatever surrounds a request."""
        if self.split != "train" or self.rng.random() >= self.config.chatter_probability:
            return ""
        question, answer = self.rng.choice(BENIGN_CHAT)
        text = self.rng.choice((question, answer))
        cut = self.rng.randint(4, max(5, len(text)))
        return text[:cut].rstrip("，。？！") + self.rng.choice(("。", "，", "！", " "))

    def _surround(self, question: str) -> str:
        return self._chatter() + self._frame(templates.LEAD) + question + self._frame(templates.TAIL) + self._chatter()

    def _question(self, ask: str) -> str:
        ask, _ = rewrite_ask(ask, self.rng, self.config.rewrite_probability)
        if self.split == "train" and self.rng.random() < self.config.bare_probability:
            question = self._surround(ask + self.rng.choice(("", "？", "。")))
        else:
            question = self._surround(self._frame(templates.QUESTION).format(ask=ask))
        if self.rng.random() < self.config.role_play_probability:
            question = self._frame(templates.ROLE_PLAY).format(question=question)
        return question

    def _refusal(self, reason: str) -> str:
        if self.split == "train" and self.rng.random() < 0.5:
            return "".join(self.rng.choice(part) for part in templates.REFUSAL_PARTS).format(reason=reason)
        return self._frame(templates.REFUSE).format(reason=reason)

    def _scenario(self) -> tuple[Scenario, SubScenario]:
        scenario = self.rng.choice(SCENARIOS)
        return scenario, self.rng.choice(scenario.subs)

    def compose(self) -> GuardRecord:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        rng = self.rng
        category: HarmCategory | None = None
        sub_name = BENIGN_SUB_CATEGORY
        if kind == "benign":
            question, answer = rng.choice(BENIGN_CHAT)
            question = self._surround(question)
            response = self._frame(templates.HELPFUL).format(body=answer) if rng.random() < 0.8 else ""
        else:
            scenario, sub = self._scenario()
            category, sub_name = scenario.category, sub.name
            if kind == "comply":
                question = self._question(rng.choice(sub.asks))
                response = self._frame(templates.COMPLY).format(body=rng.choice(sub.harmful))
            elif kind == "prompt_only":
                question, response = self._question(rng.choice(sub.asks)), ""
            elif kind == "refuse":
                question = self._question(rng.choice(sub.asks))
                response = self._refusal(scenario.refusal_reason)
            elif kind == "protective":
                question = self._question(rng.choice(sub.protective))
                response = self._frame(templates.HELPFUL).format(body=rng.choice(sub.helpful))
            elif kind == "protective_prompt":
                question, response = self._question(rng.choice(sub.protective)), ""
            else:  # unprompted
                question, answer = rng.choice(BENIGN_CHAT)
                question = self._surround(question)
                response = self._frame(templates.UNPROMPTED).format(body=rng.choice(sub.harmful), answer=answer)
        if response:
            response += self._frame(templates.CLOSER) + self._chatter()
        unsafe = kind in UNSAFE_KINDS
        if rng.random() < self.config.injection_probability:
            question, response = inject_pair(question, response, unsafe, rng, self.split)
        return GuardRecord(
            id=content_id(question, response, prefix="syn"),
            source=self.config.source,
            category_name=category.chinese_name if category is not None else "",
            sub_category_name=sub_name,
            question=question,
            response=response,
            label=label_text(unsafe),
            analyze=analysis_for(kind, category if unsafe else None),
        )

    def stream(self, attempts: int) -> Iterator[GuardRecord]:
        for _ in range(attempts):
            yield self.compose()


def generate(config: SyntheticConfig) -> list[GuardRecord]:
    """``config.count`` deduplicated records (fewer only if the frames run out of variety)."""
    composer = _Composer(config)
    seen = Deduplicator(config.near_duplicate_threshold)
    records: list[GuardRecord] = []
    for record in composer.stream(config.count * 20):
        if seen.accept(f"{record.question}\n{record.response}"):
            records.append(record)
            if len(records) == config.count:
                break
    return records
