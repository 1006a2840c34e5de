"""Random-weight models of real shapes, for measuring speed where real weights cannot travel.

The shapes are those of the Qwen2/Qwen2.5 family (the R2R paper's DeepSeek-R1-Distill-Qwen pairs).
Weights are random, so the text is noise: pair them with forced routing (the random strategy)
and fixed-length outputs. Two random models almost never pick the same token, so every position
the LLM checks is rejected: provisional routing's worst case. ``echo`` builds its best case: every
layer's output projections are zero, so each model's residual stream is its input token's
embedding and its tied head predicts that token again; both models agree everywhere, and every
matmul still runs on full-size weights, so the cost per token is unchanged.
"""

from __future__ import annotations

import torch

from ..errors import R2RouteError
from .loading import LoadedModel
from .params import count_params
from .pair import ModelPair
from .presets import tiny_tokenizer

# hidden, layers, heads, kv heads, intermediate, vocab, tied embeddings
SHAPES: dict[str, tuple[int, int, int, int, int, int, bool]] = {
    "0.5b": (896, 24, 14, 2, 4864, 151936, True),
    "1.5b": (1536, 28, 12, 2, 8960, 151936, True),
    "7b": (3584, 28, 28, 4, 18944, 152064, False),
    "14b": (5120, 48, 40, 8, 13824, 152064, False),
    "32b": (5120, 64, 40, 8, 27648, 152064, False),
}


def build_shape_model(shape: str, device: torch.device, dtype: torch.dtype, seed: int = 0, echo: bool = False) -> LoadedModel:
    """A Qwen2 model of the named shape with random weights, built directly on ``device``
    (``echo``: predicting its input token, see the module docstring)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if shape not in SHAPES:
        raise R2RouteError(f"unknown shape: {shape} (use {', '.join(SHAPES)})")
    hidden, layers, heads, kv, inter, vocab, tied = SHAPES[shape]
    cfg = Qwen2Config(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv, intermediate_size=inter, tie_word_embeddings=tied or echo,
        max_position_embeddings=32768, attn_implementation="sdpa",
    )
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.device(device):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM._from_config(cfg, dtype=dtype)
    if echo:
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
    model.eval()
    return LoadedModel(name=f"qwen2-{shape}-{'echo' if echo else 'random'}", model=model, tokenizer=tiny_tokenizer(), params=count_params(model))


def build_shape_pair(slm_shape: str, llm_shape: str, device: torch.device, dtype: torch.dtype, echo: bool = False) -> ModelPair:
    """An SLM/LLM pair of real shapes sharing one (stand-in) tokenizer; ``echo``: models that agree."""
    slm = build_shape_model(slm_shape, device, dtype, seed=1, echo=echo)
    llm = build_shape_model(llm_shape, device, dtype, seed=2, echo=echo)
    llm.tokenizer = slm.tokenizer
    return ModelPair(slm=slm, llm=llm, handoff="token")
