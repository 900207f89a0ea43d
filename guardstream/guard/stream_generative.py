"""The generative guard scoring a streamed reply: a key/value cache per stream, so a chunk costs O(chunk).

A stream's state holds the keys and values of its prompt up to the reply seen so far: the
template's head, the question and the dialogue's middle (computed when the stream opens, from the
scorer's shared instruction prefix), then the reply's tokens. A delta feeds only its own tokens
(and those of the still open piece that changed, below) and commits them; the template's tail, the
answer prefix and the answer words' continuation are then fed on top of the cache *without*
committing them (they are run against a read-only view of it, exactly as :class:`GuardScorer` runs
its rows after its shared prefix), and p_unsafe and the category are read from those positions by
:meth:`GuardScorer.score_contexts`. The cache therefore always ends with the reply.

Tokens. The reply is cut into pieces tokenized apart (:mod:`guardstream.guard.reply_pieces`): cuts
fall at the tokenizer's pre-token splits, where they change nothing, or every
:data:`~guardstream.guard.reply_pieces.MAX_PIECE_CHARS` characters of a run with no split, where a
merge across the cut can differ from the one-pass tokens. The cuts depend on the text only, so
:meth:`GenerativeStreamScorer.open` with the text already seen builds the very tokens (and cache,
up to float rounding) that the stream built chunk by chunk.

Long replies. The model is only in distribution on prompts of ``max_input_tokens`` (512, as it was
trained and as :class:`GuardScorer` cuts them), so a stream reads a window of the reply's last
tokens: the question keeps at most half the text budget (its last tokens, as
:func:`~guardstream.guard.encoding.split_budget` leaves it for a long reply), and when the reply's
closed pieces pass the rest of the budget less one open piece, the oldest pieces are dropped until
half of it is left and the window's tokens are fed again at their new positions. That costs the
window once per half window of reply, so a chunk costs O(chunk) amortized whatever the reply's
length, and the prompt never passes ``max_input_tokens`` plus one open piece, which the constructor
checks is inside the model's position limit. Where the one-pass scorer reads the last
``budget - question`` tokens, a long stream reads between half and all of them: the one place where
scores differ by more than rounding.

Rewind. Each chunk boundary seen records the cache's length; a rewind to one crops the cache. A
window move forgets the boundaries before it (their prompts are gone from the cache): a rewind to
one of them answers False, and the caller rebuilds.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
from transformers import DynamicCache

from guardstream.errors import ConfigurationError
from guardstream.guard.checkpoint import pad_token_id
from guardstream.guard.encoding import common_prefix_length, last_ids
from guardstream.guard.prefix_cache import PrefixCache, RowRunner
from guardstream.guard.reply_pieces import MAX_PIECE_CHARS, PieceCutter, settled
from guardstream.guard.scoring import GuardScorer, Scores, concatenate_scores
from guardstream.guard.stream_scoring import StreamState

MAX_TOKENS_PER_CHAR = 4
"""A byte-level tokenizer's worst case (UTF-8 is at most four bytes a character): bounds an open
piece's tokens when checking the position limit."""


class GenerativeStreamState:
    """One stream: the reply seen, the token ids its cache holds, the window's pieces and boundaries."""

    def __init__(self, question: str, ids: list[int], cache: DynamicCache, reply_budget: int) -> None:
        self._question = question
        self.text = ""
        self.ids = ids
        """The ids the cache holds: the prompt's body (head, question, middle), then the window's reply."""
        self.cache = cache
        self.body_length = len(ids)
        self.reply_budget = reply_budget
        """Tokens of reply the prompt has room for beside this question's."""
        self.window_start = 0
        """The first reply character the window holds."""
        self.pieces: list[tuple[int, int]] = []
        """The window's closed pieces: (end character, tokens), in order; the open piece follows."""
        self.closed_tokens = 0
        self._boundaries: dict[int, int] = {}
        """Chunk boundaries seen in the current window: reply characters -> tokens the cache held."""

    @property
    def question(self) -> str:
        return self._question

    @property
    def chars(self) -> int:
        return len(self.text)

    @property
    def tokens(self) -> int:
        """Tokens the cache holds (prompt body and the window's reply; never the answer's tail)."""
        return int(self.cache.get_seq_length())

    @property
    def size_bytes(self) -> int:
        """Bytes of the cache's keys and values."""
        return sum(
            tensor.numel() * tensor.element_size()
            for layer in self.cache.layers
            for tensor in (layer.keys, layer.values)
        )

    @property
    def open_start(self) -> int:
        """The first character of the open piece (the reply after the last cut)."""
        return self.pieces[-1][0] if self.pieces else self.window_start

    def mark_boundary(self) -> None:
        """Remember the reply's current end as a chunk boundary to rewind to."""
        self._boundaries[len(self.text)] = len(self.ids)

    def close_piece(self, end: int, tokens: int, limit: int) -> bool:
        """Close the open piece at ``end``; when the closed pieces pass ``limit`` tokens, drop the
        oldest until half of it is left, the window then starting after them, and forget the boundaries
        seen (the cache no longer holds their prompts). True when the window moved."""
        self.pieces.append((end, tokens))
        self.closed_tokens += tokens
        if self.closed_tokens <= limit:
            return False
        dropped = 0
        while self.pieces and self.closed_tokens - dropped > limit // 2:
            self.window_start, piece_tokens = self.pieces.pop(0)
            dropped += piece_tokens
        self.closed_tokens -= dropped
        del self.ids[self.body_length : self.body_length + dropped]
        self._boundaries.clear()
        return True

    def rewind(self, chars: int) -> bool:
        """Crop back to a chunk boundary seen since the window last moved (False for any other)."""
        tokens = self._boundaries.get(chars)
        if tokens is None:
            return False
        self.text = self.text[:chars]
        del self.ids[tokens:]
        crop(self.cache, tokens)
        self.pieces = [piece for piece in self.pieces if piece[0] <= settled(chars)]
        self.closed_tokens = sum(piece_tokens for _, piece_tokens in self.pieces)
        self._boundaries = {seen: held for seen, held in self._boundaries.items() if seen <= chars}
        return True


class GenerativeStreamScorer:
    """:class:`~guardstream.guard.stream_scoring.StreamScorer` over the generative guard's score mode."""

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        max_input_tokens: int = 512,
        categories: bool | None = None,
    ) -> None:
        """``max_input_tokens`` and ``categories`` as for :class:`GuardScorer`."""
        self._guard = GuardScorer(
            checkpoint, device=device, dtype=dtype, max_input_tokens=max_input_tokens, categories=categories
        )
        shared = self._guard.runner.prefix
        if shared is None:
            raise ConfigurationError(
                f"the guard at {checkpoint} keeps no plain key/value cache (sliding-window or "
                "linear attention); streams cannot be scored incrementally with it"
            )
        self._shared = shared
        self._backbone = self._guard.model.get_decoder()
        self._pad_id = pad_token_id(self._guard.tokenizer)
        encoder = self._guard.encoder
        self._prompt = encoder.prompt
        self._cutter = PieceCutter(encoder.prompt.plain)
        self._question_budget = encoder.text_budget // 2
        if encoder.text_budget - self._question_budget - MAX_PIECE_CHARS < MAX_PIECE_CHARS:
            raise ConfigurationError(
                f"max_input_tokens={max_input_tokens} leaves the reply too few tokens to stream in "
                f"pieces of {MAX_PIECE_CHARS} characters; raise it"
            )
        positions = getattr(self._guard.model.config, "max_position_embeddings", None)
        longest = max_input_tokens + MAX_TOKENS_PER_CHAR * MAX_PIECE_CHARS
        if isinstance(positions, int) and longest > positions:
            raise ConfigurationError(
                f"max_input_tokens={max_input_tokens} lets a stream's prompt reach {longest} tokens with "
                f"its open piece, past the model's {positions} positions; lower it"
            )

    @property
    def guard(self) -> GuardScorer:
        """The one-pass scorer underneath (its model, tokenizer and layouts)."""
        return self._guard

    def open(self, question: str, text: str) -> GenerativeStreamState:
        with torch.inference_mode():
            question_ids = self._prompt.plain.ids([question])[0]
            keep = min(len(question_ids), self._question_budget)
            body = self._prompt.body(last_ids(question_ids, keep), [])
            # Starts from the shared instruction prefix: updates concatenate, never write into its tensors.
            cache = DynamicCache(ddp_cache_data=self._shared.layers)
            state = GenerativeStreamState(question, body, cache, self._guard.encoder.text_budget - keep)
            self._feed(state, len(self._shared.ids))
            if text:
                self._extend(state, text)
            state.mark_boundary()
            return state

    def advance(self, steps: Sequence[tuple[StreamState, str]]) -> Scores:
        """Each stream in turn: its delta committed, then its score (no batching across streams,
        whose caches differ in length; so no score depends on another stream)."""
        parts: list[Scores] = []
        with torch.inference_mode():
            for state, delta in steps:
                own = _own(state)
                if delta:
                    self._extend(own, delta)
                    own.mark_boundary()
                parts.append(self._score(own))
        return concatenate_scores(parts)

    def _extend(self, state: GenerativeStreamState, delta: str) -> None:
        """Append ``delta``: cut what it settles, tokenize the pieces it touched, feed what changed."""
        known = len(state.text)
        state.text += delta
        start = state.open_start
        cuts = self._cutter.cuts(state.text, start, known)
        pieces = self._prompt.plain.ids([state.text[a:b] for a, b in pairwise([start, *cuts, len(state.text)])])
        base = state.body_length + state.closed_tokens
        fresh = [token for piece in pieces for token in piece]
        sync = base + common_prefix_length(state.ids[base:], fresh)
        state.ids[base:] = fresh
        limit = state.reply_budget - MAX_PIECE_CHARS
        for end, piece in zip(cuts, pieces, strict=False):
            if state.close_piece(end, len(piece), limit):
                sync = state.body_length
        self._feed(state, sync)

    def _feed(self, state: GenerativeStreamState, sync: int) -> None:
        """Make the cache hold ``state.ids``, of which it holds the first ``sync`` already."""
        keep = min(sync, state.tokens)
        crop(state.cache, keep)
        fresh = state.ids[keep:]
        if fresh:
            self._backbone(
                input_ids=torch.tensor([fresh], dtype=torch.long, device=self._guard.device),
                **{self._shared.keyword: state.cache},
                use_cache=True,
            )

    def _score(self, state: GenerativeStreamState) -> Scores:
        """The answer's tail run on a read-only view of the cache, scored as the one-pass scorer does."""
        layers = [(layer.keys, layer.values) for layer in state.cache.layers]
        runner = RowRunner(
            self._backbone, self._guard.device, self._pad_id, PrefixCache(state.ids, layers, self._shared.keyword)
        )
        return self._guard.score_contexts([state.ids + self._guard.encoder.tail_context], runner)


def crop(cache: DynamicCache, tokens: int) -> None:
    """Keep the cache's first ``tokens`` positions. Sliced here because ``DynamicCache.crop`` changed
    meaning inside the pinned transformers range (a length to keep, then a count to remove)."""
    for layer in cache.layers:
        layer.keys = layer.keys[..., :tokens, :]
        layer.values = layer.values[..., :tokens, :]


def _own(state: Any) -> GenerativeStreamState:
    if not isinstance(state, GenerativeStreamState):
        raise TypeError(f"the generative stream scorer cannot extend a {type(state).__name__}")
    return state
