"""Whether the SLM's token at a checked position stands, given the LLM's logits there.

Greedy (temperature 0): it stands where it is the LLM's own argmax or, with a margin δ > 0, where
the LLM's log-probability of it is within δ of its top token's (a difference the LLM itself finds
small: lenient, lossy). Otherwise the LLM's argmax replaces it.

Sampling: the speculative-sampling rule (Leviathan et al. 2023; Chen et al. 2023). With the
SLM's distribution q and the LLM's p at that position, the SLM's sample x stands with probability
min(1, p(x)/q(x)); else a token is drawn from max(0, p − q), renormalised. The token that comes
out is distributed exactly as p, whatever q, so verifying everything with this rule samples from
the LLM. Both distributions are the ones the sampler uses (temperature, then top-p).
"""

from __future__ import annotations

import torch

from .sampling import distribution, greedy


def accept_greedy(llm_logits: torch.Tensor, token: int, margin: float) -> tuple[bool, int]:
    """(whether ``token`` stands, the LLM's argmax)."""
    top = greedy(llm_logits.unsqueeze(0))[0]
    if top == token:
        return True, top
    if margin > 0:
        logp = torch.log_softmax(llm_logits.float(), dim=-1)
        return bool(logp[token] >= logp[top] - margin), top
    return False, top


def accept_sampled(p: torch.Tensor, q: torch.Tensor, token: int, rng: torch.Generator) -> tuple[bool, int]:
    """(whether the SLM's sample ``token`` stands, the token at that position) under the
    speculative-sampling rule; ``p``, ``q``: the LLM's and the SLM's probabilities [V]."""
    u = torch.rand((), generator=rng, device=p.device).item()
    if q[token] > 0 and u < min(1.0, float(p[token] / q[token])):
        return True, token
    residual = torch.clamp(p - q, min=0.0)
    total = float(residual.sum())
    if total <= 0.0:  # p == q up to rounding: any draw from p is right
        residual, total = p, float(p.sum())
    return False, int(torch.multinomial(residual / total, 1, generator=rng))


