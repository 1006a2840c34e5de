"""The R2R router: is the SLM's next token safe, or does it need the LLM?

Inputs per token (each switchable, for the paper's ablations):
- ``hidden``: the SLM's last-layer hidden state at the position that predicts the token;
- ``token``: the SLM's (frozen) input embedding of the token it proposes;
- ``logits``: the SLM's top-k log-probabilities, sorted, through a linear projection (or, with
  ``logits_ref='max'``, the top-k logits minus the largest: see ``defaults.ROUTER_LOGITS_REF``).
They are concatenated, lifted to ``width``, passed through ``depth`` pre-norm residual MLP blocks,
and read out as one logit (sigmoid → probability that the token is divergent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .. import defaults
from ..errors import R2RouteError

FEATURES = ("hidden", "token", "logits")
LOGITS_REFS = ("logsumexp", "max")


@dataclass
class RouterConfig:
    """Shape of a router. ``hidden_size``/``embed_size`` come from the SLM."""

    hidden_size: int
    embed_size: int
    top_k: int = defaults.ROUTER_TOP_K
    width: int = defaults.ROUTER_WIDTH
    depth: int = defaults.ROUTER_DEPTH
    logits_proj: int = defaults.ROUTER_LOGITS_PROJ
    features: tuple[str, ...] = field(default_factory=lambda: tuple(defaults.ROUTER_FEATURES))
    dropout: float = defaults.ROUTER_DROPOUT
    logits_ref: str = defaults.ROUTER_LOGITS_REF  # top-k logits minus this (see defaults)

    def __post_init__(self):
        self.features = tuple(self.features)
        bad = [f for f in self.features if f not in FEATURES]
        if bad or not self.features:
            raise R2RouteError(f"router features must be a non-empty subset of {','.join(FEATURES)}, got {','.join(self.features) or 'none'}")
        if self.width < 1 or self.depth < 0 or self.top_k < 1:
            raise R2RouteError("router width and top_k must be ≥ 1 and depth ≥ 0")
        if self.logits_ref not in LOGITS_REFS:
            raise R2RouteError(f"router logits_ref must be one of {', '.join(LOGITS_REFS)}, got {self.logits_ref}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = list(self.features)
        return d


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.down(nn.functional.gelu(self.up(self.norm(x)))))


class RouterModel(nn.Module):
    """Residual MLP over SLM features; returns one logit per token (higher = send to the LLM)."""

    def __init__(self, cfg: RouterConfig):
        super().__init__()
        self.cfg = cfg
        width_in = 0
        if "hidden" in cfg.features:
            # Hidden states of different SLMs live on very different scales; normalise first.
            self.hidden_norm = nn.LayerNorm(cfg.hidden_size)
            width_in += cfg.hidden_size
        if "token" in cfg.features:
            self.token_norm = nn.LayerNorm(cfg.embed_size)
            width_in += cfg.embed_size
        if "logits" in cfg.features:
            self.logits_proj = nn.Linear(cfg.top_k, cfg.logits_proj)
            width_in += cfg.logits_proj
        self.inp = nn.Linear(width_in, cfg.width)
        self.blocks = nn.ModuleList(ResidualBlock(cfg.width, cfg.dropout) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, 1)

    def forward(self, hidden: torch.Tensor | None, token_emb: torch.Tensor | None, topk_logprobs: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if "hidden" in self.cfg.features:
            parts.append(self.hidden_norm(hidden.float()))
        if "token" in self.cfg.features:
            parts.append(self.token_norm(token_emb.float()))
        if "logits" in self.cfg.features:
            parts.append(self.logits_proj(topk_logprobs.float()))
        x = self.inp(torch.cat(parts, dim=-1))
        for block in self.blocks:
            x = block(x)
        return self.out(self.norm(x)).squeeze(-1)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class RouterEnsemble(nn.Module):
    """Routers of one shape trained from different seeds; its logit is the mean of theirs. With
    about a hundred divergent validation tokens, the seed alone moves a router's recall by a few
    points, as much as halving its data; a mean over seeds keeps what they share."""

    def __init__(self, members: list[RouterModel]):
        super().__init__()
        if not members or any(m.cfg != members[0].cfg for m in members):
            raise R2RouteError("an ensemble needs routers of one shape")
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg

    def forward(self, hidden: torch.Tensor | None, token_emb: torch.Tensor | None, topk_logprobs: torch.Tensor | None) -> torch.Tensor:
        return torch.stack([m(hidden, token_emb, topk_logprobs) for m in self.members]).mean(0)

    def num_params(self) -> int:
        return sum(m.num_params() for m in self.members)


def members(model: nn.Module) -> list[RouterModel]:
    """The single routers a router is made of (itself, or an ensemble's members)."""
    return list(model.members) if isinstance(model, RouterEnsemble) else [model]
