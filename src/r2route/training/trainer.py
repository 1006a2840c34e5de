"""Fit a router on a label set: class-weighted BCE, AdamW, early stopping on validation loss."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import defaults
from ..errors import R2RouteError
from ..router.features import from_logprobs
from ..router.model import LOGITS_REFS, RouterConfig, RouterModel
from .labels import OBJECTIVES, LabelSet


@dataclass
class TrainConfig:
    """How to train one router. Model shape defaults live in ``defaults``; see ``RouterConfig``."""

    features: tuple[str, ...] = field(default_factory=lambda: tuple(defaults.ROUTER_FEATURES))
    objective: str = defaults.ROUTER_OBJECTIVE
    width: int = defaults.ROUTER_WIDTH
    depth: int = defaults.ROUTER_DEPTH
    top_k: int = defaults.ROUTER_TOP_K
    logits_proj: int = defaults.ROUTER_LOGITS_PROJ
    logits_ref: str = defaults.ROUTER_LOGITS_REF
    dropout: float = defaults.ROUTER_DROPOUT
    lr: float = defaults.ROUTER_LR
    weight_decay: float = defaults.ROUTER_WEIGHT_DECAY
    batch_size: int = defaults.ROUTER_BATCH
    max_epochs: int = defaults.ROUTER_MAX_EPOCHS
    patience: int = defaults.ROUTER_PATIENCE
    seed: int = defaults.SEED

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise R2RouteError(f"unknown objective: {self.objective} (use {', '.join(OBJECTIVES)})")
        for name in ("batch_size", "max_epochs", "width", "top_k"):
            if getattr(self, name) < 1:
                raise R2RouteError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(self, name)}")
        if self.logits_ref not in LOGITS_REFS:
            raise R2RouteError(f"--logits-ref must be one of {', '.join(LOGITS_REFS)}, got {self.logits_ref}")
        if self.patience < 0 or self.lr <= 0:
            raise R2RouteError("--patience must be ≥ 0 and --lr > 0")


@dataclass
class Inputs:
    """Router inputs for a subset of tokens; token embeddings are looked up per batch."""

    hidden: torch.Tensor | None
    token_rows: torch.Tensor | None  # index into ``token_table``
    token_table: torch.Tensor | None
    topk: torch.Tensor | None

    def batch(self, idx: torch.Tensor):
        return (
            None if self.hidden is None else self.hidden[idx],
            None if self.token_rows is None else self.token_table[self.token_rows[idx]],
            None if self.topk is None else self.topk[idx],
        )


def make_inputs(labels: LabelSet, rows: np.ndarray, features: tuple[str, ...], top_k: int,
                embed: Callable[[torch.Tensor], torch.Tensor] | None, logits_ref: str = defaults.ROUTER_LOGITS_REF) -> Inputs:
    """Select ``rows`` of ``labels`` for the chosen features. ``embed`` maps SLM token ids to input
    embeddings; it is called once on the distinct tokens, not per row."""
    idx = torch.from_numpy(np.flatnonzero(rows))
    token_rows = token_table = None
    if "token" in features:
        if embed is None:
            raise R2RouteError("the token feature needs the SLM's input embeddings: load the SLM (--pair/--slm)")
        uniq, inv = torch.unique(labels.slm_token[idx], return_inverse=True)
        with torch.inference_mode():
            token_table = embed(uniq).detach().to("cpu", torch.float16)
        token_rows = inv
    return Inputs(
        hidden=labels.hidden[idx] if "hidden" in features else None,
        token_rows=token_rows,
        token_table=token_table,
        topk=from_logprobs(labels.topk_logprobs[idx, :top_k], logits_ref) if "logits" in features else None,
    )


def router_config(labels: LabelSet, cfg: TrainConfig, embed_size: int) -> RouterConfig:
    if "logits" in cfg.features and cfg.top_k > labels.topk_logprobs.shape[1]:
        raise R2RouteError(f"--top-k {cfg.top_k} exceeds the {labels.topk_logprobs.shape[1]} log-probabilities the labels store")
    return RouterConfig(hidden_size=labels.hidden.shape[1], embed_size=embed_size, top_k=cfg.top_k, width=cfg.width,
                        depth=cfg.depth, logits_proj=cfg.logits_proj, features=cfg.features, dropout=cfg.dropout,
                        logits_ref=cfg.logits_ref)


@torch.inference_mode()
def predict(model: RouterModel, inputs: Inputs, n: int, batch_size: int = 4096) -> np.ndarray:
    """Router probabilities for the ``n`` rows of ``inputs``."""
    model.eval()
    out = [torch.sigmoid(model(*inputs.batch(torch.arange(i, min(i + batch_size, n))))) for i in range(0, n, batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


@dataclass
class TrainResult:
    model: RouterModel
    history: list[dict]
    best_epoch: int
    pos_weight: float


def train(model_cfg: RouterConfig, cfg: TrainConfig, train_in: Inputs, y_train: np.ndarray,
          val_in: Inputs, y_val: np.ndarray, progress: bool = True) -> TrainResult:
    """Train a fresh router; returns the weights of the epoch with the lowest validation loss."""
    cfg.validate()
    n_pos = int(y_train.sum())
    if n_pos == 0:
        raise R2RouteError(f"no positive ({cfg.objective}) labels in the training split: nothing to learn")
    if not len(y_val):
        raise R2RouteError("the validation split is empty: label more queries or raise --val-percent")
    torch.manual_seed(cfg.seed)
    model = RouterModel(model_cfg)
    pos_weight = torch.tensor((len(y_train) - n_pos) / n_pos)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    yt, yv = torch.from_numpy(y_train.astype(np.float32)), torch.from_numpy(y_val.astype(np.float32))
    gen = torch.Generator().manual_seed(cfg.seed)
    best, best_loss, best_epoch, history, stale = None, float("inf"), 0, [], 0
    bar = tqdm(range(1, cfg.max_epochs + 1), desc="training router", unit="epoch", disable=not progress, dynamic_ncols=True)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            b = order[i : i + cfg.batch_size]
            loss = loss_fn(model(*train_in.batch(b)), yt[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        p_val = torch.from_numpy(predict(model, val_in, len(yv)))
        val_loss = float(loss_fn(torch.logit(p_val.clamp(1e-7, 1 - 1e-7)), yv))
        rec = float(((p_val >= 0.5) & (yv > 0)).sum() / max(float(yv.sum()), 1.0))
        history.append({"epoch": epoch, "train_loss": total / len(yt), "val_loss": val_loss, "val_recall_at_0.5": rec,
                        "val_share_at_0.5": float((p_val >= 0.5).float().mean())})
        bar.set_postfix(loss=f"{total / len(yt):.3f}", val=f"{val_loss:.3f}", recall=f"{rec:.2f}")
        if val_loss < best_loss - 1e-6:
            best, best_loss, best_epoch, stale = copy.deepcopy(model.state_dict()), val_loss, epoch, 0
        else:
            stale += 1
            if stale > cfg.patience:
                break
    bar.close()
    if best is not None:  # else the validation loss was never finite: keep the last epoch's weights
        model.load_state_dict(best)
    model.eval()
    return TrainResult(model=model, history=history, best_epoch=best_epoch, pos_weight=float(pos_weight))
