"""Built-in pairs of random-weight Llama models, for tests and development (no download).

``tiny``: both models share the shipped byte-level tokenizer (token handoff). The tiny LLM starts
from the tiny SLM's weights and adds layers whose residual contributions are small, so the two
agree on most next tokens but not all — like a real SLM/LLM pair of one family, which makes
routing, labels and mismatches non-trivial in tests.
``tiny-cross``: the same SLM with an LLM of another tokenizer kind (SentencePiece-style, 768
tokens), so every handoff goes through text.
Both build in well under a second, from a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import torch

from .. import defaults
from .loading import LoadedModel
from .params import count_params

TINY_TOKENIZERS = ("tiny_tokenizer", "tiny_tokenizer_sp")  # byte-level BPE; SentencePiece-style BPE


@dataclass(frozen=True)
class TinyShape:
    hidden: int = 64
    intermediate: int = 192
    heads: int = 4
    kv_heads: int = 2
    slm_layers: int = 2
    llm_layers: int = 6
    # Scale of the LLM's extra layers' output projections: sets how often the pair disagrees.
    extra_layer_scale: float = 0.2
    init_std: float = 0.1
    context: int = 2048


def tiny_tokenizer(name: str = "tiny_tokenizer"):
    """A small tokenizer shipped in the package, with a ChatML template: ``tiny_tokenizer`` is a
    byte-level BPE (1,024 tokens), ``tiny_tokenizer_sp`` a SentencePiece-style BPE (768 tokens)."""
    from transformers import AutoTokenizer

    path = resources.files("r2route") / "assets" / name
    with resources.as_file(path) as p:
        return AutoTokenizer.from_pretrained(str(p))


def _config(shape: TinyShape, layers: int, vocab: int, tok):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        max_position_embeddings=shape.context,
        initializer_range=shape.init_std,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        attn_implementation="sdpa",
    )


def build_tiny_pair(
    device: torch.device, dtype: torch.dtype, seed: int = defaults.TINY_SEED, shape: TinyShape = TinyShape(), cross: bool = False
) -> tuple[LoadedModel, LoadedModel]:
    """Build the tiny SLM and LLM deterministically from ``seed``; ``cross``: the LLM has another tokenizer."""
    from transformers import LlamaForCausalLM

    tok = tiny_tokenizer()
    llm_tok = tiny_tokenizer("tiny_tokenizer_sp") if cross else tok
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        slm = LlamaForCausalLM(_config(shape, shape.slm_layers, len(tok), tok))
        llm = LlamaForCausalLM(_config(shape, shape.llm_layers, len(llm_tok), llm_tok))
    if not cross:
        llm.load_state_dict(slm.state_dict(), strict=False)  # shared embeddings, norm and first layers
        with torch.no_grad():
            for layer in llm.model.layers[shape.slm_layers:]:
                layer.self_attn.o_proj.weight.mul_(shape.extra_layer_scale)
                layer.mlp.down_proj.weight.mul_(shape.extra_layer_scale)
    out = []
    llm_name = f"tiny-llm-sp@{seed}" if cross else f"tiny-llm@{seed}"
    for name, model, t in ((f"tiny-slm@{seed}", slm, tok), (llm_name, llm, llm_tok)):
        model.to(device=device, dtype=dtype).eval()
        model.generation_config.pad_token_id = t.pad_token_id
        out.append(LoadedModel(name=name, model=model, tokenizer=t, params=count_params(model)))
    return out[0], out[1]
