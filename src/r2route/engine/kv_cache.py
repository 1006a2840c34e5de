"""A KV cache in which every batch slot has its own length.

R2R routes each row of a batch on its own, so the LLM's cache of one row can lag many tokens behind
another's. Here each slot's tokens sit contiguously at positions ``0..len-1``; a forward pass over
any subset of slots writes its new keys/values at each slot's own offset and attends through a
4-D mask that hides everything past each row's length. No left padding, no holes, no
re-padding when one row catches up: the LLM can run on exactly the rows that were routed.

It plugs into Hugging Face models through the ``Cache.update`` hook that every attention layer calls.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache

from .. import defaults
from .transfer import to_device


class RowKVCache(Cache):
    """Per-slot-length KV cache; call :meth:`bind` before each forward, then :meth:`commit`."""

    def __init__(self, num_slots: int, capacity_step: int = defaults.KV_CAPACITY_STEP):
        super().__init__(layers=[])
        self.num_slots = num_slots
        self.capacity_step = capacity_step
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.lengths = torch.zeros(num_slots, dtype=torch.long)  # on the CPU: read by Python control flow
        self._capacity = 0
        self._rows: torch.Tensor | slice | None = None
        self._write_pos: torch.Tensor | None = None
        self._kv_len = 0

    # --- called by the runner around one forward pass ---
    def bind(self, slots: list[int], new_tokens: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepare a forward over ``slots`` with ``new_tokens`` query positions each (right-padded).

        Returns ``position_ids`` [n, q] and the boolean attention mask [n, 1, q, kv] (True = attend).
        """
        offsets = self.lengths[slots]
        need = int(offsets.max()) + new_tokens
        if need > self._capacity:
            self._grow(need)
        self._kv_len = need
        contiguous = slots == list(range(slots[0], slots[0] + len(slots)))
        self._rows = slice(slots[0], slots[0] + len(slots)) if contiguous else to_device(slots, device)
        q = torch.arange(new_tokens)
        pos = offsets[:, None] + q[None, :]  # [n, q]
        self._write_pos = pos.to(device)
        keys = torch.arange(need)
        mask = keys[None, None, :] <= pos[:, :, None]  # causal, and blind to stale slots past each row's end
        return self._write_pos, mask[:, None].to(device)

    def commit(self, slots: list[int], counts: list[int]) -> None:
        """Record that ``counts[i]`` real (non-padding) tokens were appended to ``slots[i]``."""
        self.lengths[slots] += torch.tensor(counts, dtype=torch.long)

    def truncate(self, slot: int, length: int) -> None:
        """Roll one slot back to its first ``length`` tokens (stale entries are masked, not erased)."""
        self.lengths[slot] = min(int(self.lengths[slot]), length)

    def reset(self, slot: int) -> None:
        self.lengths[slot] = 0

    def copy_prefix(self, src: int, dst: int, length: int) -> None:
        """Make ``dst`` hold the first ``length`` cached tokens of ``src`` (a shared prompt is
        prefilled once and copied, not recomputed per slot)."""
        length = min(length, int(self.lengths[src]))
        for store in (self.keys, self.values):
            for buf in store:
                buf[dst, :, :length] = buf[src, :, :length]
        self.lengths[dst] = length

    def _grow(self, need: int) -> None:
        step = self.capacity_step
        new_cap = ((need + step - 1) // step) * step
        for store in (self.keys, self.values):
            for i, buf in enumerate(store):
                bigger = buf.new_zeros(buf.shape[0], buf.shape[1], new_cap, buf.shape[3])
                bigger[:, :, : buf.shape[2]] = buf
                store[i] = bigger
        self._capacity = new_cap

    # --- the Hugging Face Cache interface ---
    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args, **kwargs):
        if layer_idx == len(self.keys):  # first forward: learn head count, head dim, dtype, device
            for store, ref in ((self.keys, key_states), (self.values, value_states)):
                store.append(ref.new_zeros(self.num_slots, ref.shape[1], self._capacity, ref.shape[3]))
        k_buf, v_buf = self.keys[layer_idx], self.values[layer_idx]
        rows, pos = self._rows, self._write_pos
        if isinstance(rows, slice):
            row_idx = torch.arange(rows.start, rows.stop, device=pos.device)[:, None]
        else:
            row_idx = rows[:, None]
        # Advanced indices on dims 0 and 2 put the indexed dims first: [n, q, heads, head_dim].
        k_buf[row_idx, :, pos] = key_states.transpose(1, 2)
        v_buf[row_idx, :, pos] = value_states.transpose(1, 2)
        return k_buf[rows, :, : self._kv_len], v_buf[rows, :, : self._kv_len]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self._kv_len

    def get_mask_sizes(self, query_length: int, layer_idx: int = 0) -> tuple[int, int]:
        return self._kv_len, 0

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))
