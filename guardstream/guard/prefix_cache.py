"""Score mode's forward passes: the shared prompt prefix computed once, rows grouped by length.

Every score-mode row begins with the same tokens: the chat template's start, the Libra-Guard
instruction and the dialogue header up to the question. Their keys and values are computed once
per loaded model (on its device, in its dtype) and reused by every batch: a row whose token ids
begin with exactly those ids feeds only its *tail*, at positions ``P, P+1, …``, with an attention
mask over prefix + tail. The check is made on each row's own token ids, so a question whose first
characters merge with the prefix's last token (a BPE merge across the boundary) is simply run in
full and counted in :attr:`RowRunner.full_rows`.

Rows are then sorted by length and cut into groups (:func:`plan_groups`), so that short rows are
not padded to the longest row of the batch. Neither step changes what a row computes: it sees the
same token ids at the same positions as one plain forward pass over the whole row, right-padded.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from guardstream.guard.encoding import common_prefix_length

logger = logging.getLogger(__name__)

# Questions whose first characters are likely to merge with the prefix's last token (punctuation,
# letters, digits, spaces, newlines, emoji, special-token text); the prefix is what all of them share.
BOUNDARY_PROBES: tuple[str, ...] = (
    "",
    "a",
    "A",
    "1",
    " ",
    "  x",
    "\n",
    "\t",
    "：",
    ":",
    "!",
    "'s",
    "你",
    "人类的问题：",
    "😀",
    "\ufffd",
    "<|im_end|>",
    "<|endoftext|>",
    "안녕",
    "привет",
)
# Cost model of one forward pass, in units of one token through the layers' linear maps: a pass
# costs OVERHEAD_TOKENS, each padded token 1, plus its attention over the keys it sees, in units of
# ATTENTION_PER_HIDDEN × hidden_size keys (measured on CPU with the embedded default model).
OVERHEAD_TOKENS = 96.0
ATTENTION_PER_HIDDEN = 3.0


def shared_prefix(contexts: Sequence[Sequence[int]]) -> list[int]:
    """The longest token prefix common to all ``contexts``, less one token so each keeps a tail."""
    if not contexts:
        return []
    first = list(contexts[0])
    length = min([len(ids) - 1 for ids in contexts] + [common_prefix_length(first, ids) for ids in contexts[1:]])
    return first[: max(length, 0)]


def plan_groups(
    lengths: Sequence[int], *, overhead: float, context: int = 0, attention_span: float = float("inf")
) -> list[list[int]]:
    """Row indices grouped into forward passes: sorted by length, cut where padding costs more than a pass.

    A group of ``b`` rows padded to width ``w`` costs ``overhead + b·w·(1 + (context + w) / attention_span)``;
    the cuts minimise the total (dynamic programming over the sorted lengths).
    """
    n = len(lengths)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: lengths[i])
    widths = np.array([lengths[i] for i in order], dtype=np.float64)
    per_row = widths * (1.0 + (context + widths) / attention_span)
    best = np.zeros(n + 1)
    cut = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        starts = np.arange(end)
        costs = best[:end] + overhead + (end - starts) * per_row[end - 1]
        cut[end] = int(np.argmin(costs))
        best[end] = costs[cut[end]]
    groups: list[list[int]] = []
    end = n
    while end > 0:
        groups.append(order[cut[end] : end])
        end = int(cut[end])
    return groups[::-1]


def cache_keyword(backbone: Any) -> str | None:
    """The name under which this backbone's forward takes a KV cache (it was renamed in transformers 5)."""
    parameters = inspect.signature(backbone.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in parameters:
            return name
    return None


class PrefixCache:
    """Keys and values of the shared prefix for one loaded model, batch size 1."""

    def __init__(self, ids: Sequence[int], layers: list[tuple[torch.Tensor, torch.Tensor]], keyword: str) -> None:
        self.ids = list(ids)
        self.layers = layers
        self.keyword = keyword

    @classmethod
    def build(cls, backbone: Any, ids: Sequence[int], device: torch.device) -> PrefixCache | None:
        """Run the prefix once; None when this model's cache is not a plain per-layer key/value store."""
        keyword = cache_keyword(backbone)
        if keyword is None or len(ids) == 0:
            return None
        with torch.inference_mode():
            output = backbone(
                input_ids=torch.tensor([list(ids)], dtype=torch.long, device=device),
                attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=device),
                use_cache=True,
            )
        return cls.from_output(ids, output, keyword)

    @classmethod
    def from_output(cls, ids: Sequence[int], output: Any, keyword: str) -> PrefixCache | None:
        """The keys and values a forward pass over ``ids`` (batch 1, ``use_cache``) left; None when
        they are not a plain per-layer store (training calls this with gradients on)."""
        cache = getattr(output, "cache", None) or getattr(output, "past_key_values", None)
        layers = getattr(cache, "layers", None)
        if not layers or any(type(layer) is not DynamicLayer for layer in layers):
            # Sliding-window, linear-attention or quantized caches keep other state: run rows in full.
            logger.info("prefix cache off: the model's cache is not plain full attention")
            return None
        if any(layer.keys.shape[-2] != len(ids) for layer in layers):
            return None
        return cls(ids, [(layer.keys, layer.values) for layer in layers], keyword)

    def expanded(self, batch: int) -> DynamicCache:
        """A fresh cache holding the prefix for ``batch`` rows (expanded views, copied on first use)."""
        return DynamicCache(
            ddp_cache_data=[
                (keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1)) for keys, values in self.layers
            ]
        )

    def matches(self, row: Sequence[int], first_read: int) -> bool:
        """True when ``row`` begins with the prefix's ids and reads nothing inside the prefix."""
        length = len(self.ids)
        return first_read >= length and len(row) > length and list(row[:length]) == self.ids


class RowRunner:
    """Hidden states at chosen (row, position) pairs of token rows, by as few padded tokens as is worth it."""

    def __init__(self, backbone: Any, device: torch.device, pad_id: int, prefix: PrefixCache | None) -> None:
        self._backbone = backbone
        self._device = device
        self._pad_id = pad_id
        self.prefix = prefix
        hidden = getattr(getattr(backbone, "config", None), "hidden_size", None)
        self._attention_span = ATTENTION_PER_HIDDEN * hidden if isinstance(hidden, int) else float("inf")
        self.overhead_tokens = OVERHEAD_TOKENS
        # Over the runner's life: rows that fed only their tail, and rows run in full because their
        # ids did not begin with the prefix's (counted only while there is a prefix cache).
        self.cached_rows = 0
        self.full_rows = 0

    def hidden_at(
        self, rows: Sequence[Sequence[int]], read_rows: npt.NDArray[np.int64], read_positions: npt.NDArray[np.int64]
    ) -> torch.Tensor:
        """Last hidden state of row ``read_rows[k]`` at position ``read_positions[k]``, for each k: ``[reads, hidden]``."""
        if len(read_rows) == 0:
            raise ValueError("hidden_at needs at least one position to read")
        reads_of: list[list[int]] = [[] for _ in rows]
        for k, row in enumerate(read_rows.tolist()):
            reads_of[row].append(k)
        first_read = [
            min((int(read_positions[k]) for k in ks), default=len(row)) for ks, row in zip(reads_of, rows, strict=True)
        ]
        prefix = self.prefix
        cached: list[int] = []
        full: list[int] = []
        for index, row in enumerate(rows):
            if prefix is not None and prefix.matches(row, first_read[index]):
                cached.append(index)
            else:
                full.append(index)
        if prefix is not None:
            self.cached_rows += len(cached)
            self.full_rows += len(full)
            if full:
                logger.debug("rows run without the prefix cache rows=%d of %d", len(full), len(rows))
        pieces: list[torch.Tensor] = []
        targets: list[int] = []
        offset = len(prefix.ids) if prefix is not None else 0
        for members, start in ((cached, offset), (full, 0)):
            lengths = [len(rows[i]) - start for i in members]
            for group in plan_groups(
                lengths, overhead=self.overhead_tokens, context=start, attention_span=self._attention_span
            ):
                indices = [members[g] for g in group]
                hidden = self._run([rows[i][start:] for i in indices], start)
                local_rows: list[int] = []
                local_positions: list[int] = []
                for local, index in enumerate(indices):
                    for k in reads_of[index]:
                        local_rows.append(local)
                        local_positions.append(int(read_positions[k]) - start)
                        targets.append(k)
                device = hidden.device
                at_rows, at_positions = (
                    torch.tensor(local_rows, device=device),
                    torch.tensor(local_positions, device=device),
                )
                pieces.append(hidden[at_rows, at_positions])
        stacked = torch.cat(pieces)
        out = stacked.new_empty(stacked.shape)
        out[torch.tensor(targets, device=stacked.device)] = stacked
        return out

    def _run(self, tails: list[Sequence[int]], start: int) -> torch.Tensor:
        """One forward pass over right-padded ``tails``, which follow the prefix when ``start`` > 0."""
        width = max(len(tail) for tail in tails)
        batch = len(tails)
        input_ids = torch.full((batch, width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((batch, start + width), dtype=torch.long)
        attention[:, :start] = 1
        for i, tail in enumerate(tails):
            input_ids[i, : len(tail)] = torch.tensor(tail, dtype=torch.long)
            attention[i, start : start + len(tail)] = 1
        kwargs: dict[str, Any] = {
            "input_ids": input_ids.to(self._device),
            "attention_mask": attention.to(self._device),
        }
        if start > 0 and self.prefix is not None:
            positions = torch.arange(start, start + width, dtype=torch.long).expand(batch, -1)
            kwargs["position_ids"] = positions.to(self._device)
            kwargs[self.prefix.keyword] = self.prefix.expanded(batch)
            kwargs["use_cache"] = True
        return self._backbone(**kwargs).last_hidden_state
