"""How a policy moderates a streamed reply: which guard scores it, debounce and hold-back.

The ``streaming`` section of a policy file (every field optional)::

    streaming:
      model: fast            # fast: the fast guard over a window of the reply's last characters;
                             # generative: the generative guard over the whole reply (its KV cache)
      stop_threshold: 0.85   # a chunk score at or above it counts towards a stop
      debounce_chunks: 2     # consecutive such chunk scores that stop a stream
      hold_back_chars: 30    # characters a client keeps back from the screen while a reply streams
      categories:            # per harm category (the chunk's most probable one)
        physical_mental_health: {stop_threshold: 0.7, debounce_chunks: 1, hold_back_chars: 60}

A chunk score the policy labels unsafe (its category's thresholds, else the global ones) puts the
stream on **hold**: nothing more is shown until a chunk scores below it again. A stream **stops**
after ``debounce_chunks`` chunk scores in a row at or above ``stop_threshold`` (and unsafe by the
policy). The stop threshold is higher than the policy's because a stream is judged on text that may
end mid-sentence: measured on generated replies, half-sentences of harmless text about scams or
prejudice reach the policy's unsafe threshold far more often than whole replies do. While a reply
streams without suspicion, a client shows all but its last ``hold_back_chars`` characters, so harm
found within that many characters of its start never reaches the screen.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from guardstream.guard.categories import HarmCategory


class StreamModel(StrEnum):
    """Which guard scores streamed replies."""

    FAST = "fast"
    GENERATIVE = "generative"


class StreamCategoryRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stop_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    debounce_chunks: int | None = Field(default=None, ge=1, le=64)
    hold_back_chars: int | None = Field(default=None, ge=0, le=10_000)


class StreamingRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: StreamModel = StreamModel.FAST
    stop_threshold: float = Field(
        default=0.85, ge=0.0, le=1.0, description="A chunk score at or above it counts towards a stop."
    )
    debounce_chunks: int = Field(
        default=2, ge=1, le=64, description="Consecutive unsafe chunk scores that stop a stream."
    )
    hold_back_chars: int = Field(
        default=30, ge=0, le=10_000, description="Characters a client keeps back from the screen while a reply streams."
    )
    categories: dict[HarmCategory, StreamCategoryRules] = Field(default_factory=dict)

    def stop(self, category: HarmCategory | None) -> float:
        rules = self.categories.get(category) if category is not None else None
        return rules.stop_threshold if rules is not None and rules.stop_threshold is not None else self.stop_threshold

    def debounce(self, category: HarmCategory | None) -> int:
        rules = self.categories.get(category) if category is not None else None
        return (
            rules.debounce_chunks if rules is not None and rules.debounce_chunks is not None else self.debounce_chunks
        )

    def hold_back(self, category: HarmCategory | None) -> int:
        rules = self.categories.get(category) if category is not None else None
        return (
            rules.hold_back_chars if rules is not None and rules.hold_back_chars is not None else self.hold_back_chars
        )
