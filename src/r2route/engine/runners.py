"""The engine builds the runner of each loaded model: a model knows its weights, the engine knows
how to decode with them (so ``pair`` never imports ``engine``)."""

from __future__ import annotations

from .. import defaults


def make_runner(lm, num_slots: int, call_cost_tokens: float | None = None, context: int | None = None, invariant: bool = False,
                call_shape=None, hidden: bool = True):
    """A :class:`~.runner.ModelRunner` (transformers) or :class:`~.llamacpp_runner.LlamaCppRunner`
    with ``num_slots`` KV-cache slots for ``lm``, by its backend. ``context``: positions a slot can
    hold (default: the model's window). llama.cpp allocates them up front; the transformers cache
    grows as it fills, so it needs no bound. ``invariant``: llama.cpp sums a row the same whatever
    its batch-mates, at a cost (defaults.LLAMACPP_INVARIANT_BATCH, LLAMACPP_INVARIANT_ROOM); the
    transformers path ignores it.
    ``call_shape``: a llama.cpp :class:`~.llamacpp_runner.CallShape` other than ``invariant``'s default.
    ``hidden=False``: the caller never reads hidden states (llama.cpp then skips the output head
    on tokens whose logits are not asked for; the transformers path computes them anyway)."""
    if call_cost_tokens is None:
        call_cost_tokens = defaults.CALL_COST_TOKENS_CUDA if lm.device.type == "cuda" else defaults.CALL_COST_TOKENS_CPU
    if lm.backend == "llama.cpp":
        from .llamacpp_runner import CallShape, LlamaCppRunner

        # a flat batch per call: no padding to plan
        return LlamaCppRunner(lm, num_slots, context or lm.context_window, call_shape or CallShape.default(invariant), hidden, ordered=invariant)
    from .runner import ModelRunner

    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    return ModelRunner(lm, num_slots, pad, call_cost_tokens)
