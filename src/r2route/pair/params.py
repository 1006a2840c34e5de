"""Parameter counts of a model: what average activated parameters per token are computed from."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ParamCount:
    """A model's parameters: all of them (tied weights once), and all but the input embeddings and an untied LM head."""

    total: int
    non_embedding: int


def count_params(model: torch.nn.Module) -> ParamCount:
    """Total parameters (tied weights once) and the same without input embeddings and an untied LM head."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    embed = emb.numel()
    if head is not None and head.weight.data_ptr() != emb.data_ptr():
        embed += head.weight.numel()
    return ParamCount(total=total, non_embedding=total - embed)
