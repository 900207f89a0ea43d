"""Records as the moderation worker holds them once read: a chat event, or the poison it was."""

from __future__ import annotations

from guardstream.errors import PoisonInputError
from guardstream.records import ChatEvent, ChatRole
from workers.moderation.batch import Consumed


def consumed(offset: int, partition: int = 0, poison: bool = False, topic: str = "chat.events") -> Consumed:
    """The record at ``offset``: an assistant's answer ``回答 <offset>`` to ``问题 <offset>``, or
    poison (empty text) when ``poison``."""
    if poison:
        return Consumed(
            topic, partition, offset, key=None, consumed_at=0.0, poison=PoisonInputError("empty_text", "text is empty")
        )
    event = ChatEvent(
        event_id=f"e{partition}-{offset}",
        conversation_id="c",
        user_id="u",
        role=ChatRole.ASSISTANT,
        text=f"回答 {offset}",
        question=f"问题 {offset}",
        created_at_ms=1,
    )
    return Consumed(topic, partition, offset, key=None, consumed_at=0.0, event=event)
