"""Score mode: p_unsafe for (question, response) pairs from one forward pass of a guard model.

For each pair the model reads ``prompt + ANSWER_PREFIX`` followed by the continuation tokens of
the longer answer word (see :mod:`guardstream.guard.encoding`). The log-probability of each word
is the sum of its token log-probabilities along its own path, and

    p_unsafe = P(不安全) / (P(不安全) + P(安全)) = sigmoid(log P(不安全) - log P(安全)).

Every row begins with the same prompt prefix, whose keys and values are computed once per loaded
model; rows feed only their tails, grouped by length and right-padded with an attention mask (see
:mod:`guardstream.guard.prefix_cache`), so a pair's tokens sit at the same positions whatever else
is in the batch and its score does not depend on its neighbours. Only the hidden states at the few
positions that predict continuation tokens go through the LM head.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from guardstream.errors import ConfigurationError
from guardstream.guard.category_layout import NO_CATEGORY, measure_category_layout
from guardstream.guard.checkpoint import load_checkpoint, names_categories, pad_token_id
from guardstream.guard.encoding import ContinuationLayout, PromptEncoder
from guardstream.guard.prefix_cache import BOUNDARY_PROBES, PrefixCache, RowRunner, shared_prefix
from guardstream.guard.prompt import ANSWER_PREFIX, SAFE_WORD, UNSAFE_WORD

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scores:
    """Score mode's answer per pair: p_unsafe, the category index (into CATEGORIES) and its share."""

    p_unsafe: npt.NDArray[np.float32]
    category: npt.NDArray[np.int64]
    category_score: npt.NDArray[np.float32]


def concatenate_scores(parts: Sequence[Scores]) -> Scores:
    """The rows of ``parts``, in order, as one :class:`Scores` (empty when there are none)."""
    if not parts:
        return Scores(np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.float32))
    return Scores(
        np.concatenate([part.p_unsafe for part in parts]),
        np.concatenate([part.category for part in parts]),
        np.concatenate([part.category_score for part in parts]),
    )


class GuardScorer:
    """Loads a local causal-LM guard checkpoint and scores pairs in score mode."""

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        max_input_tokens: int = 512,
        max_batch_size: int = 64,
        answer_prefix: str = ANSWER_PREFIX,
        unsafe_word: str = UNSAFE_WORD,
        safe_word: str = SAFE_WORD,
        categories: bool | None = None,
        prefix_cache: bool = True,
    ) -> None:
        """``categories``: name the harm category too; None decides from the checkpoint's contract file.
        ``prefix_cache``: reuse the shared prompt prefix's keys and values (off: every row runs in full)."""
        if max_batch_size < 1:
            raise ConfigurationError(f"max_batch_size must be at least 1, got {max_batch_size}")
        loaded = load_checkpoint(checkpoint, device=device, dtype=dtype)
        path, model, tokenizer = loaded.path, loaded.model, loaded.tokenizer
        self.device = loaded.device
        self.model = model
        self.tokenizer = tokenizer
        self.encoder = PromptEncoder(
            tokenizer,
            max_input_tokens,
            answer_prefix=answer_prefix,
            unsafe_word=unsafe_word,
            safe_word=safe_word,
        )
        self.max_batch_size = max_batch_size
        wants_categories = names_categories(path) if categories is None else categories
        self.category_layout = (
            measure_category_layout(self.encoder.answer_ids, self.encoder.empty_context_length)
            if wants_categories
            else None
        )
        backbone = model.get_decoder()
        self._lm_head = model.get_output_embeddings()
        if self._lm_head is None:
            raise ConfigurationError(f"the checkpoint at {path} has no LM head")
        probes = self.encoder.contexts([(question, "") for question in BOUNDARY_PROBES])
        prefix = PrefixCache.build(backbone, shared_prefix(probes), self.device) if prefix_cache else None
        self.runner = RowRunner(backbone, self.device, pad_token_id(tokenizer), prefix)
        layout = self.encoder.layout
        logger.info(
            "guard scorer ready checkpoint=%s device=%s dtype=%s unsafe_tokens=%d safe_tokens=%d "
            "extra_row=%s template_tokens=%d categories=%s prefix_tokens=%d",
            path,
            self.device,
            dtype,
            len(layout.unsafe),
            len(layout.safe),
            layout.needs_extra_row,
            self.encoder.template_tokens,
            self.category_layout is not None,
            len(prefix.ids) if prefix is not None else 0,
        )

    @property
    def layout(self) -> ContinuationLayout:
        return self.encoder.layout

    def score(self, pairs: Sequence[tuple[str, str]]) -> npt.NDArray[np.float32]:
        """p_unsafe per (question, response) pair, in order, as float32 in [0, 1]."""
        return self.score_with_categories(pairs).p_unsafe

    def score_with_categories(self, pairs: Sequence[tuple[str, str]]) -> Scores:
        """p_unsafe per pair and, when the model names categories, the most probable one."""
        return concatenate_scores(
            [
                self.score_contexts(self.encoder.contexts(pairs[start : start + self.max_batch_size]), self.runner)
                for start in range(0, len(pairs), self.max_batch_size)
            ]
        )

    def log_probabilities(
        self, pairs: Sequence[tuple[str, str]]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Log P(unsafe word) and log P(safe word) per pair (one forward pass, no chunking)."""
        lp_unsafe, lp_safe, _ = self._forward(self.encoder.contexts(pairs), self.runner)
        return lp_unsafe, lp_safe

    def score_contexts(self, contexts: Sequence[list[int]], runner: RowRunner) -> Scores:
        """Scores of contexts already encoded (:meth:`PromptEncoder.contexts`), whose hidden states
        ``runner`` computes: this scorer's own, or one over a streamed reply's key/value cache."""
        lp_unsafe, lp_safe, category_lp = self._forward(contexts, runner)
        n = len(contexts)
        p_unsafe = torch.sigmoid(torch.from_numpy(lp_unsafe - lp_safe)).numpy().astype(np.float32)
        if category_lp is None:
            return Scores(p_unsafe, np.full(n, NO_CATEGORY, np.int64), np.zeros(n, np.float32))
        shares = torch.softmax(torch.from_numpy(category_lp), dim=1)
        best = shares.max(dim=1)
        return Scores(p_unsafe, best.indices.numpy().astype(np.int64), best.values.numpy().astype(np.float32))

    @torch.inference_mode()
    def _forward(
        self, contexts: Sequence[list[int]], runner: RowRunner
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
        """Log P of each answer word per context and, with categories, log P of each category's first token."""
        n = len(contexts)
        if n == 0:
            return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.float32), None
        layout, categories = self.layout, self.category_layout
        main, other = list(layout.main), list(layout.other)

        # Rows: one per pair with the main word's inputs, plus one per pair for the other word
        # when it does not lie on the main word's path. With categories, the row that carries the
        # unsafe word goes on through the bridge to the category, or a row of its own does.
        main_inputs = main[:-1]
        category_rows_start: int | None = None
        if categories is not None:
            inputs = list(categories.inputs)
            if layout.main_is_unsafe and inputs[: len(main_inputs)] == main_inputs:
                main_inputs, category_rows_start = inputs, 0
            else:
                category_rows_start = -1
        rows = [ctx + main_inputs for ctx in contexts]
        if layout.needs_extra_row:
            rows += [ctx + other[:-1] for ctx in contexts]
        if category_rows_start == -1:
            category_rows_start = len(rows)
            rows += [ctx + list(categories.inputs) for ctx in contexts]  # type: ignore[union-attr]  # -1 is only set above when categories is not None

        # Position start + j predicts continuation token j; start is the context's last token.
        starts = np.array([len(ctx) - 1 for ctx in contexts], dtype=np.int64)
        pair_rows = np.arange(n, dtype=np.int64)
        other_rows = pair_rows + n if layout.needs_extra_row else pair_rows
        reads = [
            (pair_rows, starts, len(main)),
            (other_rows, starts, len(other)),
        ]
        if categories is not None and category_rows_start is not None:
            # The bridge's last position predicts the category name's first token.
            reads.append((pair_rows + category_rows_start, starts + len(categories.inputs), 1))
        read_rows = np.concatenate([np.repeat(r, count) for r, _, count in reads])
        read_positions = np.concatenate([(s[:, None] + np.arange(count)).reshape(-1) for _, s, count in reads])
        hidden = runner.hidden_at(rows, read_rows, read_positions)
        hidden_main, hidden_other, hidden_category = torch.split(
            hidden, [n * count for _, _, count in reads] + [0] * (3 - len(reads))
        )
        lp_main = self._path_log_probability(hidden_main.view(n, len(main), -1), main)
        lp_other = self._path_log_probability(hidden_other.view(n, len(other), -1), other)
        lp_unsafe, lp_safe = (lp_main, lp_other) if layout.main_is_unsafe else (lp_other, lp_main)
        category_lp = None
        if categories is not None and category_rows_start is not None:
            logits = self._lm_head(hidden_category).float()
            first = torch.tensor(categories.first_tokens, device=hidden.device)
            category_lp = (logits[:, first] - torch.logsumexp(logits, dim=1, keepdim=True)).cpu().numpy()
        return lp_unsafe.cpu().numpy(), lp_safe.cpu().numpy(), category_lp

    def _path_log_probability(self, picked: torch.Tensor, tokens: list[int]) -> torch.Tensor:
        """Sum over j of log P(tokens[j] | row up to its start + j), per row, in float32.

        ``picked``: ``[rows, len(tokens), hidden]``, the hidden states at the positions predicting each token.
        """
        logits = self._lm_head(picked).float()
        target = torch.tensor(tokens, device=picked.device).expand(picked.shape[0], -1)
        token_lp = logits.gather(2, target[..., None]).squeeze(2) - torch.logsumexp(logits, dim=2)
        return token_lp.sum(dim=1)
