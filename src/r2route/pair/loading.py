"""Load one causal LM and its tokenizer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import R2RouteError
from ..optional import require
from .params import ParamCount, count_params
from .specs import ModelSpec
from .tokenizers import from_pretrained

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
    "float64": torch.float64, "fp64": torch.float64,
}


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when it is available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise R2RouteError(f"device {device} asked for, but CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError:
        raise R2RouteError(f"unknown device: {device} (use auto, cpu or cuda[:N])") from None


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` is float32 on the CPU (bf16 matmuls are slow there) and bfloat16 on CUDA."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise R2RouteError(f"unknown dtype: {dtype} (use auto, float32, bfloat16, float16 or float64)")
    return _DTYPES[dtype]


@dataclass
class LoadedModel:
    """A transformers causal LM ready for decoding, with its tokenizer and size.

    The engine uses any loaded model through this interface: ``embed``, ``vocab_size``,
    ``eos_ids``, ``context_window``, ``backend`` (the engine builds its runner; see also :class:`~.llamacpp.LlamaCppModel`).
    """

    name: str
    model: torch.nn.Module
    tokenizer: object
    params: ParamCount
    backend = "transformers"

    @property
    def vocab_size(self) -> int:
        """Rows of the input embedding (often more than the tokenizer has: padding)."""
        return self.model.get_input_embeddings().num_embeddings

    @property
    def hidden_size(self) -> int:
        """Width of the last hidden state (the router's hidden feature)."""
        return int(self.model.get_output_embeddings().in_features)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings of token ids (the router's token feature)."""
        return self.model.get_input_embeddings()(ids)

    def eos_ids(self) -> set[int]:
        """The tokenizer's EOS and the generation config's (chat models often add one)."""
        ids = {int(self.tokenizer.eos_token_id)} if self.tokenizer.eos_token_id is not None else set()
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if eos is not None:
            ids.update(int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]))
        return ids

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def context_window(self) -> int:
        """Usable context. r2route's KV cache attends fully; for sliding-window layers that is
        exact only within the window, so such a model's context is capped at its window."""
        cfg = self.model.config
        window = int(getattr(cfg, "max_position_embeddings", 0) or 1 << 30)
        sliding = getattr(cfg, "sliding_window", None)
        types = getattr(cfg, "layer_types", None) or []
        uses_sliding = any("sliding" in t or "chunked" in t for t in types) if types else getattr(cfg, "use_sliding_window", True)
        if sliding and uses_sliding:
            window = min(window, int(sliding))
        return window

    @property
    def weight_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.model.parameters())


def load_tokenizer(spec: ModelSpec):
    """Only the tokenizer of ``spec`` (e.g. for a remote LLM's chat template)."""
    kwargs = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
    try:
        return from_pretrained(spec.tokenizer or spec.location, **({} if spec.tokenizer else kwargs))
    except (OSError, ValueError) as e:
        raise R2RouteError(f"could not load tokenizer {spec.location}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from None


BACKENDS = ("auto", "transformers", "llama.cpp")


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def load_model(spec: ModelSpec, device: torch.device, dtype: torch.dtype, backend: str = "auto", tokenizer_like=None):
    """Load ``spec``: a local GGUF file with llama.cpp where it is installed (``auto``) or asked for,
    anything else with transformers. Any failure becomes a one-line :class:`R2RouteError`.
    ``tokenizer_like``: the other model's tokenizer, which a GGUF model shares where its own is the same."""
    if backend not in BACKENDS:
        raise R2RouteError(f"unknown backend: {backend} (use {', '.join(BACKENDS)})")
    local_gguf = spec.kind == "gguf" and Path(spec.location, spec.gguf_file or "").is_file()
    if backend == "llama.cpp" and not local_gguf:
        raise R2RouteError(f"the llama.cpp backend runs local .gguf files; {spec.location} is not one")
    if local_gguf and (backend == "llama.cpp" or (backend == "auto" and device.type == "cpu" and llama_cpp_available())):
        from .llamacpp import LlamaCppModel

        return LlamaCppModel.load(Path(spec.location, spec.gguf_file), tokenizer_like=tokenizer_like)
    return load_transformers_model(spec, device, dtype)


def load_transformers_model(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    """Load ``spec`` with transformers (GGUF files are dequantized)."""
    from transformers import AutoModelForCausalLM

    kwargs = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
    if spec.kind == "gguf":
        _require_gguf()
    try:
        tok = from_pretrained(spec.tokenizer or spec.location, **({} if spec.tokenizer else kwargs))
        model = AutoModelForCausalLM.from_pretrained(spec.location, dtype=dtype, **kwargs)
    except (OSError, ValueError, EnvironmentError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        offline = " (no network: give a local directory or .gguf file)" if spec.kind == "hub" and os.environ.get("HF_HUB_OFFLINE") else ""
        raise R2RouteError(f"could not load model {spec.location}{offline}: {first}") from None
    model.to(device).eval()
    return LoadedModel(name=spec.name, model=model, tokenizer=tok, params=count_params(model))


def _require_gguf() -> None:
    require("gguf", "gguf", "loading a .gguf file needs the gguf package")
