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


def pick_token(logits: torch.Tensor, temperature: float, top_p: float, rng: torch.Generator | None) -> int:
    """One token from one row's logits [V]. ``temperature == 0`` is greedy (argmax)."""
    if temperature <= 0.0:
        return int(torch.argmax(logits))
    return int(torch.multinomial(distribution(logits, temperature, top_p), 1, generator=rng))


def pick_tokens(logits: torch.Tensor, temperatures: list[float], top_ps: list[float], rngs: list[torch.Generator | None]) -> list[int]:
    """A token per row [n, V] → n ints; greedy rows share one argmax call."""
    if all(t <= 0.0 for t in temperatures):
        return torch.argmax(logits, dim=-1).tolist()
    return [pick_token(logits[i], t, p, g) for i, (t, p, g) in enumerate(zip(temperatures, top_ps, rngs))]
