"""Which runner runs a model: a registry of the :class:`~.runner.Runner` implementations.

A model knows its weights; the engine knows how to decode with them (so ``pair`` never imports
``engine``). Each runner is named, and says which backend it runs:

- ``eager``: transformers' own forward and a cache that grows (any causal LM transformers loads);
- ``static``: a cache allocated once and r2route's own forward over the weights (the Llama layer
  shape: Llama, Qwen2, Mistral; see :mod:`.decoder`);
- ``graph``: the static runner with its decode steps captured in CUDA graphs and replayed (on the
  CPU the same padded, bucketed steps run without capture; see :mod:`.graphs`);
- ``graph-compiled``: the graph runner with its forward compiled by ``torch.compile`` before
  capture (minutes of compiling at the first steps; worth it only where fused kernels beat the
  compile time: ``benchmarks/speed.py --runners graph,graph-compiled`` measures both);
- ``llama.cpp``: a llama.cpp context holding every slot as a sequence (GGUF files).

``auto`` picks llama.cpp for a llama.cpp model, and for a transformers model the static runner where
the architecture is covered, else eager (saying so once on a GPU, where the difference is largest).
On the CPU the static runner is never the slower one: a bare decode forward of the tiny test model
takes 0.24 ms against eager's 0.49 ms at batch 1, and a Qwen2.5-0.5B shape 117 ms against 119 ms
(fp32, 2 cores; docs/speed.md), since there the model's arithmetic dominates.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .. import defaults
from ..errors import R2RouteError
from .runner import Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerKind:
    backend: str  # the LoadedModel.backend it runs
    build: Callable[..., Runner]


def _eager(lm, num_slots, context, call_cost_tokens, invariant, call_shape, hidden):
    from .eager_runner import EagerRunner

    return EagerRunner(lm, num_slots, _pad_id(lm), call_cost_tokens)


def _static_window(lm, context: int | None) -> int:
    """Positions a static cache holds: the caller's window (default STATIC_CONTEXT), never past the
    model's own (a sliding-window model attends fully only within it)."""
    return min(context or defaults.STATIC_CONTEXT, lm.context_window)


def _check_static(lm) -> None:
    from .decoder import ARCHITECTURES, supports

    if not supports(lm.model):
        kind = getattr(lm.model.config, "model_type", "?")
        raise R2RouteError(f"the static runner covers {', '.join(ARCHITECTURES)} models, not {kind} ({lm.name}): use --runner eager")


def _static(lm, num_slots, context, call_cost_tokens, invariant, call_shape, hidden):
    from .static_runner import StaticRunner

    _check_static(lm)
    return StaticRunner(lm, num_slots, _static_window(lm, context), _pad_id(lm), call_cost_tokens)


def _graph(lm, num_slots, context, call_cost_tokens, invariant, call_shape, hidden, compile_forward=False):
    from .graphs import GraphRunner

    _check_static(lm)
    return GraphRunner(lm, num_slots, _static_window(lm, context), _pad_id(lm), call_cost_tokens, compile_forward=compile_forward)


def _llamacpp(lm, num_slots, context, call_cost_tokens, invariant, call_shape, hidden):
    from .llamacpp_runner import CallShape, LlamaCppRunner

    # a flat batch per call: no padding to plan
    return LlamaCppRunner(lm, num_slots, context or lm.context_window, call_shape or CallShape.default(invariant), hidden, ordered=invariant)


RUNNERS: dict[str, RunnerKind] = {
    "eager": RunnerKind("transformers", _eager),
    "static": RunnerKind("transformers", _static),
    "graph": RunnerKind("transformers", _graph),
    "graph-compiled": RunnerKind("transformers", functools.partial(_graph, compile_forward=True)),
    "llama.cpp": RunnerKind("llama.cpp", _llamacpp),
}


@functools.cache
def _note_eager(name: str, kind: str) -> None:
    """Say once per model that it runs on the eager runner on a GPU (where the static one is faster)."""
    log.warning("%s: the static runner does not cover %s models; it runs on the eager runner", name, kind)


def _pad_id(lm) -> int:
    return lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0


def check_runner_name(runner: str) -> None:
    """A one-line error for a runner name that is neither auto nor registered."""
    if runner != "auto" and runner not in RUNNERS:
        raise R2RouteError(f"unknown runner: {runner} (use auto, {', '.join(RUNNERS)})")


def resolve_runner(lm, runner: str = defaults.RUNNER) -> str:
    """The runner name for ``lm``: ``runner`` checked against the model's backend, or auto's choice."""
    check_runner_name(runner)
    if runner == "auto":
        if lm.backend != "transformers":
            return lm.backend
        from .decoder import supports

        if supports(lm.model):
            return "static"
        if lm.device.type == "cuda":
            _note_eager(lm.name, getattr(lm.model.config, "model_type", "this architecture"))
        return "eager"
    if RUNNERS[runner].backend != lm.backend:
        raise R2RouteError(f"the {runner} runner runs {RUNNERS[runner].backend} models; {lm.name} is a {lm.backend} model")
    return runner


def make_runner(lm, num_slots: int, call_cost_tokens: float | None = None, context: int | None = None, invariant: bool = False,
                call_shape=None, hidden: bool = True, runner: str = defaults.RUNNER) -> Runner:
    """A runner with ``num_slots`` KV-cache slots for ``lm`` (see the module docstring for ``runner``).
    ``context``: positions a slot can hold (default: the model's window; the static runner caps it
    at ``defaults.STATIC_CONTEXT``, since it allocates them up front, as llama.cpp does).
    ``invariant``: llama.cpp sums a row the same whatever its batch-mates, at a cost
    (defaults.LLAMACPP_INVARIANT_*); the transformers runners ignore it. ``call_shape``: a llama.cpp
    :class:`~.llamacpp_runner.CallShape` other than ``invariant``'s default. ``hidden=False``: the
    caller never reads hidden states (llama.cpp then skips the output head on tokens whose logits
    are not asked for)."""
    if call_cost_tokens is None:
        call_cost_tokens = defaults.CALL_COST_TOKENS_CUDA if lm.device.type == "cuda" else defaults.CALL_COST_TOKENS_CPU
    name = resolve_runner(lm, runner)
    return RUNNERS[name].build(lm, num_slots, context, call_cost_tokens, invariant, call_shape, hidden)
