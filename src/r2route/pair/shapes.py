"""Random-weight models of real shapes, for measuring speed where real weights cannot travel.

The shapes are those of the Qwen2/Qwen2.5 family (the R2R paper's DeepSeek-R1-Distill-Qwen pairs).
Weights are random, so the text is noise: pair them with forced routing (the random strategy)
and fixed-length outputs. Two random models almost never pick the same token, so every position
the LLM checks is rejected: provisional routing's worst case. ``echo`` builds its best case: every
layer's output projections are zero, so each model's residual stream is its input token's
embedding and its tied head predicts that token again; both models agree everywhere, and every
matmul still runs on full-size weights, so the cost per token is unchanged.

``agree=p`` (with echo) sets how often the two agree, as real pairs do (the default pair's SLM picks
the LLM's token 93% of the time): each model's head is shifted so that it predicts the token after
its input (t → t + 1), so a text walks through the vocabulary and a token stands for its position;
the LLM instead predicts t + 2 after the tokens of a seeded hash set holding a fraction 1 − p of
the vocabulary. So the two agree at a fraction p of positions, spread as by a hash of the position.
"""

from __future__ import annotations

import torch

from ..draws import uniform
from ..errors import R2RouteError
from .loading import LoadedModel
from .params import count_params
from .pair import ModelPair
from .presets import tiny_tokenizer

# hidden, layers, heads, kv heads, intermediate, vocab, tied embeddings ("test": a small one for the tests)
SHAPES: dict[str, tuple[int, int, int, int, int, int, bool]] = {
    "test": (256, 2, 4, 2, 512, 4096, True),
    "0.5b": (896, 24, 14, 2, 4864, 151936, True),
    "1.5b": (1536, 28, 12, 2, 8960, 151936, True),
    "7b": (3584, 28, 28, 4, 18944, 152064, False),
    "14b": (5120, 48, 40, 8, 13824, 152064, False),
    "32b": (5120, 64, 40, 8, 27648, 152064, False),
}


def build_shape_model(shape: str, device: torch.device, dtype: torch.dtype, seed: int = 0, echo: bool = False,
                      successor: float | None = None) -> LoadedModel:
    """A Qwen2 model of the named shape with random weights, built directly on ``device`` (``echo``:
    predicting its input token; ``successor=p``: with echo, predicting the token after it, or two
    after it for a hashed fraction 1 − p of the vocabulary; see the module docstring)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if shape not in SHAPES:
        raise R2RouteError(f"unknown shape: {shape} (use {', '.join(SHAPES)})")
    hidden, layers, heads, kv, inter, vocab, tied = SHAPES[shape]
    if successor is not None and not echo:
        raise R2RouteError("agreement is set on echo models: give echo too")
    cfg = Qwen2Config(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv, intermediate_size=inter, tie_word_embeddings=(tied or echo) and successor is None,
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
            if successor is not None:
                emb = model.get_input_embeddings().weight
                skip = uniform(torch.full((vocab,), 7919, device=device), torch.arange(vocab, device=device), 0) >= successor
                keep = (~skip).roll(1)[:, None].to(emb.dtype)  # row r predicts after r - 1 unless r - 1 skips
                jump = skip.roll(2)[:, None].to(emb.dtype)  # ... and after r - 2 where r - 2 skips
                model.get_output_embeddings().weight.copy_(emb.roll(1, 0) * keep + emb.roll(2, 0) * jump)
    model.eval()
    return LoadedModel(name=f"qwen2-{shape}-{'echo' if echo else 'random'}", model=model, tokenizer=tiny_tokenizer(), params=count_params(model))


def build_shape_pair(slm_shape: str, llm_shape: str, device: torch.device, dtype: torch.dtype, echo: bool = False,
                     agree: float | None = None) -> ModelPair:
    """An SLM/LLM pair of real shapes sharing one (stand-in) tokenizer; ``echo``: models that agree
    everywhere; ``agree=p``: echo models that agree at a fraction p of positions."""
    if agree is not None and not 0.0 <= agree <= 1.0:
        raise R2RouteError(f"agreement must be in [0, 1], got {agree}")
    slm = build_shape_model(slm_shape, device, dtype, seed=1, echo=echo, successor=None if agree is None else 1.0)
    llm = build_shape_model(llm_shape, device, dtype, seed=2, echo=echo, successor=agree)
    llm.tokenizer = slm.tokenizer
    return ModelPair(slm=slm, llm=llm, handoff="token")
