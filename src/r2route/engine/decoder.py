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
# rotary scalings whose tables change with the sequence's length: one table per position cannot hold them
LENGTH_DEPENDENT_ROPE = ("dynamic", "longrope")


def supports(model: torch.nn.Module) -> bool:
    """Whether :class:`Decoder` can run ``model`` (by its config's type and its modules' names)."""
    cfg = getattr(model, "config", None)
    if getattr(cfg, "model_type", None) not in ARCHITECTURES:
        return False
    base = model.base_model
    layer = base.layers[0]
    return all(hasattr(layer.self_attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")) and not hasattr(layer.self_attn, "q_norm") \
        and all(hasattr(layer.mlp, n) for n in ("gate_proj", "up_proj", "down_proj", "act_fn")) \
        and all(hasattr(m, "variance_epsilon") for m in (layer.input_layernorm, layer.post_attention_layernorm, base.norm)) \
        and hasattr(base, "rotary_emb") and getattr(base.rotary_emb, "rope_type", "default") not in LENGTH_DEPENDENT_ROPE


@dataclass(frozen=True)
class CacheShape:
    layers: int
    kv_heads: int
    head_dim: int


def cache_shape(model: torch.nn.Module) -> CacheShape:
    cfg = model.config
    attn = model.base_model.layers[0].self_attn
    return CacheShape(cfg.num_hidden_layers, cfg.num_key_value_heads, attn.head_dim)


def _norm(module: torch.nn.Module) -> tuple[torch.Tensor, float]:
    return module.weight, module.variance_epsilon


def _linear(module: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    return module.weight, module.bias


@dataclass(frozen=True)
class Block:
    """One layer's weights, looked up once: a module call costs more than its op on small models."""

    norm1: tuple
    q: tuple
    k: tuple
    v: tuple
    o: tuple
    norm2: tuple
    gate: tuple
    up: tuple
    down: tuple
    act: object

    @classmethod
    def of(cls, layer: torch.nn.Module) -> Block:
        a, m = layer.self_attn, layer.mlp
        return cls(_norm(layer.input_layernorm), _linear(a.q_proj), _linear(a.k_proj), _linear(a.v_proj), _linear(a.o_proj),
                   _norm(layer.post_attention_layernorm), _linear(m.gate_proj), _linear(m.up_proj), _linear(m.down_proj), m.act_fn)


class Decoder:
    """The decoder stack of one model, run over a static cache ``k``/``v``
    [layers, slots, max_len, kv_heads, head_dim]."""

    def __init__(self, model: torch.nn.Module, max_len: int):
        base = model.base_model
        self.embed = base.embed_tokens
        self.layers = list(base.layers)
        self.norm = _norm(base.norm)
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
        # rotate_half(x) · sin (the two halves swapped, the first negated) is roll(x) · sin with its first
        # half negated: one op fewer per tensor, the same numbers
        half = self.head_dim // 2
        self.cos, self.sin = cos[0], torch.cat((-sin[0, :, :half], sin[0, :, half:]), dim=-1)  # [max_len, head_dim]
        self.key_positions = torch.arange(max_len, device=device)
        self.blocks = [Block.of(layer) for layer in self.layers]
        # Each layer's index into the cache as a device tensor: a write indexes the whole cache
        # (``k.index_put_((layer, rows, positions), ...)``), never a layer's view of it, which
        # torch.compile would turn into a copy of the cache at every forward.
        self.layer_ids = torch.arange(len(self.layers), device=device).unbind(0)

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
        heads, kv_heads, d = self.heads, self.kv_heads, self.head_dim
        for i, b in enumerate(self.blocks):
            h = F.rms_norm(x, x.shape[-1:], *b.norm1)
            q = F.linear(h, *b.q).view(n, w, heads, d).transpose(1, 2)
            kk = F.linear(h, *b.k).view(n, w, kv_heads, d).transpose(1, 2)
            q = q * cos + q.roll(d // 2, -1) * sin
            kk = kk * cos + kk.roll(d // 2, -1) * sin
            at = (self.layer_ids[i], write_rows, write_pos)
            k.index_put_(at, kk.transpose(1, 2))
            v.index_put_(at, F.linear(h, *b.v).view(n, w, kv_heads, d))
            keys = k[i][read_rows, :kv_len].transpose(1, 2)  # [n, kv_heads, kv_len, head_dim]
            values = v[i][read_rows, :kv_len].transpose(1, 2)
            o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=self.scale, enable_gqa=gqa)
            x = x + F.linear(o.transpose(1, 2).reshape(n, w, heads * d), *b.o)
            h = F.rms_norm(x, x.shape[-1:], *b.norm2)
            x = x + F.linear(b.act(F.linear(h, *b.gate)) * F.linear(h, *b.up), *b.down)
        return F.rms_norm(x, x.shape[-1:], *self.norm)
