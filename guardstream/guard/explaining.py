"""Explain mode: greedy generation of the whole verdict JSON, with its analysis (``分析``).

Slower than score mode by the number of generated tokens, so it serves flagged items and
requests on demand. Generation starts after the same forced answer prefix as score mode, so the
two modes read the same first decision; :func:`parse_guard_output` turns the text into a label.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from guardstream.errors import ConfigurationError
from guardstream.guard.checkpoint import load_checkpoint, pad_token_id
from guardstream.guard.encoding import PromptEncoder
from guardstream.guard.prompt import ANSWER_PREFIX

logger = logging.getLogger(__name__)


class GuardExplainer:
    """Loads a local guard checkpoint and writes its verdict JSON for (question, response) pairs."""

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        max_input_tokens: int = 512,
        max_new_tokens: int = 96,
        max_batch_size: int = 16,
        answer_prefix: str = ANSWER_PREFIX,
    ) -> None:
        if max_new_tokens < 1 or max_batch_size < 1:
            raise ConfigurationError("max_new_tokens and max_batch_size must be at least 1")
        loaded = load_checkpoint(checkpoint, device=device, dtype=dtype)
        self.tokenizer, self.model, self.device = loaded.tokenizer, loaded.model, loaded.device
        self.encoder = PromptEncoder(self.tokenizer, max_input_tokens, answer_prefix=answer_prefix)
        self.answer_prefix = answer_prefix
        self.max_new_tokens = max_new_tokens
        self.max_batch_size = max_batch_size
        self._pad_id = pad_token_id(self.tokenizer)
        eos = getattr(self.tokenizer, "eos_token_id", None)
        self._eos_id = eos if isinstance(eos, int) else None
        logger.info(
            "guard explainer ready checkpoint=%s device=%s max_new_tokens=%d", loaded.path, self.device, max_new_tokens
        )

    def explain(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        """The generated verdict text per pair, beginning with the forced answer prefix."""
        texts: list[str] = []
        for start in range(0, len(pairs), self.max_batch_size):
            texts.extend(self._generate(pairs[start : start + self.max_batch_size]))
        return texts

    @torch.inference_mode()
    def _generate(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        if not pairs:
            return []
        contexts = self.encoder.contexts(pairs)
        width = max(len(ids) for ids in contexts)
        # Left padding: every row's last prompt token sits in the last column, where generation continues.
        input_ids = torch.full((len(contexts), width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(contexts), width), dtype=torch.long)
        for row, ids in enumerate(contexts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        generated = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=self._pad_id,
            eos_token_id=self._eos_id,
        )
        new_tokens = generated[:, width:].cpu().tolist()
        return [self.answer_prefix + self._decode(tokens) for tokens in new_tokens]

    def _decode(self, tokens: list[int]) -> str:
        if self._eos_id is not None and self._eos_id in tokens:
            tokens = tokens[: tokens.index(self._eos_id)]
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True))
