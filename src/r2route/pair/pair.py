"""ModelPair: a small and a large causal LM that decode one answer together."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import defaults
from ..errors import R2RouteError
from .loading import LoadedModel, load_model, load_tokenizer, resolve_device, resolve_dtype
from .presets import build_tiny_pair
from .prompts import PairPrompt, encode_messages, encode_prompt, render_messages
from .remote import RemoteLLM
from .specs import parse_spec
from .tokenizers import first_difference, tokenizer_fingerprint

PRESETS = ("tiny", "tiny-cross", "default", "smollm2")


@dataclass
class PairConfig:
    """Which models to load and where. ``slm``/``llm`` override the preset's models; ``llm_url``
    puts the LLM behind an OpenAI-compatible server."""

    pair: str | None = defaults.PAIR
    slm: str | None = None
    llm: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    tiny_seed: int = defaults.TINY_SEED
    llm_url: str | None = None
    llm_model: str | None = None
    llm_tokenizer: str | None = None  # a remote LLM's chat template; default: the SLM's
    llm_api_key: str | None = None
    llm_params: int = 0  # a remote LLM's parameter count, for average activated parameters
    backend: str = "auto"  # for local GGUF files: llama.cpp where installed, else transformers


@dataclass
class ModelPair:
    """The SLM writes, the LLM replaces the tokens the router flags.

    ``handoff`` says how a routed LLM token reaches the SLM: ``"token"`` — both share one
    vocabulary and the LLM's token id replaces the SLM's (R2R's exact path); ``"text"`` — the
    LLM's text is spliced into the SLM's own tokenization (different vocabularies, or a remote LLM).
    """

    slm: LoadedModel
    llm: LoadedModel | RemoteLLM
    handoff: str = "token"
    handoff_reason: str = ""

    @property
    def tokenizer(self):
        """The SLM's tokenizer: the space every routing decision lives in."""
        return self.slm.tokenizer

    @property
    def device(self) -> torch.device:
        return self.slm.device

    @property
    def llm_is_remote(self) -> bool:
        return isinstance(self.llm, RemoteLLM)

    @property
    def llm_params(self) -> int:
        return self.llm.params.total

    @property
    def context_window(self) -> int:
        return min(self.slm.context_window, self.llm.context_window)

    def eos_token_ids(self, side: str = "slm") -> set[int]:
        """End-of-answer ids of one side: its tokenizer's EOS and its generation config's (chat
        models often add one). Under token handoff both sides' ids count for both."""
        sides = (self.slm, self.llm) if self.handoff == "token" else ((self.slm,) if side == "slm" else (self.llm,))
        ids: set[int] = set()
        for m in sides:
            if not isinstance(m, RemoteLLM):  # a server reports its answer's end as finish_reason "stop"
                ids |= m.eos_ids()
        return ids

    def encode(self, text: str | None = None, messages: list[dict] | None = None, chat: bool = True, system: str | None = None):
        """The prompt as each model reads it: a token list under token handoff, else a PairPrompt."""

        if messages is None:
            if text is None or not text.strip():
                raise R2RouteError("empty prompt")
            use_chat = chat and bool(getattr(self.tokenizer, "chat_template", None))
            messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
        else:
            use_chat = True
        if self.handoff == "token":
            return encode_messages(self.tokenizer, messages) if use_chat else encode_prompt(self.tokenizer, text, chat=False)
        slm = encode_messages(self.slm.tokenizer, messages) if use_chat else encode_prompt(self.slm.tokenizer, text, chat=False)
        if self.llm_is_remote:
            llm = render_messages(self.llm.tokenizer, messages) if use_chat else text
        else:
            llm = encode_messages(self.llm.tokenizer, messages) if use_chat else encode_prompt(self.llm.tokenizer, text, chat=False)
        return PairPrompt(slm, llm)

    def identity(self) -> dict:
        """What a router or label set records to refuse use with another pair."""
        return {"slm": self.slm.name, "llm": self.llm.name, "tokenizer": tokenizer_fingerprint(self.tokenizer)}

    def describe(self) -> dict:
        llm_np = self.llm.params.non_embedding
        return {
            "slm": {"name": self.slm.name, "params": self.slm.params.total, "non_embedding_params": self.slm.params.non_embedding},
            "llm": {"name": self.llm.name, "params": self.llm.params.total, "non_embedding_params": llm_np},
            "handoff": self.handoff,
            "handoff_reason": self.handoff_reason,
            "device": str(self.device),
            "dtype": str(self.slm.dtype).replace("torch.", ""),
        }


def load_slm(cfg: PairConfig) -> LoadedModel:
    """Load only the SLM that ``cfg`` names (what router training needs: its input embeddings)."""
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    if cfg.slm:
        return load_model(parse_spec(cfg.slm), device, dtype, cfg.backend)
    if cfg.pair in ("tiny", "tiny-cross"):
        return build_tiny_pair(device, dtype, seed=cfg.tiny_seed, cross=cfg.pair == "tiny-cross")[0]
    if cfg.pair in ("default", "smollm2"):
        from .default import registry_spec

        return load_model(parse_spec(registry_spec(cfg.pair, "slm")), device, dtype, cfg.backend)
    raise R2RouteError(f"unknown pair preset: {cfg.pair} (use {', '.join(PRESETS)}, or --slm)")


def _tokenizer_of(model):
    return getattr(model, "tokenizer", None)


def load_pair(cfg: PairConfig) -> ModelPair:
    """Load the pair that ``cfg`` names. Token handoff where the tokenizers are identical, else text."""
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    if cfg.pair is not None and cfg.pair not in PRESETS:
        raise R2RouteError(f"unknown pair preset: {cfg.pair} (use {', '.join(PRESETS)}, or --slm/--llm)")
    if cfg.llm and cfg.llm_url:
        raise R2RouteError("give --llm or --llm-url, not both")
    slm = llm = None
    if cfg.pair in ("tiny", "tiny-cross"):
        slm, llm = build_tiny_pair(device, dtype, seed=cfg.tiny_seed, cross=cfg.pair == "tiny-cross")
    elif cfg.pair in ("default", "smollm2") and not (cfg.slm and (cfg.llm or cfg.llm_url)):
        from .default import registry_spec

        # only the preset's models that no flag overrides are assembled and loaded
        slm = load_model(parse_spec(registry_spec(cfg.pair, "slm")), device, dtype, cfg.backend) if not cfg.slm else None
        if not (cfg.llm or cfg.llm_url):
            llm = load_model(parse_spec(registry_spec(cfg.pair, "llm")), device, dtype, cfg.backend, _tokenizer_of(slm))
    if cfg.slm:
        slm = load_model(parse_spec(cfg.slm), device, dtype, cfg.backend)
    if cfg.llm:
        llm = load_model(parse_spec(cfg.llm), device, dtype, cfg.backend, _tokenizer_of(slm))
    if cfg.llm_url:
        if slm is None:
            raise R2RouteError("--llm-url needs an SLM: --slm or a --pair preset")
        tok = load_tokenizer(parse_spec(cfg.llm_tokenizer)) if cfg.llm_tokenizer else slm.tokenizer
        llm = RemoteLLM.connect(cfg.llm_url, cfg.llm_model, tok, cfg.llm_api_key, cfg.llm_params)
        return ModelPair(slm=slm, llm=llm, handoff="text", handoff_reason="the LLM is remote")
    if slm is None or llm is None:
        raise R2RouteError("name both models: --slm and --llm (or --llm-url), or a --pair preset")
    diff = first_difference(slm.tokenizer, llm.tokenizer)
    return ModelPair(slm=slm, llm=llm, handoff="token" if diff is None else "text", handoff_reason=diff or "")
