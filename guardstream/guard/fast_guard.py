"""The fast guard: a pretrained encoder with classification heads, the cascade's first stage.

A fast-guard checkpoint is a folder holding

* ``encoder/``: any Hugging Face encoder checkpoint (BERT, RoBERTa, XLM-R, …) with its tokenizer;
* ``heads.safetensors``: ``unsafe.weight`` (1, hidden), ``unsafe.bias`` (1,), ``category.weight``
  (7, hidden) and ``category.bias`` (7,) over the first token's final hidden state; optionally a
  lexical head (``lexical.weights.weight`` (buckets, 1), ``lexical.bias`` (1,), and with max pooling
  ``lexical.peaks.weight`` (buckets, 1)) over hashed character n-grams, and ``mix`` (3,): p_unsafe = sigmoid(mix[0]·encoder logit + mix[1]·lexical logit + mix[2]);
* ``fast_guard.json``: the contract (format, maximum input tokens, the categories' order, the
  lexical head's hashing when there is one, and ``segment_min_chars`` and ``segment_raise_min``
  when pairs are scored in prefixes too, :mod:`guardstream.guard.segments`).

The lexical head is the "wide" half of a wide-and-deep model: slurs and their variants are
lexical, and a linear model over character n-grams learns them from every training item for
seconds of CPU, while the encoder, costly on a CPU, learns meaning from as many as time allows.

A pair is encoded as the tokenizer's own pair template — ``[CLS] question [SEP] response [SEP]``
for BERT — with both texts tokenized as plain text (:mod:`guardstream.guard.plain_text`): a user
who writes ``[SEP]`` or ``[CLS]`` gets those characters, never the special tokens. Long inputs keep the question's end and the response's
start. Rows are right-padded with an attention mask, so a pair's score does not depend on its
neighbours in the batch.
"""

from __future__ import annotations

import json
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer

from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory
from guardstream.guard.checkpoint import parse_device, parse_dtype
from guardstream.guard.plain_text import PlainTextTokenizer, visible
from guardstream.guard.segments import deciding_rows, segment_pairs

CONTRACT_FILE = "fast_guard.json"
HEADS_FILE = "heads.safetensors"
ENCODER_DIR = "encoder"
FORMAT = "guardstream.fast_guard/1"
CATEGORIES: tuple[HarmCategory, ...] = tuple(HarmCategory)
DEFAULT_MAX_INPUT_TOKENS = 256
POOLINGS = ("mean", "mean_max")
PAIR_TEMPLATE_TOKENS = 3
"""Tokens the pair template adds around the two texts: ``[CLS] question [SEP] response [SEP]``."""
PADDED_TOKEN_BUDGET = 2048
"""Most padded tokens one forward pass of the scorer holds (characters stand in for tokens)."""


@dataclass(frozen=True)
class LexicalHashing:
    """How text becomes the lexical head's features: hashed character n-grams, per side."""

    buckets: int = 1 << 20
    orders: tuple[int, ...] = (1, 2, 3)
    scale: float = 8.0
    pooling: str = "mean"
    """``mean``: the n-grams' mean weight; ``mean_max``: that plus the largest of a second weight per
    n-gram, a feature benign text added around a harmful n-gram cannot lower."""
    prefix_min_chars: int = 0
    """Above 0: the head's logit is its highest over the judged text's prefixes of at least this many
    characters (the whole text when it is shorter), so that text added after a message, glued on
    with no boundary to cut at, cannot dilute the mean of the message's n-grams; 0: the whole text's.
    The judged text is the response, or the question when there is no response."""

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigurationError(f"lexical pooling {self.pooling!r} is not one of {POOLINGS}")
        if self.prefix_min_chars < 0:
            raise ConfigurationError(f"lexical prefix_min_chars must be 0 or more, not {self.prefix_min_chars}")

    def features(self, question: str, response: str) -> list[int]:
        found = [feature for side in self.positioned(question, response) for feature in side.features]
        return found or [0]

    def positioned(self, question: str, response: str) -> tuple[SideFeatures, SideFeatures]:
        """Each side's features with where each n-gram ends in the side's normalised text."""
        return self._side("q", question), self._side("r", response)

    def _side(self, side: str, text: str) -> SideFeatures:
        text = unicodedata.normalize("NFKC", visible(text)).lower()
        features: list[int] = []
        ends: list[int] = []
        for order in self.orders:
            for start in range(len(text) - order + 1):
                features.append(zlib.crc32(f"{side}{order}{text[start : start + order]}".encode()) % self.buckets)
                ends.append(start + order)
        return SideFeatures(features, ends, len(text))

    def to_dict(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "orders": list(self.orders),
            "scale": self.scale,
            "pooling": self.pooling,
            "prefix_min_chars": self.prefix_min_chars,
        }


@dataclass(frozen=True)
class SideFeatures:
    """One side's hashed n-grams, where each ends in its normalised text, and that text's length."""

    features: list[int]
    ends: list[int]
    length: int


@dataclass(frozen=True)
class FastGuardContract:
    max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS
    categories: tuple[str, ...] = tuple(category.value for category in CATEGORIES)
    lexical: LexicalHashing | None = None
    segment_min_chars: int = 0
    """Above 0: each pair is also scored cut short at its boundaries (prefixes of at least this many
    characters) and the highest score counts; 0: the pair as a whole only."""
    segment_raise_min: float = 0.0
    """With prefix scoring, a prefix raises the pair's score only where it or the segment it adds
    scores at least this much (:func:`guardstream.guard.segments.deciding_rows`)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.segment_raise_min < 1.0:
            raise ConfigurationError(f"segment_raise_min must be in [0, 1), not {self.segment_raise_min}")

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "format": FORMAT,
            "max_input_tokens": self.max_input_tokens,
            "categories": list(self.categories),
        }
        if self.lexical is not None:
            data["lexical"] = self.lexical.to_dict()
        if self.segment_min_chars:
            data["segment_min_chars"] = self.segment_min_chars
        if self.segment_raise_min:
            data["segment_raise_min"] = self.segment_raise_min
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def read(cls, checkpoint: Path) -> FastGuardContract:
        path = checkpoint / CONTRACT_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"no fast-guard checkpoint at {checkpoint} ({CONTRACT_FILE} missing); build the default one with "
                "`guardstream model build-default` or train one with `guardstream train --model fast`"
            ) from exc
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"unreadable {path}: {exc}") from exc
        if data.get("format") != FORMAT:
            raise ConfigurationError(f"{path}: format {data.get('format')!r} is not {FORMAT!r}")
        known = [category.value for category in CATEGORIES]
        if list(data.get("categories", [])) != known:
            raise ConfigurationError(f"{path}: categories {data.get('categories')} are not {known}")
        lexical = data.get("lexical")
        hashing = None
        if lexical is not None:
            try:
                hashing = LexicalHashing(
                    int(lexical["buckets"]),
                    tuple(int(n) for n in lexical["orders"]),
                    float(lexical["scale"]),
                    str(lexical.get("pooling", "mean")),
                    int(lexical.get("prefix_min_chars", 0)),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigurationError(f"{path}: lexical must name buckets, orders and scale: {exc}") from exc
        return cls(
            int(data.get("max_input_tokens", DEFAULT_MAX_INPUT_TOKENS)),
            tuple(known),
            hashing,
            int(data.get("segment_min_chars", 0)),
            float(data.get("segment_raise_min", 0.0)),
        )


class LexicalHead(nn.Module):
    """A linear model over hashed character n-grams: one logit per pair."""

    def __init__(self, hashing: LexicalHashing) -> None:
        super().__init__()
        self.hashing = hashing
        self.weights = nn.EmbeddingBag(hashing.buckets, 1, mode="mean")
        self.peaks = nn.EmbeddingBag(hashing.buckets, 1, mode="max") if hashing.pooling == "mean_max" else None
        self.bias = nn.Parameter(torch.zeros(1))
        for table in (self.weights, self.peaks):
            if table is not None:
                nn.init.zeros_(table.weight)

    def forward(self, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        if not self.hashing.prefix_min_chars:
            return self.logits([self.hashing.features(question, response) for question, response in pairs])
        return torch.stack([self._most_unsafe_prefix(question, response) for question, response in pairs])

    def _most_unsafe_prefix(self, question: str, response: str) -> torch.Tensor:
        """The logit of the judged text's most unsafe prefix of at least ``prefix_min_chars`` characters,
        the other side whole: a running sum and a running max over the n-grams in the order they end."""
        asked, answered = self.hashing.positioned(question, response)
        fixed, judged = (asked, answered) if response else (answered, asked)
        if not fixed.features and not judged.features:
            return self.logits([[0]])[0]
        device = self.bias.device
        order = sorted(range(len(judged.ends)), key=judged.ends.__getitem__)
        ids = torch.tensor([judged.features[i] for i in order], dtype=torch.long, device=device)
        ends = torch.tensor([judged.ends[i] for i in order], dtype=torch.long, device=device)
        fixed_ids = torch.tensor(fixed.features, dtype=torch.long, device=device)
        # per prefix length, how many of the judged n-grams it holds (the whole text among them)
        lengths = torch.arange(min(self.hashing.prefix_min_chars, judged.length), judged.length + 1, device=device)
        held = torch.searchsorted(ends, lengths, right=True)
        if not fixed.features:
            held = held[held > 0]  # a prefix with no n-gram has no mean
        weights = self.weights.weight[:, 0]
        sums = torch.cat([weights[fixed_ids].sum().reshape(1), weights[ids]]).cumsum(0)[held]
        logit = sums / (len(fixed.features) + held) * self.hashing.scale + self.bias
        if self.peaks is not None:
            peaks = self.peaks.weight[:, 0]
            fixed_peak = (
                peaks[fixed_ids].max().reshape(1) if fixed.features else torch.full((1,), -torch.inf, device=device)
            )
            logit = logit + torch.cat([fixed_peak, peaks[ids]]).cummax(0).values[held]
        return logit.max()

    def logits(self, features: Sequence[Sequence[int]]) -> torch.Tensor:
        """One logit per bag of hashed features (:meth:`LexicalHashing.features`)."""
        flat: list[int] = []
        offsets: list[int] = []
        for bag in features:
            offsets.append(len(flat))
            flat.extend(bag)
        device = self.bias.device
        ids, starts = torch.tensor(flat, device=device), torch.tensor(offsets, device=device)
        logit = self.weights(ids, starts).squeeze(-1) * self.hashing.scale + self.bias
        if self.peaks is not None:
            logit = logit + self.peaks(ids, starts).squeeze(-1)
        return logit


class FastGuardNetwork(nn.Module):
    """Encoder + two linear heads on the first token: unsafe (a logit) and category (7 logits);
    optionally a lexical head whose logit is mixed with the encoder's."""

    def __init__(self, encoder: nn.Module, hidden_size: int, lexical: LexicalHashing | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.unsafe = nn.Linear(hidden_size, 1)
        self.category = nn.Linear(hidden_size, len(CATEGORIES))
        self.lexical = LexicalHead(lexical) if lexical is not None else None
        self.mix = nn.Parameter(torch.tensor([1.0, 0.0, 0.0]), requires_grad=False)

    def unsafe_logit(self, encoder_logit: torch.Tensor, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """The mixed unsafe logit (the encoder's alone when there is no lexical head)."""
        if self.lexical is None:
            return encoder_logit
        lexical = self.lexical(pairs).to(encoder_logit.dtype)
        return self.mix[0] * encoder_logit + self.mix[1] * lexical + self.mix[2]

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        arguments: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            arguments["token_type_ids"] = token_type_ids
        first = self.encoder(**arguments).last_hidden_state[:, 0]
        return self.unsafe(first).squeeze(-1), self.category(first)

    def _heads(self) -> tuple[str, ...]:
        return ("unsafe", "category") if self.lexical is None else ("unsafe", "category", "lexical")

    def heads_state(self) -> dict[str, torch.Tensor]:
        state = {
            f"{head}.{name}": tensor.detach().contiguous().cpu()
            for head in self._heads()
            for name, tensor in getattr(self, head).state_dict().items()
        }
        state["mix"] = self.mix.detach().cpu()
        return state

    def load_heads(self, state: dict[str, torch.Tensor]) -> None:
        for head in self._heads():
            getattr(self, head).load_state_dict(
                {name.split(".", 1)[1]: t for name, t in state.items() if name.startswith(head + ".")}
            )
        if "mix" in state:
            self.mix.data.copy_(state["mix"])


class PairEncoder:
    """(question, response) pairs → padded tensors, user text always plain text
    (:class:`~guardstream.guard.plain_text.PlainTextTokenizer`).

    Every pair goes through the tokenizer's own pair template (an empty response too), so the
    model sees one shape in training and serving; the longer side is trimmed first.
    """

    def __init__(self, tokenizer: Any, max_input_tokens: int) -> None:
        self._plain = PlainTextTokenizer(tokenizer)
        self._pad_id = int(tokenizer.pad_token_id or 0)
        self._max = max_input_tokens

    def batch(self, pairs: Sequence[tuple[str, str]], device: torch.device) -> dict[str, torch.Tensor]:
        encodings = self._plain.pairs(pairs, self._max)
        width = max(len(e.ids) for e in encodings)
        input_ids = torch.full((len(encodings), width), self._pad_id, dtype=torch.long)
        token_types = torch.zeros((len(encodings), width), dtype=torch.long)
        attention = torch.zeros((len(encodings), width), dtype=torch.long)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            input_ids[row, :n] = torch.tensor(encoding.ids, dtype=torch.long)
            token_types[row, :n] = torch.tensor(encoding.type_ids, dtype=torch.long)
            attention[row, :n] = 1
        return {
            "input_ids": input_ids.to(device),
            "attention_mask": attention.to(device),
            "token_type_ids": token_types.to(device),
        }


@dataclass(frozen=True)
class FastScores:
    p_unsafe: npt.NDArray[np.float32]
    category: npt.NDArray[np.int64]
    category_score: npt.NDArray[np.float32]


def load_fast_guard(
    checkpoint: str | Path, *, device: str = "cpu", dtype: str = "float32"
) -> tuple[FastGuardNetwork, PairEncoder, FastGuardContract]:
    path = Path(checkpoint)
    contract = FastGuardContract.read(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path / ENCODER_DIR, local_files_only=True)
        encoder = AutoModel.from_pretrained(path / ENCODER_DIR, local_files_only=True, add_pooling_layer=False)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"cannot load the fast guard's encoder at {path / ENCODER_DIR}: {exc}") from exc
    network = FastGuardNetwork(encoder, encoder.config.hidden_size, contract.lexical)
    network.load_heads(load_file(str(path / HEADS_FILE)))
    network = network.to(device=parse_device(device), dtype=parse_dtype(dtype)).eval()
    return network, PairEncoder(tokenizer, contract.max_input_tokens), contract


def save_fast_guard(network: FastGuardNetwork, tokenizer: Any, contract: FastGuardContract, out: Path) -> None:
    """Write a checkpoint folder that :func:`load_fast_guard` (and so Triton) reads."""
    out.mkdir(parents=True, exist_ok=True)
    network.encoder.save_pretrained(out / ENCODER_DIR)
    tokenizer.save_pretrained(out / ENCODER_DIR)
    save_file(network.heads_state(), str(out / HEADS_FILE))
    (out / CONTRACT_FILE).write_text(contract.to_json(), encoding="utf-8")


def is_fast_guard(checkpoint: str | Path) -> bool:
    return (Path(checkpoint) / CONTRACT_FILE).is_file()


class FastGuardScorer:
    """Scores pairs with a fast-guard checkpoint: p_unsafe, the category and its share."""

    def __init__(
        self, checkpoint: str | Path, *, device: str = "cpu", dtype: str = "float32", max_batch_size: int = 64
    ) -> None:
        self._network, self._encoder, self.contract = load_fast_guard(checkpoint, device=device, dtype=dtype)
        self._device = parse_device(device)
        self._max_batch_size = max_batch_size

    def score_with_categories(self, pairs: Sequence[tuple[str, str]]) -> FastScores:
        """Scores per pair; with prefix scoring, each pair's deciding row (whole, a prefix or a segment)
        gives its p_unsafe and its category."""
        if not self.contract.segment_min_chars:
            scores: FastScores = self._score_rows(pairs)
            return scores
        segmented = segment_pairs(pairs, self.contract.segment_min_chars, self.contract.max_input_tokens)
        rows = self._score_rows(segmented.rows)
        deciding = deciding_rows(segmented.chains, rows.p_unsafe.tolist(), self.contract.segment_raise_min)
        best = np.array(deciding, dtype=np.int64)
        return FastScores(rows.p_unsafe[best], rows.category[best], rows.category_score[best])

    @torch.inference_mode()
    def _score_rows(self, pairs: Sequence[tuple[str, str]]) -> FastScores:
        p_unsafe = np.zeros(len(pairs), dtype=np.float32)
        category = np.zeros(len(pairs), dtype=np.int64)
        category_score = np.zeros(len(pairs), dtype=np.float32)
        for rows in self._chunks(pairs):
            chunk = [pairs[i] for i in rows]
            encoder_logit, category_logits = self._network(**self._encoder.batch(chunk, self._device))
            unsafe_logit = self._network.unsafe_logit(encoder_logit, chunk)
            shares = torch.softmax(category_logits.float(), dim=-1)
            best = shares.max(dim=-1)
            p_unsafe[rows] = torch.sigmoid(unsafe_logit.float()).cpu().numpy()
            category[rows] = best.indices.cpu().numpy()
            category_score[rows] = best.values.cpu().numpy()
        return FastScores(p_unsafe, category, category_score)

    def score(self, pairs: Sequence[tuple[str, str]]) -> npt.NDArray[np.float32]:
        return self.score_with_categories(pairs).p_unsafe

    def _chunks(self, pairs: Sequence[tuple[str, str]]) -> list[list[int]]:
        """Rows by length, cut so that a forward pass holds at most ``PADDED_TOKEN_BUDGET`` padded
        tokens: one long message no longer pads a whole batch of short ones to its length (on a
        CPU a batch of 64 had scored half as fast as a batch of 4). Each row's answer is its own."""
        lengths = [
            min(len(question) + len(response) + PAIR_TEMPLATE_TOKENS, self.contract.max_input_tokens)
            for question, response in pairs
        ]
        chunks: list[list[int]] = []
        current: list[int] = []
        for index in sorted(range(len(pairs)), key=lengths.__getitem__):
            # sorted ascending: the row joining is the longest of its chunk
            if current and (
                len(current) >= self._max_batch_size or (len(current) + 1) * lengths[index] > PADDED_TOKEN_BUDGET
            ):
                chunks.append(current)
                current = []
            current.append(index)
        if current:
            chunks.append(current)
        return chunks
