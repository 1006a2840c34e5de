"""ModelRunner: one causal LM and its per-slot KV cache.

Its single verb is :meth:`catch_up`: feed each slot the tokens of its sequence that the model has
not seen yet, and return the hidden state and next-token logits at each slot's last position. The
SLM calls it with one new token per step; the LLM, at a routed position, with every token since
its last call (the KV catch-up of R2R). Prefill is the same call with the whole prompt.
"""

from __future__ import annotations

import torch

from ..pair.loading import LoadedModel
from .kv_cache import RowKVCache


class HeldTokens:
    """Which token ids each slot's KV cache holds, so a forward can check the prefix it assumes:
    a caller that truncated one side and not the other, or fed a slot another row's text, is
    caught at once instead of decoding from a silently wrong cache."""

    def _init_held(self, num_slots: int) -> None:
        self.held: list[list[int]] = [[] for _ in range(num_slots)]

    def _check_prefix(self, slots: list[int], seqs: list[list[int]]) -> None:
        for s, seq in zip(slots, seqs):
            n = len(self.held[s])
            if seq[:n] != self.held[s]:
                raise RuntimeError(f"slot {s}: the cache holds {n} tokens that are not the sequence's first {n}")

    def _hold(self, slots: list[int], seqs: list[list[int]], ends: list[int]) -> None:
        for s, seq, e in zip(slots, seqs, ends):
            self.held[s] = list(seq[:e])


class ModelRunner(HeldTokens):
    """Decode-side wrapper of one model: KV cache bookkeeping plus a last-position LM head."""

    def __init__(self, lm: LoadedModel, num_slots: int, pad_id: int = 0, call_cost_tokens: float = 32.0):
        self.lm = lm
        self.model = lm.model
        self.base = lm.model.base_model  # the decoder stack, without the LM head
        self.head = lm.model.get_output_embeddings()
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
        out = self._run(slots, new)
        rows = torch.tensor([i for i, o in enumerate(outputs) for _ in o], device=self.device)
        cols = torch.tensor([j - starts[i] for i, o in enumerate(outputs) for j in o], device=self.device)
        if len(cols) and (int(cols.min()) < 0 or any(j - a >= c for o, a, c in zip(outputs, starts, counts) for j in o)):
            raise ValueError("an output position was not fed in this call")
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
        last = torch.tensor(counts, device=self.device) - 1
        hidden = out.last_hidden_state[torch.arange(len(slots), device=self.device), last]
        self.cache.commit(slots, counts)
        self._hold(slots, [self.held[s] + x for s, x in zip(slots, new)], [self.seen(s) for s in slots])
        self.calls += 1
        self.tokens_fed += sum(counts)
        return hidden, self.logits(hidden) if with_logits else None

    @torch.inference_mode()
    def positions(self, seq: list[int], start: int, chunk: int = 64):
        """Read ``seq`` from scratch (no cache); yield (hidden [n, d], logits [n, V]) float32 on the CPU
        for positions ``start..`` in chunks of ``chunk`` — the labeling pipeline's SLM prefill."""
        ids = torch.tensor([seq], dtype=torch.long, device=self.device)
        hidden = self.base(input_ids=ids, use_cache=False).last_hidden_state[0, start:]
        for lo in range(0, hidden.shape[0], chunk):
            h = hidden[lo : lo + chunk]
            yield h.float().cpu(), self.logits(h).cpu()

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The model's LM head on already-selected positions, with the output transforms some families use."""
        logits = self.head(hidden).float()
        cfg = self.model.config
        if getattr(cfg, "logit_scale", None) is not None:  # Cohere
            logits = logits * cfg.logit_scale
        if getattr(cfg, "logits_scaling", None):  # Granite
            logits = logits / cfg.logits_scaling
        cap = getattr(cfg, "final_logit_softcapping", None)  # Gemma 2/3
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits


def plan_groups(counts: list[int], call_cost_tokens: float) -> list[list[int]]:
    """Partition rows into forwards minimising Σ (call cost + padded tokens), all in token units.

    With rows sorted by length, an optimal partition takes contiguous runs (a group's cost is its
    longest row times its size), so a small dynamic programme over the sorted rows finds it.
    """
    order = sorted(range(len(counts)), key=lambda i: -counts[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):  # last group = sorted rows i..j-1, padded to counts[order[i]]
            c = best[i] + call_cost_tokens + counts[order[i]] * (j - i)
            if c < best[j]:
                best[j], cut[j] = c, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]

