"""The eager runner: a transformers model's own forward over a cache that grows as it fills.

Any causal LM that transformers loads runs here: each forward goes through the model's own code,
with :class:`~.kv_cache.RowKVCache` (a per-slot-length cache behind transformers' ``Cache`` hook)
and a 4-D mask. It is the reference the static runner is tested against, and the runner of every
architecture the static runner does not cover.
"""

from __future__ import annotations

import torch

from ..pair.loading import LoadedModel
from .kv_cache import RowKVCache
from .runner import HeldTokens, OutputHead, plan_groups, read_positions
from .transfer import to_device


class EagerRunner(HeldTokens):
    """The :class:`~.runner.Runner` verbs over transformers' own forward and a growing per-slot cache."""

    def __init__(self, lm: LoadedModel, num_slots: int, pad_id: int = 0, call_cost_tokens: float = 32.0):
        self.lm = lm
        self.model = lm.model
        self.head = OutputHead(lm.model)
        self.base = lm.model.base_model  # the decoder stack, without the LM head
        self.device = lm.device
        self.pad_id = pad_id
        self.cache = RowKVCache(num_slots)
        # A forward's fixed cost in tokens, for splitting ragged catch-ups (plan_groups). A constant
        # per device, never timed during a run: how rows are grouped must not depend on the clock.
        self.call_cost_tokens = call_cost_tokens
        impl = getattr(self.model.config, "_attn_implementation", "sdpa")
        if impl not in ("sdpa", "eager"):
            # Flash-attention kernels take no arbitrary 4-D mask; SDPA does and is fast enough.
            self.model.set_attn_implementation("sdpa")
            impl = "sdpa"
        self._additive_mask = impl == "eager"
        # Forward calls and tokens fed, for the engine's stats.
        self.calls = 0
        self.tokens_fed = 0
        self.refed = 0  # never: only llama.cpp's invariant runner rebuilds its cache
        self._init_held(num_slots)

    def seen(self, slot: int) -> int:
        """How many tokens of ``slot`` are in the cache."""
        return int(self.cache.lengths[slot])

    def reset(self, slot: int) -> None:
        self.cache.reset(slot)
        self.held[slot] = []

    def truncate(self, slot: int, length: int) -> None:
        """Forget all but the first ``length`` cached tokens of ``slot`` (after a re-tokenization or a rollback)."""
        self.cache.truncate(slot, length)
        del self.held[slot][length:]

    @torch.inference_mode()
    def copy_prefix(self, src: int, dst: int, length: int) -> None:
        """Give ``dst`` the first ``length`` cached tokens of ``src``."""
        self.cache.copy_prefix(src, dst, length)
        self.held[dst] = self.held[src][: self.seen(dst)]

    @torch.inference_mode()
    def forward(self, slots: list[int], seqs: list[list[int]], ends: list[int], outputs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed ``seqs[i][seen:ends[i]]`` to each slot; return hidden [m, d] and logits [m, V] (float32)
        at the absolute positions ``outputs[i]`` (each fed in this call), row by row in order.
        The output at position j is the model's prediction for position j + 1."""
        self._check_prefix(slots, seqs)
        starts = [self.seen(s) for s in slots]
        new = [seq[a:e] for seq, a, e in zip(seqs, starts, ends)]
        if min(len(x) for x in new) == 0:
            raise ValueError("forward needs at least one unseen token per slot")
        counts = [len(x) for x in new]
        if any(not 0 <= j - a < c for o, a, c in zip(outputs, starts, counts) for j in o):
            raise ValueError("an output position was not fed in this call")
        out = self._run(slots, new)
        rows = to_device([i for i, o in enumerate(outputs) for _ in o], self.device)
        cols = to_device([j - starts[i] for i, o in enumerate(outputs) for j in o], self.device)
        hidden = out.last_hidden_state[rows, cols]
        self.cache.commit(slots, counts)
        self._hold(slots, seqs, ends)
        self.calls += 1
        self.tokens_fed += sum(counts)
        return hidden, self.logits(hidden)

    @torch.inference_mode()
    def catch_up(self, slots: list[int], seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed ``seqs[i][seen(slots[i]):]`` to each slot; return last hidden [n, d] and logits [n, V] (float32)."""
        self._check_prefix(slots, seqs)
        new = [seq[self.seen(s):] for s, seq in zip(slots, seqs)]
        if min(len(x) for x in new) == 0:
            raise ValueError("catch_up needs at least one unseen token per slot")
        groups = plan_groups([len(x) for x in new], self.call_cost_tokens)
        if len(groups) == 1:
            return self._forward(slots, new)
        hidden: list[torch.Tensor | None] = [None] * len(slots)
        for g in groups:
            h, _ = self._forward([slots[i] for i in g], [new[i] for i in g], with_logits=False)
            for j, i in enumerate(g):
                hidden[i] = h[j]
        h = torch.stack(hidden)
        return h, self.logits(h)

    def _run(self, slots: list[int], new: list[list[int]]):
        """One forward of the decoder over each slot's new tokens, right-padded; writes the cache."""
        width = max(len(x) for x in new)
        ids = torch.full((len(slots), width), self.pad_id, dtype=torch.long)
        for i, x in enumerate(new):
            ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        pos, mask = self.cache.bind(slots, width, self.device)
        if self._additive_mask:
            mask = torch.zeros(mask.shape, dtype=self.lm.dtype, device=self.device).masked_fill_(~mask, torch.finfo(self.lm.dtype).min)
        return self.base(input_ids=ids.to(self.device), attention_mask=mask, position_ids=pos, past_key_values=self.cache, use_cache=True)

    def _forward(self, slots: list[int], new: list[list[int]], with_logits: bool = True):
        counts = [len(x) for x in new]
        out = self._run(slots, new)
        last = to_device(counts, self.device) - 1
        hidden = out.last_hidden_state[torch.arange(len(slots), device=self.device), last]
        self.cache.commit(slots, counts)
        for s, x in zip(slots, new):
            self.held[s].extend(x)
        self.calls += 1
        self.tokens_fed += sum(counts)
        return hidden, self.logits(hidden) if with_logits else None

    def positions(self, seq: list[int], start: int, chunk: int = 64):
        """Read ``seq`` from scratch (no cache): the labeling pipeline's SLM prefill."""
        return read_positions(self.model, seq, start, chunk)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden)
