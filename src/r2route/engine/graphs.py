"""The graph runner: the static runner's decode steps captured in CUDA graphs and replayed.

On a GPU a decode step of a small model is mostly host work: hundreds of kernel launches, each
costing more than its arithmetic. A CUDA graph records a step's kernels once and replays them with
one launch (gpt-fast, nano-vllm, SGLang and vLLM all decode this way). A graph fixes shapes and
addresses, so every step of a given shape reads the same static input buffers and writes the same
static output buffers:

- a forward spans the slot range ``[0, B)`` for a batch bucket B (1, 2, 4, …, 64), not the caller's
  rows: slots outside the call get 0 new tokens, whose padding writes go to the scratch slot and
  whose outputs are ignored (the session keeps its rows in the lowest slots);
- its width is a bucket W (1–8, 16, 32, 64): a row with fewer new tokens is padded, and its padding
  writes entries past the row's length, which the mask hides and the next write replaces;
- attention reads a bucket of K cache positions (powers of two from 256, up to the window);
- the SLM's step graph (W = 1) ends with the step's device work (:class:`~.device_step.SLMStep`:
  next tokens, router features and decisions), so a step is: fill buffers → replay → one copy to
  the host. The LLM's catch-up and verification graphs end with the final hidden states; the few
  rows asked for go through the LM head and the verdict outside the graph.

Wider calls (a long prefill) and steps with per-request strategies run eagerly on the same cache.
Graphs are captured lazily, the first time a shape is met, after one warm-up run on a side stream
(its writes are the step's own and its length updates are undone); ``captures`` and
``capture_seconds`` say what that cost. With ``capture=False`` (the CPU, and the CPU tests) the same
padded, bucketed code runs without capture: what a graph would replay, step for step.

With ``compile_forward=True`` (the ``graph-compiled`` runner) the forward is first compiled by
``torch.compile`` (inductor's default mode: fused kernels, no graphs of its own), then captured as
above, as gpt-fast decodes. On a GPU compiling happens in a graph's warm-up run, so
``capture_seconds`` includes it (on the CPU, and for calls too wide for a graph, it happens at the
first call); dynamo recompiles once for shapes that vary (batch, width, attention length) and then
treats them as dynamic, so a handful of compiles cover every bucket. It never changes what is
computed, only how: its fused kernels may round differently, so tokens match the static runner's
where logits are not near a tie (the interface test compares logits within a tolerance; decoding
tests compare the tokens of fp32 tiny models, whose greedy tokens are never that near a tie).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch

from ..pair.loading import LoadedModel
from .device_step import SLMStep
from .sampling import Draws
from .static_runner import StaticRunner
from .transfer import to_device

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
WIDTH_BUCKETS = (1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64)
KV_MIN = 256


def bucket(n: int, buckets: tuple[int, ...]) -> int | None:
    """The smallest bucket ≥ n, or None past the largest."""
    return next((b for b in buckets if b >= n), None)


# Compiles dynamo may make of one forward: the SLM's and the LLM's runners share its code, and sizes
# of 1 (batch, width) get graphs of their own beside the dynamic one; dynamo's default (8) would
# silently leave the rest eager.
RECOMPILE_LIMIT = 64


def compiled(forward: Callable) -> Callable:
    """``forward`` compiled by ``torch.compile`` (inductor's default mode: fused kernels and no CUDA
    graphs of its own, since the graph runner captures the compiled kernels itself)."""
    fn = torch.compile(forward, fullgraph=True)  # a graph break is an error, not a silent split

    def run(*args):
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            return fn(*args)

    return run


class GraphRunner(StaticRunner):
    """:class:`~.static_runner.StaticRunner` whose bucketed decode forwards are CUDA graphs."""

    def __init__(self, lm: LoadedModel, num_slots: int, context: int, pad_id: int = 0, call_cost_tokens: float = 32.0,
                 capture: bool = True, compile_forward: bool = False):
        self.max_batch = bucket(num_slots, BATCH_BUCKETS) or num_slots
        super().__init__(lm, num_slots, context, pad_id, call_cost_tokens, cache_rows=self.max_batch)
        if compile_forward:  # the bound method, so eager calls (a long prefill) run compiled too
            self._forward_rows = compiled(self._forward_rows)
        self.capture = capture and self.device.type == "cuda"
        b, w = self.max_batch, WIDTH_BUCKETS[-1]
        dev = self.device
        # Static inputs, indexed by slot: what the host fills before a replay. Inference tensors, as
        # the eager path's inputs are (built in inference mode), so a compiled forward sees one
        # kind of input on both paths instead of compiling twice.
        with torch.inference_mode():
            self.in_ids = torch.zeros(b, w, dtype=torch.long, device=dev)
            self.in_counts = torch.zeros(b, dtype=torch.long, device=dev)
            self.in_seed = torch.zeros(b, dtype=torch.long, device=dev)
            self.in_pos = torch.zeros(b, dtype=torch.long, device=dev)
            self.in_temp = torch.zeros(b, dtype=torch.float32, device=dev)
            self.in_top_p = torch.ones(b, dtype=torch.float32, device=dev)
            self.slot_range = torch.arange(b, device=dev)
        # static outputs, shared by every graph (each is read before the next replay)
        self.out_hidden = torch.zeros(b, w, lm.model.config.hidden_size, dtype=lm.dtype, device=dev)
        self.out_step = torch.zeros(2, b, dtype=torch.long, device=dev)
        self.out_probs: torch.Tensor | None = None  # [b, V], at the first sampling step
        self.graphs: dict[tuple, torch.cuda.CUDAGraph] = {}
        self.pool = None
        self.captures = 0
        self.capture_seconds = 0.0

    # --- shapes ---
    def _shape(self, slots: list[int], new: list[list[int]]) -> tuple[int, int, int] | None:
        """(B, W, K) of a bucketed forward over these rows, or None where it does not fit a bucket."""
        b = bucket(max(slots) + 1, BATCH_BUCKETS)
        w = bucket(max(len(x) for x in new), WIDTH_BUCKETS)
        if b is None or w is None or b > self.max_batch or w > self.max_len:
            return None
        # Powers of two, not the eager step's KV_LEN_STEP: each attention length is one more graph.
        k = min(self.max_len, max(KV_MIN, 1 << (self._need(slots, new) - 1).bit_length()))
        return b, w, k

    def _fill(self, b: int, w: int, slots: list[int], new: list[list[int]], gens=None, positions=None) -> None:
        """Copy the call's inputs into the static buffers, by slot; slots outside the call get none."""
        ints = torch.zeros(4 if gens is not None else 2, b, w, dtype=torch.long)  # ids; counts, seeds, positions in column 0
        ints[0].fill_(self.pad_id)
        for i, (s, x) in enumerate(zip(slots, new)):
            ints[0, s, :len(x)] = torch.tensor(x, dtype=torch.long)
            ints[1, s, 0] = len(x)
            if gens is not None:
                ints[2, s, 0], ints[3, s, 0] = gens[i].seed, positions[i]
        ints = ints.to(self.device, non_blocking=True)
        self.in_ids[:b, :w].copy_(ints[0])
        self.in_counts[:b].copy_(ints[1, :, 0])
        if gens is not None:
            self.in_seed[:b].copy_(ints[2, :, 0])
            self.in_pos[:b].copy_(ints[3, :, 0])
            floats = torch.zeros(2, b, dtype=torch.float32)
            floats[1].fill_(1.0)
            for s, g in zip(slots, gens):
                floats[0, s], floats[1, s] = g.temperature, g.top_p
            floats = floats.to(self.device, non_blocking=True)
            self.in_temp[:b].copy_(floats[0])
            self.in_top_p[:b].copy_(floats[1])

    # --- the bucketed forward (catch-up, prefill of short prompts, verification) ---
    def _run(self, slots: list[int], new: list[list[int]], cols: list[list[int]]) -> torch.Tensor:
        shape = self._shape(slots, new)
        if shape is None:
            return super()._run(slots, new, cols)
        self._check_room(slots, new)
        b, w, k = shape
        self._fill(b, w, slots, new)
        self._replay(("forward", b, w, k), lambda: self._forward_body(b, w, k))
        self._book(slots, new)
        r = to_device([s for s, c in zip(slots, cols) for _ in c], self.device)
        c = to_device([j for cs in cols for j in cs], self.device)
        return self.out_hidden[r, c]

    def _forward_body(self, b: int, w: int, k: int) -> None:
        hidden = self._forward_rows(self.in_ids[:b, :w], self.slot_range[:b], self.in_counts[:b], slice(0, b), k)
        self.out_hidden[:b, :w].copy_(hidden)

    # --- the SLM's step: forward, head, tokens and decisions in one graph ---
    @torch.inference_mode()
    def decode(self, slots: list[int], seqs: list[list[int]], step: SLMStep, gens: list, positions: list[int]):
        self._check_prefix(slots, seqs)
        new = [seq[self.lengths[s]:] for s, seq in zip(slots, seqs)]
        if min(len(x) for x in new) == 0:
            raise ValueError("decode needs at least one unseen token per slot")
        shape = self._shape(slots, new)
        if shape is None or shape[1] != 1 or not step.capture:
            return super().decode(slots, seqs, step, gens, positions)
        self._check_room(slots, new)
        b, _, k = shape
        self._fill(b, 1, slots, new, gens, positions)
        if step.sampling and self.out_probs is None:
            self.out_probs = torch.zeros(self.max_batch, self.head.head.out_features, dtype=torch.float32, device=self.device)
        pure = dataclasses.replace(step, timer=None)  # no events inside a graph: the router is not timed apart here
        self._replay(("step", b, k, pure), lambda: self._step_body(b, k, pure))
        self._book(slots, new)
        idx = to_device(slots, self.device)
        probs = self.out_probs[:b].index_select(0, idx)[:, : step.vocab] if step.sampling else None
        return self.out_step[:, :b].index_select(1, idx), probs

    def _step_body(self, b: int, k: int, step: SLMStep) -> None:
        hidden = self._forward_rows(self.in_ids[:b, :1], self.slot_range[:b], self.in_counts[:b], slice(0, b), k)[:, 0]
        draws = Draws(self.in_temp[:b], self.in_top_p[:b], self.in_seed[:b], self.in_pos[:b], step.sampling, step.cut)
        out, probs = step(hidden, self.head(hidden), draws)
        self.out_step[:, :b].copy_(out)
        if probs is not None:
            self.out_probs[:b, : probs.shape[1]].copy_(probs)

    # --- capture and replay ---
    def warm_up(self, step: SLMStep | None) -> None:
        """Capture the graphs the first steps meet, at every batch bucket up to the slots and every
        attention bucket of the window: the SLM's step with ``step`` (greedy; nothing where it may
        not be captured), or one-token forwards (the LLM's). Each runs with no row given a token, so
        no cache entry or length changes."""
        if not self.capture or (step is not None and not step.capture):
            return
        kv = sorted({min(self.max_len, max(KV_MIN, 1 << i)) for i in range(self.max_len.bit_length() + 1)})
        with torch.inference_mode():
            for b in (x for x in BATCH_BUCKETS if x <= self.max_batch):
                self.in_counts[:b].zero_()
                for k in kv:
                    if step is not None:
                        self._replay(("step", b, k, step), lambda: self._step_body(b, k, step))
                    else:
                        self._replay(("forward", b, 1, k), lambda: self._forward_body(b, 1, k))

    def _replay(self, key: tuple, body: Callable[[], None]) -> None:
        if not self.capture:
            body()
            return
        graph = self.graphs.get(key)
        if graph is None:
            graph = self.graphs[key] = self._capture(body)
        graph.replay()

    def _capture(self, body: Callable[[], None]) -> torch.cuda.CUDAGraph:
        t = time.perf_counter()
        lengths = self.length.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # lazy initialisations (kernels, workspaces) happen outside the graph
            body()
        torch.cuda.current_stream().wait_stream(side)
        self.length.copy_(lengths)  # the warm-up's cache writes are the replay's own; its length updates are undone
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            body()
        self.pool = graph.pool()
        torch.cuda.synchronize()
        self.captures += 1
        self.capture_seconds += time.perf_counter() - t
        return graph
