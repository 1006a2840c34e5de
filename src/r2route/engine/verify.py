"""The LLM's verdict at checked positions: whether the SLM's token stands, and the token that goes there.

All checked positions of one LLM call are judged together, as tensor ops on the logits' device;
the caller copies the (accept, token) pairs to the host once. Per position, by the row's mode:

- **R2R** (``verify none``): the LLM writes the flagged position: its own token (argmax, or a draw
  from its distribution on the position's LLM stream); the SLM's token "stands" where they are equal.
- **Verified, greedy**: the SLM's token stands where it is the LLM's argmax or, with a margin δ > 0,
  where the LLM's log-probability of it is within δ of its top token's (lenient, lossy); otherwise
  the LLM's argmax replaces it.
- **Verified, sampling**: the speculative-sampling rule (Leviathan et al. 2023; Chen et al. 2023).
  With the SLM's distribution q and the LLM's p at that position, the SLM's sample x stands with
  probability min(1, p(x)/q(x)); else a token is drawn from max(0, p − q), renormalised. What comes
  out is distributed exactly as p, whatever q.
- A position past the row's last token (no SLM token there, ``slm = -1``): the LLM writes it, as R2R.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..draws import ACCEPT_DRAW, LLM_DRAW, RESIDUAL_DRAW, uniform
from .sampling import argmax, distributions, draw


def speculative(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor, u_accept: torch.Tensor, u_residual: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The speculative rule on m positions: ``p``, ``q`` [m, V] the LLM's and the SLM's probabilities,
    ``x`` [m] the SLM's samples, two uniforms per position. Returns (accepted [m], token [m])."""
    px, qx = p.gather(1, x[:, None])[:, 0], q.gather(1, x[:, None])[:, 0]
    accept = (qx > 0) & (u_accept * qx < px)  # u < p/q without dividing by a zero q
    residual = torch.clamp(p - q, min=0.0)
    empty = residual.sum(-1, keepdim=True) <= 0  # p == q up to rounding: any draw from p is right
    residual = torch.where(empty, p, residual)
    return accept, torch.where(accept, x, draw(residual, u_residual))


@dataclass
class Checked:
    """The checked positions of one LLM call, one entry each, as device tensors [m]."""

    slm: torch.Tensor  # the SLM's token there, or -1 where the LLM writes past the row's end
    verified: torch.Tensor  # bool: the row verifies (else R2R)
    temperature: torch.Tensor
    top_p: torch.Tensor
    margin: torch.Tensor
    seed: torch.Tensor
    position: torch.Tensor
    q: torch.Tensor | None = None  # [m, V] the SLM's distributions, where any verified row samples


def judge(logits: torch.Tensor, c: Checked, sampling: bool, cut: bool, lenient: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(accepted [m] bool, token [m]) at each checked position from the LLM's logits there [m, V].
    ``sampling``/``cut``/``lenient``: whether any position samples / cuts to top-p / has a margin
    (the host knows; it spares the vocabulary-wide work otherwise)."""
    top = argmax(logits).to(logits.device)
    has_slm = c.slm >= 0
    x = c.slm.clamp(min=0)
    token = top
    if sampling:
        sampled = c.temperature > 0
        p = distributions(logits, c.temperature, c.top_p, cut)
        token = torch.where(sampled, draw(p, uniform(c.seed, c.position, LLM_DRAW)), top)
    accept = has_slm & (token == x)  # R2R, and the rows' own greedy verification at margin 0
    verified = c.verified & has_slm
    if lenient:
        logp = torch.log_softmax(logits.float(), dim=-1)
        near = logp.gather(1, x[:, None])[:, 0] >= logp.gather(1, top[:, None])[:, 0] - c.margin
        greedy_verified = verified & (c.temperature <= 0)
        accept = accept | (greedy_verified & (c.margin > 0) & near)
        token = torch.where(greedy_verified, top, token)
    if sampling and c.q is not None:
        spec = verified & (c.temperature > 0)
        ok, fixed = speculative(p, c.q, x, uniform(c.seed, c.position, ACCEPT_DRAW), uniform(c.seed, c.position, RESIDUAL_DRAW))
        accept = torch.where(spec, ok, accept)
        token = torch.where(spec, fixed, token)
    return accept, token
