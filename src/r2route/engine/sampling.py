"""Choosing a token from logits: greedy, or seeded temperature/top-p sampling per row."""

from __future__ import annotations

import torch


def distribution(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """The probabilities a sampler draws from [V]: softmax at ``temperature``, cut to the top_p mass
    (renormalised after the cut: the speculative rule compares probabilities)."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (always at least the top token).
        drop = (sorted_p.cumsum(-1) - sorted_p) >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        probs = probs / probs.sum()
    return probs


def greedy(logits: torch.Tensor) -> list[int]:
    """Each row's argmax [n, V] → n ints (the first on ties, as torch.argmax).

    On CPU numpy's argmax is vectorised and torch's is not: over a 151,936-entry vocabulary it
    takes 0.014 ms against 0.25 ms a row, 1.2 ms a step at batch 4, 2% of a 0.5B model's step."""
    if logits.device.type == "cpu":
        return logits.detach().numpy().argmax(axis=-1).tolist()
    return torch.argmax(logits, dim=-1).tolist()


def pick_token(logits: torch.Tensor, temperature: float, top_p: float, rng: torch.Generator | None) -> int:
    """One token from one row's logits [V]. ``temperature == 0`` is greedy (argmax)."""
    if temperature <= 0.0:
        return greedy(logits.unsqueeze(0))[0]
    return int(torch.multinomial(distribution(logits, temperature, top_p), 1, generator=rng))
