"""A seeded stream of realistic Chinese live-chat events for demos and benchmarks.

Many conversations run interleaved, as on a busy live-chat service: users ask questions and chat,
assistant replies carry the ``question`` they answer and the earlier turns as ``context``. Most of
the talk is ordinary; a minority is harmful across the seven harm scenarios, sometimes refused by
the assistant and sometimes not. Each event's ``metadata`` carries the generator's ground truth
(``expected`` safe/unsafe, ``harm_category``), so a benchmark can score verdicts.

The same ``seed`` gives the same events (ids, texts, order and time offsets); ``start_ms`` sets the
clock (default: now, so end-to-end latency figures are meaningful in a live demo).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from devtools.loadgen import corpus
from devtools.loadgen.poison import poison_payloads
from guardstream.records import ChatEvent, ChatRole

__all__ = ["generate_chat_events", "poison_payloads"]

# Share of conversations of each kind.
_KINDS: tuple[tuple[str, float], ...] = (
    ("ordinary", 0.78),
    ("chitchat", 0.07),
    ("harmful_refused", 0.07),
    ("harmful_complied", 0.05),
    ("abuse", 0.03),
)
_ACTIVE_CONVERSATIONS = 64
_CONTEXT_TURNS = 6
_MEAN_GAP_MS = 2.0
_CLIENTS = ("ios", "android", "web", "mini-program")
_LOCALES = ("zh-CN",) * 8 + ("zh-TW", None)


@dataclass(slots=True)
class _Turn:
    role: ChatRole
    text: str
    expected: str
    category: str | None = None


@dataclass(slots=True)
class _Conversation:
    conversation_id: str
    user_id: str
    kind: str
    channel: str
    client: str
    locale: str | None
    turns: deque[_Turn]
    history: list[str] = field(default_factory=list)
    last_user_text: str | None = None


class _Writer:
    """Composes texts from the corpus with a given random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def question(self, core: str) -> str:
        r = self.rng
        background = r.choice(corpus.USER_BACKGROUNDS) if r.random() < 0.15 else ""
        return f"{background}{r.choice(corpus.USER_PREFIXES)}{core}{r.choice(corpus.USER_SUFFIXES)}"

    def answer(self, sentences: tuple[str, ...]) -> str:
        r = self.rng
        k = r.choices((1, 2, 3, 4, 5, 6, 8), weights=(22, 30, 20, 10, 8, 6, 4))[0]
        body = "".join(r.choice(sentences) for _ in range(k))
        return f"{r.choice(corpus.ASSISTANT_OPENERS)}{body}{r.choice(corpus.ASSISTANT_CLOSERS)}"

    def ordinary(self) -> list[_Turn]:
        r = self.rng
        topic = corpus.TOPICS[r.choice(tuple(corpus.TOPICS))]
        turns: list[_Turn] = []
        if r.random() < 0.3:
            turns.append(_Turn(ChatRole.USER, r.choice(corpus.CHITCHAT), "safe"))
        turns.append(_Turn(ChatRole.USER, self.question(r.choice(topic["questions"])), "safe"))
        turns.append(_Turn(ChatRole.ASSISTANT, self.answer(topic["answers"]), "safe"))
        for _ in range(r.choices((0, 1, 2), weights=(55, 35, 10))[0]):
            turns.append(_Turn(ChatRole.USER, r.choice(corpus.USER_FOLLOWUPS), "safe"))
            turns.append(_Turn(ChatRole.ASSISTANT, self.answer(topic["answers"]), "safe"))
        if r.random() < 0.25:
            turns.append(_Turn(ChatRole.USER, r.choice(corpus.CHITCHAT), "safe"))
        return turns

    def chitchat(self) -> list[_Turn]:
        r = self.rng
        return [_Turn(ChatRole.USER, r.choice(corpus.CHITCHAT), "safe") for _ in range(r.randint(1, 4))]

    def harmful(self, comply: bool) -> list[_Turn]:
        r = self.rng
        slug = r.choice(tuple(corpus.HARMFUL))
        material = corpus.HARMFUL[slug]
        name = corpus.HARM_CATEGORIES[slug]
        turns = [_Turn(ChatRole.USER, self.question(r.choice(material["questions"])), "unsafe", name)]
        if comply:
            reply = r.choice(material["replies"])
            if r.random() < 0.4:
                reply = r.choice(corpus.ASSISTANT_OPENERS) + reply
            turns.append(_Turn(ChatRole.ASSISTANT, reply, "unsafe", name))
        else:
            reply = r.choice(corpus.REFUSALS)
            if r.random() < 0.7:
                reply += r.choice(corpus.REFUSAL_FOLLOWUPS[slug])
            turns.append(_Turn(ChatRole.ASSISTANT, reply, "safe", None))
        return turns

    def abuse(self) -> list[_Turn]:
        r = self.rng
        name = corpus.HARM_CATEGORIES["hate_abuse"]
        lines = corpus.HARMFUL["hate_abuse"]["abuse"]
        turns = [_Turn(ChatRole.USER, r.choice(corpus.CHITCHAT), "safe")] if r.random() < 0.3 else []
        turns += [_Turn(ChatRole.USER, line, "unsafe", name) for line in r.sample(lines, r.randint(1, 3))]
        return turns


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_chat_events(n: int, seed: int, start_ms: int | None = None) -> Iterator[ChatEvent]:
    """Yield ``n`` ChatEvents of interleaved conversations, reproducibly for a given ``seed``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    writer = _Writer(rng)
    clock = float(time.time_ns() // 1_000_000 if start_ms is None else start_ms)
    user_pool = max(50, n // 20)
    trolls = [f"u{user_pool + i:06d}" for i in range(max(3, user_pool // 100))]
    kinds = [k for k, _ in _KINDS]
    weights = [w for _, w in _KINDS]
    next_conversation = 0

    def new_conversation() -> _Conversation:
        nonlocal next_conversation
        next_conversation += 1
        kind = rng.choices(kinds, weights)[0]
        if kind == "ordinary":
            turns = writer.ordinary()
        elif kind == "chitchat":
            turns = writer.chitchat()
        elif kind == "abuse":
            turns = writer.abuse()
        else:
            turns = writer.harmful(comply=kind == "harmful_complied")
        user = rng.choice(trolls) if kind == "abuse" else f"u{int(user_pool * rng.random() ** 2):06d}"
        return _Conversation(
            conversation_id=f"conv-{seed}-{next_conversation:07d}",
            user_id=user,
            kind=kind,
            channel=f"live-{rng.randint(1, 40):03d}",
            client=rng.choice(_CLIENTS),
            locale=rng.choice(_LOCALES),
            turns=deque(turns),
        )

    active = [new_conversation() for _ in range(min(_ACTIVE_CONVERSATIONS, max(n, 1)))]
    for _ in range(n):
        slot = rng.randrange(len(active))
        conv = active[slot]
        turn = conv.turns.popleft()
        clock += rng.expovariate(1.0 / _MEAN_GAP_MS)
        metadata = {
            "channel": conv.channel,
            "client": conv.client,
            "source": "loadgen",
            "scenario": conv.kind,
            "expected": turn.expected,
        }
        if turn.category:
            metadata["harm_category"] = turn.category
        question = None
        if turn.role is ChatRole.ASSISTANT:
            question = conv.last_user_text
        yield ChatEvent(
            event_id=_uuid(rng),
            conversation_id=conv.conversation_id,
            user_id=conv.user_id,
            role=turn.role,
            text=turn.text,
            question=question,
            context=tuple(conv.history[-_CONTEXT_TURNS:]),
            created_at_ms=int(clock),
            locale=conv.locale,
            metadata=metadata,
        )
        conv.history.append(turn.text)
        if turn.role is ChatRole.USER:
            conv.last_user_text = turn.text
        if not conv.turns:
            active[slot] = new_conversation()
