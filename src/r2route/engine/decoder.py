"""r2route's own forward over a transformers decoder's weights, for a KV cache allocated once.

transformers' cache API keeps one position vector per batch, while r2route's rows each have their
own length (the LLM catches up on some rows and not others; rows roll back on their own). So the
static runner does what fast engines do (gpt-fast, nano-vllm): a small forward of its own over the
model's modules — the weights, norms, MLPs and rotary tables stay transformers' — that writes each
row's new keys and values at that row's positions and attends by a per-row position mask.

Covered: the Llama layer shape (pre-norm attention with rotary embeddings, grouped KV heads,
optional q/k/v biases, then a gated MLP): ``llama``, ``qwen2``, ``mistral``. Other architectures
run on the eager runner.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

ARCHITECTURES = ("llama", "qwen2", "mistral")


def supports(model: torch.nn.Module) -> bool:
    """Whether :class:`Decoder` can run ``model`` (by its config's type and its modules' names)."""
    cfg = getattr(model, "config", None)
    if getattr(cfg, "model_type", None) not in ARCHITECTURES:
        return False
    base = model.base_model
    attn = base.layers[0].self_attn
    return all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")) and not hasattr(attn, "q_norm") \
        and hasattr(base, "rotary_emb") and hasattr(base, "norm")


@dataclass(frozen=True)
class CacheShape:
    layers: int
    kv_heads: int
    head_dim: int


def cache_shape(model: torch.nn.Module) -> CacheShape:
    cfg = model.config
    attn = model.base_model.layers[0].self_attn
    return CacheShape(cfg.num_hidden_layers, cfg.num_key_value_heads, attn.head_dim)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Decoder:
    """The decoder stack of one model, run over a static cache ``k``/``v``
    [layers, slots, max_len, kv_heads, head_dim]."""

    def __init__(self, model: torch.nn.Module, max_len: int):
        base = model.base_model
        self.embed = base.embed_tokens
        self.layers = list(base.layers)
        self.norm = base.norm
        cfg = model.config
        self.heads, self.kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = self.layers[0].self_attn.head_dim
        self.scale = self.layers[0].self_attn.scaling
        device, dtype = self.embed.weight.device, self.embed.weight.dtype
        # The rotary tables for every position, once, from the model's own rotary module (so any
        # rope scaling it applies is kept); a forward gathers its rows by position.
        with torch.inference_mode():
            probe = torch.zeros(1, 1, self.head_dim, device=device, dtype=dtype)
            cos, sin = base.rotary_emb(probe, torch.arange(max_len, device=device)[None])
        self.cos, self.sin = cos[0], sin[0]  # [max_len, head_dim]
        self.key_positions = torch.arange(max_len, device=device)
        # each layer's modules, looked up once (a module attribute lookup costs more than the op on small models)
        self.blocks = [(layer.input_layernorm, layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj,
                        layer.self_attn.o_proj, layer.post_attention_layernorm, layer.mlp) for layer in self.layers]

    def __call__(self, ids: torch.Tensor, pos: torch.Tensor, write_rows: torch.Tensor, write_pos: torch.Tensor,
                 read_rows: torch.Tensor | slice, kv_len: int, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Hidden states [n, w, d] after the final norm for ``ids`` [n, w] at positions ``pos`` [n, w].
        Each token's key and value go to ``k/v[layer, write_rows, write_pos]`` (padding goes to a
        scratch row); attention reads rows ``read_rows`` up to ``kv_len`` positions, masked to
        positions ≤ the query's own, so entries past a row's length (stale after a rollback) are
        never read."""
        n, w = ids.shape
        x = self.embed(ids)
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]  # [n, 1, w, head_dim]
        mask = (self.key_positions[:kv_len][None, None, :] <= pos[:, :, None])[:, None]  # [n, 1, w, kv_len]
        gqa = self.heads != self.kv_heads
        for i, (norm1, q_proj, k_proj, v_proj, o_proj, norm2, mlp) in enumerate(self.blocks):
            h = norm1(x)
            q = q_proj(h).view(n, w, self.heads, self.head_dim).transpose(1, 2)
            kk = k_proj(h).view(n, w, self.kv_heads, self.head_dim).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            kk = kk * cos + _rotate_half(kk) * sin
            k[i][write_rows, write_pos] = kk.transpose(1, 2)
            v[i][write_rows, write_pos] = v_proj(h).view(n, w, self.kv_heads, self.head_dim)
            keys = k[i][read_rows, :kv_len].transpose(1, 2)  # [n, kv_heads, kv_len, head_dim]
            values = v[i][read_rows, :kv_len].transpose(1, 2)
            o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=self.scale, enable_gqa=gqa)
            x = x + o_proj(o.transpose(1, 2).reshape(n, w, self.heads * self.head_dim))
            x = x + mlp(norm2(x))
        return self.norm(x)
