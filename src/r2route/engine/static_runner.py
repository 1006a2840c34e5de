"""The static runner: a KV cache allocated once, per-row lengths on the device, r2route's own forward.

The cache is ``k``/``v`` [layers, slots + 1, max_len, kv_heads, head_dim], sized once from the
requests' window (as llama.cpp's contexts are): nothing is allocated, grown or copied while decoding.
Each slot's tokens sit at positions ``0..length-1``; a forward writes its new keys and values at
each row's own positions and attends through a mask by position (:mod:`.decoder`), so rows of
different lengths share a forward, and rolling a row back is setting its length (stale entries past
it are masked, then overwritten). The extra slot takes the writes of padding tokens.

Per forward the host sends one small tensor (the rows' new token ids, slot numbers and counts);
positions come from the lengths on the device. The host keeps a copy of the lengths for its own
decisions (which rows, how wide), so it never reads them back.
"""

from __future__ import annotations

import torch

from ..errors import R2RouteError
from ..pair.loading import LoadedModel
from .decoder import Decoder, cache_shape
from .runner import OutputHead, SlotLengths, plan_groups, read_positions
from .transfer import to_device

# Attention reads the cache up to the longest row rounded up to this many positions, so a run of
# steps reuses one shape (what a compiled or captured step needs) at a small cost in masked reads.
KV_LEN_STEP = 64


class StaticRunner(SlotLengths):
    """The :class:`~.runner.Runner` verbs over a preallocated cache and :class:`~.decoder.Decoder`."""

    def __init__(self, lm: LoadedModel, num_slots: int, context: int, pad_id: int = 0, call_cost_tokens: float = 32.0,
                 cache_rows: int | None = None):
        self.lm = lm
        self.model = lm.model
        self.head = OutputHead(lm.model)
        self.device = lm.device
        self.num_slots = num_slots
        self.max_len = context
        self.pad_id = pad_id
        self.call_cost_tokens = call_cost_tokens
        self.decoder = Decoder(lm.model, context)
        shape = cache_shape(lm.model)
        rows = max(num_slots, cache_rows or 0) + 1  # ``cache_rows``: slots a forward may span (graphs pad to a bucket)
        size = (shape.layers, rows, context, shape.kv_heads, shape.head_dim)
        # zeros, not empty: a masked entry still enters attention as 0 × value, and 0 × NaN is NaN
        self.k = torch.zeros(size, dtype=lm.dtype, device=self.device)
        self.v = torch.zeros(size, dtype=lm.dtype, device=self.device)
        self.scratch = rows - 1  # the slot that padding tokens write to
        self.length = torch.zeros(rows, dtype=torch.long, device=self.device)
        self.offsets = torch.arange(context, device=self.device)
        self._init_slots(num_slots)  # ``lengths``: the host's copy of ``length``

    def truncate(self, slot: int, length: int) -> None:
        if length < self.lengths[slot]:
            self.lengths[slot] = length
            self.length[slot] = length
            del self.held[slot][length:]

    @torch.inference_mode()
    def copy_prefix(self, src: int, dst: int, length: int) -> None:
        length = min(length, self.lengths[src])
        self.k[:, dst, :length] = self.k[:, src, :length]
        self.v[:, dst, :length] = self.v[:, src, :length]
        self.lengths[dst] = length
        self.length[dst] = length
        self.held[dst] = self.held[src][:length]

    @torch.inference_mode()
    def catch_up(self, slots: list[int], seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_prefix(slots, seqs)
        new = [seq[self.lengths[s]:] for s, seq in zip(slots, seqs)]
        if min(len(x) for x in new) == 0:
            raise ValueError("catch_up needs at least one unseen token per slot")
        groups = plan_groups([len(x) for x in new], self.call_cost_tokens)
        if len(groups) == 1:  # one forward in the callers' row order (slots stay contiguous where they are)
            groups = [list(range(len(new)))]
        h = torch.cat([self._run([slots[i] for i in g], [new[i] for i in g], [[len(new[i]) - 1] for i in g]) for g in groups])
        order = [i for g in groups for i in g]
        if order != list(range(len(new))):  # back in the callers' row order
            h = h[to_device(order, self.device).argsort()]
        return h, self.head(h)

    @torch.inference_mode()
    def forward(self, slots: list[int], seqs: list[list[int]], ends: list[int], outputs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_prefix(slots, seqs)
        starts = [self.lengths[s] for s in slots]
        new = [seq[a:e] for seq, a, e in zip(seqs, starts, ends)]
        if min(len(x) for x in new) == 0:
            raise ValueError("forward needs at least one unseen token per slot")
        if any(not 0 <= j - a < len(x) for o, a, x in zip(outputs, starts, new) for j in o):
            raise ValueError("an output position was not fed in this call")
        h = self._run(slots, new, [[j - a for j in o] for o, a in zip(outputs, starts)])
        return h, self.head(h)

    def _run(self, slots: list[int], new: list[list[int]], cols: list[list[int]]) -> torch.Tensor:
        """One forward over each slot's new tokens, right-padded; returns the final hidden states at
        each row's columns ``cols[i]`` (offsets into its new tokens), row by row. Advances lengths."""
        self._check_room(slots, new)
        n, w = len(slots), max(len(x) for x in new)
        # The forward's one host-to-device copy: ids (padded), then each row's slot and count.
        pack = to_device([x + [self.pad_id] * (w - len(x)) + [s, len(x)] for s, x in zip(slots, new)], self.device)
        contiguous = slots == list(range(slots[0], slots[0] + n))
        rows = slice(slots[0], slots[0] + n) if contiguous else pack[:, w]
        hidden = self._forward_rows(pack[:, :w], pack[:, w], pack[:, w + 1], rows, self._kv_len(slots, new))
        self._book(slots, new)
        if all(c == [len(x) - 1] and len(x) == w for c, x in zip(cols, new)):  # each row's last token: a view
            return hidden[:, w - 1]
        r = to_device([i for i, c in enumerate(cols) for _ in c], self.device)
        c = to_device([j for cs in cols for j in cs], self.device)
        return hidden[r, c]

    def _forward_rows(self, ids: torch.Tensor, rows: torch.Tensor, counts: torch.Tensor, read_rows, kv_len: int) -> torch.Tensor:
        """The device part of a forward: ``ids`` [n, w] of slots ``rows`` [n] (``read_rows``: the
        same as a slice where they are contiguous), ``counts`` [n] real tokens each (the rest
        padding, written to the scratch slot); positions from the lengths on the device, which it
        advances. Final hidden states [n, w, d]."""
        offsets = self.offsets[: ids.shape[1]][None, :]
        real = offsets < counts[:, None]
        pos = (self.length[read_rows][:, None] + offsets).clamp_(max=self.max_len - 1)  # padding past the window reads the last row
        write_rows = torch.where(real, rows[:, None], self.scratch)
        write_pos = torch.where(real, pos, offsets)
        hidden = self.decoder(ids, pos, write_rows, write_pos, read_rows, kv_len, self.k, self.v)
        self.length.index_add_(0, rows, counts)
        return hidden

    def _check_room(self, slots: list[int], new: list[list[int]]) -> None:
        for s, x in zip(slots, new):
            if self.lengths[s] + len(x) > self.max_len:
                raise R2RouteError(f"slot {s} would hold {self.lengths[s] + len(x)} tokens; its KV cache holds {self.max_len} "
                                   "(a longer context needs a larger window)")

    def _need(self, slots: list[int], new: list[list[int]]) -> int:
        """Cache entries the longest row holds once ``new`` is written: what attention must read."""
        return max(self.lengths[s] + len(x) for s, x in zip(slots, new))

    def _kv_len(self, slots: list[int], new: list[list[int]]) -> int:
        return min(self.max_len, -(-self._need(slots, new) // KV_LEN_STEP) * KV_LEN_STEP)

    def _book(self, slots: list[int], new: list[list[int]]) -> None:
        """The host's side of a forward: its copy of the lengths, the held tokens, the counters."""
        for s, x in zip(slots, new):
            self.lengths[s] += len(x)
            self.held[s].extend(x)
        self.calls += 1
        self.tokens_fed += sum(len(x) for x in new)

    def positions(self, seq: list[int], start: int, chunk: int = 64):
        """Read ``seq`` from scratch (no cache): the labeling pipeline's SLM prefill."""
        return read_positions(self.model, seq, start, chunk)
