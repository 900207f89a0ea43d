"""Rebuild a Hugging Face ``BertModel`` from a BERT exported to ONNX.

The export keeps Hugging Face names for embeddings, LayerNorms and biases; each Linear weight is an
anonymous ``onnx::MatMul_*`` initializer stored (in, out). A weight is named by the bias of the
``Add`` that consumes its ``MatMul``'s output and transposed to PyTorch's (out, in).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from transformers import BertConfig


class ConversionError(ValueError):
    """The ONNX graph is not a BERT encoder this converter understands."""


@dataclass(frozen=True, slots=True)
class BertShape:
    """What the graph's tensors cannot say by themselves (the head count)."""

    num_attention_heads: int
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"


def bert_state_dict(model_path: Path) -> dict[str, torch.Tensor]:
    """The encoder's parameters under Hugging Face ``BertModel`` names (no pooler)."""
    graph = onnx.load(str(model_path)).graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    state: dict[str, torch.Tensor] = {}
    for name, tensor in initializers.items():
        if not name.startswith("onnx::"):
            state[name] = torch.from_numpy(np.array(numpy_helper.to_array(tensor)))
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in initializers:
            continue
        bias = _consuming_bias(node, consumers, initializers)
        weight = numpy_helper.to_array(initializers[node.input[1]])
        state[bias.removesuffix(".bias") + ".weight"] = torch.from_numpy(np.ascontiguousarray(weight.T))
    return state


def _consuming_bias(
    matmul: onnx.NodeProto,
    consumers: dict[str, list[onnx.NodeProto]],
    initializers: dict[str, onnx.TensorProto],
) -> str:
    for add in consumers.get(matmul.output[0], []):
        if add.op_type != "Add":
            continue
        biases = [name for name in add.input if name in initializers and name.endswith(".bias")]
        if len(biases) == 1:
            return biases[0]
    raise ConversionError(f"MatMul {matmul.name!r}: no Add with a named bias consumes its output")


def bert_config(state: dict[str, torch.Tensor], shape: BertShape) -> BertConfig:
    """A ``BertConfig`` read off the parameters' shapes."""
    try:
        vocab_size, hidden_size = state["embeddings.word_embeddings.weight"].shape
        max_positions = state["embeddings.position_embeddings.weight"].shape[0]
        type_vocab_size = state["embeddings.token_type_embeddings.weight"].shape[0]
        intermediate_size = state["encoder.layer.0.intermediate.dense.weight"].shape[0]
    except KeyError as exc:
        raise ConversionError(f"not a BERT encoder: missing {exc.args[0]}") from exc
    layers = 1 + max(int(name.split(".")[2]) for name in state if name.startswith("encoder.layer."))
    if hidden_size % shape.num_attention_heads:
        raise ConversionError(f"hidden size {hidden_size} is not a multiple of {shape.num_attention_heads} heads")
    return BertConfig(
        vocab_size=int(vocab_size),
        hidden_size=int(hidden_size),
        num_hidden_layers=layers,
        num_attention_heads=shape.num_attention_heads,
        intermediate_size=int(intermediate_size),
        max_position_embeddings=int(max_positions),
        type_vocab_size=int(type_vocab_size),
        hidden_act=shape.hidden_act,
        layer_norm_eps=shape.layer_norm_eps,
    )
