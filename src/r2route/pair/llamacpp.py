"""A GGUF model run by llama.cpp (llama-cpp-python), for fast CPU decoding.

The tokenizer comes from transformers' GGUF support (converted once and cached beside the file),
so text, chat templates and the router's token space are the same as on the transformers path.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import defaults
from ..errors import R2RouteError
from ..optional import require
from .params import ParamCount
from .tokenizers import from_pretrained


def require_llama_cpp():
    llama_cpp = require("llama_cpp", "llamacpp", "the llama.cpp backend needs llama-cpp-python")
    llog = require("llama_cpp._logger", "llamacpp")
    llog.logger.setLevel(logging.CRITICAL)  # llama.cpp's load chatter would bury r2route's one-line messages
    return llama_cpp


def _tokenizer_for(path: Path, like=None):
    """transformers' tokenizer from a GGUF file, cached as a directory keyed by the file's identity.
    ``like``: a tokenizer already loaded; where this file's tokenizer is the same (its files are
    byte for byte equal), that one is returned instead of a second copy (~50 MB for Qwen's vocabulary)."""
    from .registry import cache_dir

    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / "tokenizers" / f"{path.stem}-{key}"
    if not (cached / "tokenizer_config.json").is_file():
        tok = from_pretrained(str(path.parent), gguf_file=path.name)
        try:
            tok.save_pretrained(cached)
        except OSError:
            return tok  # a read-only cache only costs the conversion next time
    if like is not None and _same_files(cached, Path(getattr(like, "name_or_path", "") or "/nonexistent")):
        return like
    return from_pretrained(str(cached))


def _same_files(a: Path, b: Path) -> bool:
    names = ("tokenizer.json", "tokenizer_config.json")
    try:
        return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    except OSError:
        return False


@dataclass
class LlamaCppModel:
    """A llama.cpp model; the engine uses it through the same interface as :class:`LoadedModel`."""

    name: str
    path: Path
    tokenizer: object
    params: ParamCount
    handle: object  # llama_model_p
    n_embd: int
    n_vocab: int
    n_ctx_train: int
    threads: int
    gpu_layers: int
    ctx_per_slot: int
    kv_type: str = "f16"
    _embedding: object | None = field(default=None, repr=False)  # gguf_scan.MatrixRows
    backend = "llama.cpp"

    @classmethod
    def load(
        cls, path: str | Path, threads: int = 0, gpu_layers: int = 0,
        ctx_per_slot: int = defaults.LLAMACPP_CTX_PER_SLOT, kv_type: str = defaults.LLAMACPP_KV_TYPE, tokenizer_like=None,
    ) -> "LlamaCppModel":
        """Load a GGUF file; ``kv_type`` f16 (half the memory) or f32 (matches transformers closely);
        ``tokenizer_like``: another model's tokenizer, shared where this file's is the same."""
        lc = require_llama_cpp()
        if kv_type not in ("f16", "f32"):
            raise R2RouteError(f"unknown KV cache type: {kv_type} (use f16 or f32)")
        path = Path(path)
        if not path.is_file():
            raise R2RouteError(f"model file not found: {path}")
        from .gguf_scan import check_gguf

        check_gguf(path)
        mparams = lc.llama_model_default_params()
        mparams.n_gpu_layers = gpu_layers
        # Repacking quantized weights for AVX2 kept a second copy (1.5x the file in RSS) and measured
        # no faster here (prefill 47.8 vs 49.3 tok/s, decode 11.6 vs 11.7 on Qwen2.5-1.5B, 2 cores).
        mparams.use_extra_bufts = False
        handle = lc.llama_model_load_from_file(str(path).encode(), mparams)
        if not handle:
            raise R2RouteError(f"llama.cpp could not load {path}")
        tok = _tokenizer_for(path, tokenizer_like)
        n = int(lc.llama_model_n_params(handle))
        vocab = lc.llama_model_get_vocab(handle)
        n_vocab, n_embd = int(lc.llama_vocab_n_tokens(vocab)), int(lc.llama_model_n_embd(handle))
        non_embed = n - n_vocab * n_embd * (1 if _tied(path) else 2)
        return cls(
            name=path.stem, path=path, tokenizer=tok, params=ParamCount(n, non_embed), handle=handle, n_embd=n_embd,
            n_vocab=n_vocab, n_ctx_train=int(lc.llama_model_n_ctx_train(handle)),
            threads=threads or (os.cpu_count() or 1), gpu_layers=gpu_layers, ctx_per_slot=ctx_per_slot, kv_type=kv_type,
        )

    # --- the engine-facing interface ---
    @property
    def device(self) -> torch.device:
        return torch.device("cpu")  # outputs come back as CPU tensors

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    @property
    def vocab_size(self) -> int:
        return self.n_vocab

    @property
    def context_window(self) -> int:
        return min(self.n_ctx_train, self.ctx_per_slot)

    @property
    def weight_bytes(self) -> int:
        return self.path.stat().st_size

    def eos_ids(self) -> set[int]:
        lc = require_llama_cpp()
        vocab = lc.llama_model_get_vocab(self.handle)
        ids = {int(lc.llama_vocab_eos(vocab))}
        eot = int(lc.llama_vocab_eot(vocab))
        if eot >= 0:
            ids.add(eot)
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return {i for i in ids if i >= 0}

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings (the router's token feature), dequantized from the GGUF row by row."""
        if self._embedding is None:
            self._embedding = _token_embedding(self.path)
        return torch.from_numpy(self._embedding.rows(ids.cpu().numpy()))

    @property
    def hidden_size(self) -> int:
        return self.n_embd

    def __del__(self):
        handle, self.handle = getattr(self, "handle", None), None
        if handle:
            try:
                require_llama_cpp().llama_model_free(handle)
            except Exception:
                pass


def _tied(path: Path) -> bool:
    """Whether the GGUF has no separate output matrix (the LM head is the token embedding)."""
    from .gguf_scan import tensor_table

    return "output.weight" not in tensor_table(path)


def _token_embedding(path: Path):
    from .gguf_scan import MatrixRows, tensor_table

    info = tensor_table(path).get("token_embd.weight")
    if info is None:
        raise R2RouteError(f"{path} has no token_embd.weight tensor")
    return MatrixRows(path, info)


