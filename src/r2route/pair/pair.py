"""ModelPair: a small and a large causal LM that decode one answer together."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import defaults
from ..errors import R2RouteError
from .loading import LoadedModel, load_model, resolve_device, resolve_dtype
from .presets import build_tiny_pair
from .specs import parse_spec
from .tokenizers import require_same_tokenizer, tokenizer_fingerprint

PRESETS = ("tiny", "default")


@dataclass
class PairConfig:
    """Which models to load and where. ``slm``/``llm`` override the preset's models."""

    pair: str | None = defaults.PAIR
    slm: str | None = None
    llm: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    tiny_seed: int = defaults.TINY_SEED


@dataclass
class ModelPair:
    """The SLM writes, the LLM replaces the tokens the router flags.

    ``handoff`` says how a routed LLM token reaches the SLM: ``"token"`` means both share one
    vocabulary and the LLM's token id replaces the SLM's (R2R's exact path).
    """

    slm: LoadedModel
    llm: LoadedModel
    handoff: str = "token"

    @property
    def tokenizer(self):
        """The SLM's tokenizer: the space every routing decision lives in."""
        return self.slm.tokenizer

    @property
    def device(self) -> torch.device:
        return self.slm.device

    @property
    def context_window(self) -> int:
        return min(self.slm.context_window, self.llm.context_window)

    @property
    def eos_token_ids(self) -> set[int]:
        """EOS ids from the tokenizer and both generation configs (chat models often add one)."""
        ids: set[int] = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        for m in (self.slm, self.llm):
            gen = getattr(m.model, "generation_config", None)
            eos = getattr(gen, "eos_token_id", None)
            if eos is not None:
                ids.update(int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]))
        return ids

    def identity(self) -> dict:
        """What a router or label set records to refuse use with another pair."""
        return {"slm": self.slm.name, "llm": self.llm.name, "tokenizer": tokenizer_fingerprint(self.tokenizer)}

    def describe(self) -> dict:
        return {
            "slm": {"name": self.slm.name, "params": self.slm.params.total, "non_embedding_params": self.slm.params.non_embedding},
            "llm": {"name": self.llm.name, "params": self.llm.params.total, "non_embedding_params": self.llm.params.non_embedding},
            "handoff": self.handoff,
            "device": str(self.device),
            "dtype": str(self.slm.dtype).replace("torch.", ""),
        }


def load_pair(cfg: PairConfig) -> ModelPair:
    """Load the pair that ``cfg`` names; refuse pairs whose tokenizers differ."""
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    if cfg.pair is not None and cfg.pair not in PRESETS:
        raise R2RouteError(f"unknown pair preset: {cfg.pair} (use {', '.join(PRESETS)}, or --slm/--llm)")
    if cfg.pair == "default" and not (cfg.slm and cfg.llm):
        raise R2RouteError(
            "the default pair (SmolLM2-135M-Instruct → Qwen2.5-Coder-1.5B-Instruct) needs text handoff across "
            "tokenizers, which this version does not have yet; use --pair tiny or --slm/--llm with one tokenizer"
        )
    slm = llm = None
    if cfg.pair == "tiny" and not (cfg.slm and cfg.llm):
        slm, llm = build_tiny_pair(device, dtype, seed=cfg.tiny_seed)
    if cfg.slm:
        slm = load_model(parse_spec(cfg.slm), device, dtype)
    if cfg.llm:
        llm = load_model(parse_spec(cfg.llm), device, dtype)
    if slm is None or llm is None:
        raise R2RouteError("name both models: --slm and --llm, or a --pair preset")
    require_same_tokenizer(slm.tokenizer, llm.tokenizer)
    return ModelPair(slm=slm, llm=llm, handoff="token")
