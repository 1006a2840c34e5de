"""The Runner interface: what the decode loop asks of one model and its per-slot KV cache.

A runner holds ``num_slots`` sequences (slots), each with its own length. The decode loop
(:mod:`.session`) uses these verbs and nothing else, so a new backend implements exactly this list:

- ``catch_up(slots, seqs)``: feed each slot the tokens of its sequence it has not seen; return the
  hidden state (None if the runner returns none) and next-token logits at each slot's last token.
  The SLM calls it with one new token per step; the LLM with every token since its last call (the
  KV catch-up of R2R); prefill is the same call with the whole prompt.
- ``forward(slots, seqs, ends, outputs)``: feed ``seqs[i][seen:ends[i]]`` and return hidden states
  and logits at the absolute positions ``outputs[i]`` (verification reads several per row).
- ``truncate(slot, length)`` / ``reset(slot)``: forget all but the first ``length`` tokens (a
  rollback, a re-tokenization, a freed slot).
- ``seen(slot)``: how many tokens the slot's cache holds; ``held[slot]``: which ones.
- ``copy_prefix(src, dst, length)``: give ``dst`` the first ``length`` tokens of ``src``.
- ``positions(seq, start)``: read one sequence from scratch, yielding (hidden, logits) chunks for
  positions ``start..`` (the labeling pipeline's SLM prefill).
- ``decode(slots, seqs, step, gens, positions)``: the SLM's step: a catch-up, then ``step`` (the
  step's device work, :class:`~.device_step.SLMStep`) on its hidden states and logits with the
  rows' draw settings; a graph-capturing runner replays both as one graph.
- ``warm_up(step)``: prepare what the first steps will need (a graph runner captures its decode
  graphs; others do nothing), with ``captures`` and ``capture_seconds`` saying what it cost.
- counters ``calls``, ``tokens_fed``, ``refed`` (tokens fed again to rebuild a cache), for the stats.

Logits come back as float32 [m, V] on the runner's device; the caller's ops stay there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch

from .sampling import Draws


@runtime_checkable
class Runner(Protocol):
    calls: int
    tokens_fed: int
    refed: int
    held: list[list[int]]

    def seen(self, slot: int) -> int: ...

    def reset(self, slot: int) -> None: ...

    def truncate(self, slot: int, length: int) -> None: ...

    def copy_prefix(self, src: int, dst: int, length: int) -> None: ...

    def catch_up(self, slots: list[int], seqs: list[list[int]]) -> tuple[torch.Tensor | None, torch.Tensor]: ...

    def forward(self, slots: list[int], seqs: list[list[int]], ends: list[int],
                outputs: list[list[int]]) -> tuple[torch.Tensor | None, torch.Tensor]: ...

    def positions(self, seq: list[int], start: int, chunk: int = 64) -> Iterator[tuple[torch.Tensor | None, torch.Tensor]]: ...

    def decode(self, slots: list[int], seqs: list[list[int]], step, gens: list, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    def warm_up(self, step) -> None: ...


class HeldTokens:
    """Which token ids each slot's KV cache holds, so a forward can check the prefix it assumes:
    a caller that truncated one side and not the other, or fed a slot another row's text, is
    caught at once instead of decoding from a silently wrong cache. Also the plain ``decode`` (a
    catch-up, then the step's device work) and ``warm_up`` (nothing to prepare)."""

    captures = 0
    capture_seconds = 0.0

    def warm_up(self, step) -> None:
        pass

    def decode(self, slots: list[int], seqs: list[list[int]], step, gens: list, positions: list[int]):
        hidden, logits = self.catch_up(slots, seqs)
        return step(hidden, logits, Draws.of(gens, positions, logits.device))

    def _init_held(self, num_slots: int) -> None:
        self.held: list[list[int]] = [[] for _ in range(num_slots)]

    def _check_prefix(self, slots: list[int], seqs: list[list[int]]) -> None:
        for s, seq in zip(slots, seqs):
            n = len(self.held[s])
            if seq[:n] != self.held[s]:
                raise RuntimeError(f"slot {s}: the cache holds {n} tokens that are not the sequence's first {n}")

    def _hold(self, slots: list[int], seqs: list[list[int]], ends: list[int]) -> None:
        for s, seq, e in zip(slots, seqs, ends):
            held = self.held[s]
            held.extend(seq[len(held):e])  # the prefix was checked before the forward


class SlotLengths(HeldTokens):
    """A runner that keeps each slot's length on the host, with the verbs that only read it and the
    counters the engine's stats read."""

    def _init_slots(self, num_slots: int) -> None:
        self.lengths = [0] * num_slots
        self.calls = self.tokens_fed = self.refed = 0
        self._init_held(num_slots)

    def seen(self, slot: int) -> int:
        return self.lengths[slot]

    def reset(self, slot: int) -> None:
        self.truncate(slot, 0)


def plan_groups(counts: list[int], call_cost_tokens: float) -> list[list[int]]:
    """Partition rows into forwards minimising Σ (call cost + padded tokens), all in token units.

    Rows of one forward are padded to the longest, so a long prefill beside one-token decodes would
    pad every row to the prompt's length; a forward also has a fixed cost. With rows sorted by
    length, an optimal partition takes contiguous runs (a group's cost is its longest row times its
    size), so a small dynamic programme over the sorted rows finds it.
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


class OutputHead:
    """A transformers model's LM head and the output transforms its family applies after it
    (read from the config once: a runner calls it every step)."""

    def __init__(self, model: torch.nn.Module):
        cfg = model.config
        self.head = model.get_output_embeddings()
        self.scale = getattr(cfg, "logit_scale", None)  # Cohere
        self.divide = getattr(cfg, "logits_scaling", None)  # Granite
        self.cap = getattr(cfg, "final_logit_softcapping", None)  # Gemma 2/3

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden).float()
        if self.scale is not None:
            logits = logits * self.scale
        if self.divide:
            logits = logits / self.divide
        if self.cap:
            logits = torch.tanh(logits / self.cap) * self.cap
        return logits


@torch.inference_mode()
def read_positions(model: torch.nn.Module, seq: list[int], start: int, chunk: int = 64):
    """Read ``seq`` from scratch with a transformers model (no cache); yield (hidden [n, d], logits
    [n, V]) float32 on the CPU for positions ``start..`` in chunks of ``chunk``."""
    device = next(model.parameters()).device
    ids = torch.tensor([seq], dtype=torch.long, device=device)
    hidden = model.base_model(input_ids=ids, use_cache=False).last_hidden_state[0, start:]
    head = OutputHead(model)
    for lo in range(0, hidden.shape[0], chunk):
        h = hidden[lo : lo + chunk]
        yield h.float().cpu(), head(h).cpu()
