"""Router input features from one SLM step; shared by decoding, labeling and training."""

from __future__ import annotations

import math

import torch


def topk_logprobs(logits: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest log-probabilities, sorted descending (shift-invariant, unlike raw logits)."""
    k = min(k, logits.shape[-1])
    x = logits.float()
    # top-k of the logits minus their log-sum-exp: the same numbers as top-k of log_softmax
    # without materialising a second vocabulary-sized tensor every step
    return x.topk(k, dim=-1).values - torch.logsumexp(x, dim=-1, keepdim=True)


def normalized_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) divided by ln(V): 0 = certain, 1 = uniform; comparable across vocabularies."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    ent = -(logp.exp() * logp).sum(dim=-1)
    return (ent / math.log(logits.shape[-1])).clamp(0.0, 1.0)


def max_prob(logits: torch.Tensor) -> torch.Tensor:
    """The SLM's probability of its top-1 token (the paper's max-logit baseline)."""
    return torch.softmax(logits.float(), dim=-1).max(dim=-1).values
