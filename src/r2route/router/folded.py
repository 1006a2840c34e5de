"""The router as it runs at decode time: the trained MLP with its affine maps folded together.

Per step the router scores a handful of rows, so its cost is per-op overhead, not arithmetic.
Three foldings remove about half of the ops without changing the function (it equals
``RouterModel.forward`` in eval mode up to float rounding; ``tests/test_router.py`` checks it):

- a LayerNorm's scale and shift are affine, and so is the linear layer that reads the norm: one
  matrix and one bias (the input layer, each block's ``up``, the read-out);
- the top-k projection feeds the input layer linearly: one matrix;
- the token feature depends on the token id alone: its share of the input layer is computed from
  the SLM's embedding. On the CPU it is cached per id (a row of members × width floats per
  distinct token seen: a llama.cpp SLM dequantizes embedding rows from its file, and a lookup
  costs ops per step); on a GPU it is computed each step from the embedding on the device, since
  finding which ids are new would cost a copy to the host.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from .model import RouterEnsemble, RouterModel, members


class FoldedRouter:
    """Scores rows like ``model`` in eval mode, with fewer ops. A snapshot of the weights: fold a
    trained model again after changing it. One instance serves one SLM (the token cache is keyed
    by id).

    An ensemble (:class:`~.model.RouterEnsemble`) folds into the same ops: its members read the
    same normalised inputs, so their input layers are one matrix with the members side by side, and
    their blocks run as one batched product over a members axis. Five members cost about the ops of
    one, not five times them; the result is the members' mean logit."""

    def __init__(self, model: RouterModel | RouterEnsemble):
        parts = members(model)
        cfg = parts[0].cfg
        self.features = cfg.features
        self.width = cfg.width
        self.n = len(parts)
        with torch.no_grad():
            folded = [_fold_inputs(m) for m in parts]
            # [in, members × width]: member i's columns are i·width … (i+1)·width − 1
            self.inp_w = None if folded[0][0] is None else torch.cat([f[0] for f in folded], dim=1).contiguous()
            self.inp_b = torch.cat([f[1] for f in folded])
            if "token" in cfg.features:
                self.token_w = torch.cat([f[2] for f in folded], dim=1).contiguous()
                self.token_norm = (cfg.embed_size, parts[0].token_norm.eps)
            if "hidden" in cfg.features:
                self.hidden_norm = (cfg.hidden_size, parts[0].hidden_norm.eps)
            self.blocks = []
            for j in range(cfg.depth):
                ups = [_fold(m.blocks[j].norm, m.blocks[j].up) for m in parts]
                self.blocks.append((torch.stack([w for w, _ in ups]), torch.stack([b for _, b in ups]).unsqueeze(1),
                                    parts[0].blocks[j].norm.eps,
                                    torch.stack([m.blocks[j].down.weight.t() for m in parts]).contiguous(),
                                    torch.stack([m.blocks[j].down.bias for m in parts]).unsqueeze(1)))
            outs = [_fold(m.norm, m.out) for m in parts]
            # the mean over members is folded into the read-out: each member's logit weighs 1/n
            self.out = (torch.stack([w for w, _ in outs]) / self.n, torch.stack([b for _, b in outs]).sum(0) / self.n)
            self.out_eps = parts[0].norm.eps
        self._token_terms: dict[int, torch.Tensor] = {}

    def to(self, device: torch.device) -> FoldedRouter:
        """Move the folded weights (made where the model was when folded) to ``device``."""
        move = lambda t: t.to(device)  # noqa: E731
        self.inp_w = None if self.inp_w is None else move(self.inp_w)
        self.inp_b = move(self.inp_b)
        if hasattr(self, "token_w"):
            self.token_w = move(self.token_w)
        self.blocks = [(move(uw), move(ub), eps, move(dw), move(db)) for uw, ub, eps, dw, db in self.blocks]
        self.out = tuple(move(t) for t in self.out)
        self._token_terms = {}
        return self

    @property
    def device(self) -> torch.device:
        return self.inp_b.device

    @torch.inference_mode()
    def __call__(self, hidden: torch.Tensor | None, tokens: torch.Tensor | None, embed: Callable[[torch.Tensor], torch.Tensor] | None,
                 topk_logprobs: torch.Tensor | None) -> torch.Tensor:
        """One logit per row (higher = send to the LLM); ``embed`` looks up the SLM's input
        embeddings of token ids not seen before."""
        parts = []
        if "hidden" in self.features:
            parts.append(F.layer_norm(hidden.float(), (self.hidden_norm[0],), eps=self.hidden_norm[1]))
        if "logits" in self.features:
            parts.append(topk_logprobs.float())
        if parts:
            x = torch.addmm(self.inp_b, parts[0] if len(parts) == 1 else torch.cat(parts, dim=1), self.inp_w)
        else:
            x = self.inp_b.expand(tokens.shape[0], -1)
        if "token" in self.features:
            x = x + (self._cached_tokens(tokens.tolist(), embed) if tokens.device.type == "cpu" else self._token_term(embed(tokens)))
        x = x.view(-1, self.n, self.width).transpose(0, 1)  # [members, rows, width]
        for up_w, up_b, eps, down_w, down_b in self.blocks:
            h = F.gelu(torch.baddbmm(up_b, F.layer_norm(x, (self.width,), eps=eps), up_w))
            x = x + torch.baddbmm(down_b, h, down_w)
        out_w, out_b = self.out
        return torch.bmm(F.layer_norm(x, (self.width,), eps=self.out_eps), out_w).sum(0).squeeze(-1) + out_b

    def _token_term(self, emb: torch.Tensor) -> torch.Tensor:
        e = emb.to(self.inp_b.device, torch.float32)
        return F.layer_norm(e, (self.token_norm[0],), eps=self.token_norm[1]) @ self.token_w

    def _cached_tokens(self, ids: list[int], embed: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        missing = [t for t in dict.fromkeys(ids) if t not in self._token_terms]
        if missing:
            terms = self._token_term(embed(torch.tensor(missing)))
            self._token_terms.update(zip(missing, terms.clone().unbind(0)))
        return torch.stack([self._token_terms[t] for t in ids])


def _fold(norm: torch.nn.LayerNorm, linear: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """``linear(norm(x))`` = ``layer_norm(x) @ W + b`` with the norm's scale and shift inside W, b."""
    return (linear.weight * norm.weight).t().contiguous(), linear.bias + linear.weight @ norm.bias


def _fold_inputs(model: RouterModel) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
    """One member's input layer with its feature norms and the top-k projection folded in:
    (matrix over [normed hidden, top-k] → width, bias, token-embedding matrix or None)."""
    cfg = model.cfg
    w, bias = model.inp.weight, model.inp.bias.clone()
    mats, token_w, col = [], None, 0
    if "hidden" in cfg.features:
        wh = w[:, col : col + cfg.hidden_size]
        col += cfg.hidden_size
        mats.append(wh * model.hidden_norm.weight)
        bias += wh @ model.hidden_norm.bias
    if "token" in cfg.features:
        we = w[:, col : col + cfg.embed_size]
        col += cfg.embed_size
        token_w = (we * model.token_norm.weight).t()
        bias += we @ model.token_norm.bias
    if "logits" in cfg.features:
        wl = w[:, col : col + cfg.logits_proj]
        mats.append(wl @ model.logits_proj.weight)
        bias += wl @ model.logits_proj.bias
    return (torch.cat(mats, dim=1).t() if mats else None), bias, token_w
