"""LlamaCppRunner: :class:`~.runner.ModelRunner`'s verbs over a llama.cpp context.

One llama.cpp context holds every slot as its own sequence (``seq_id`` = slot) in one unified KV
buffer. A catch-up is a flat batch of each slot's unseen tokens, with output requested only at
each slot's last token: no padding, ever. Rolling a slot back is ``llama_memory_seq_rm``.

An *ordered* runner (eval's batch-invariant one) keeps each row's cells in position order: flash
attention sums a row's cells in buffer order, and llama.cpp gives a new token the lowest free
cell, so a cell that a batch-mate freed would put the row's next token below its earlier ones and
change its sums. Freed cells therefore pass to a graveyard sequence that nothing reads, and stay
occupied; new tokens only ever go above every used cell. When the buffer is full, it is cleared
and every live row fed afresh, row after row, which rebuilds the same KV bitwise (a token's KV
depends only on its prefix, whatever the calls it came in) in position order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import defaults
from ..errors import R2RouteError
from ..pair.llamacpp import LlamaCppModel, require_llama_cpp
from .runner import SlotLengths


@dataclass(frozen=True)
class CallShape:
    """How feeds are cut into llama.cpp calls: at most ``tokens`` tokens and ``outputs`` logits rows
    per call, and at least ``least`` of each (0: nothing padded). llama.cpp sizes its scratch
    buffers by these: the output head's result alone is ``outputs`` × vocabulary floats."""

    tokens: int
    outputs: int
    least: int = 0
    halve: tuple[int, int] | None = None  # calls of this many tokens (inclusive) are cut in two

    @classmethod
    def default(cls, invariant: bool) -> CallShape:
        """generate/serve's shape, or eval's batch-invariant one (see defaults.LLAMACPP_INVARIANT_*)."""
        if invariant:
            return cls(defaults.LLAMACPP_INVARIANT_BATCH, defaults.LLAMACPP_INVARIANT_BATCH, defaults.LLAMACPP_INVARIANT_MIN)
        return cls(defaults.LLAMACPP_BATCH, defaults.LLAMACPP_OUTPUTS, halve=defaults.LLAMACPP_HALVE_CALLS)


class LlamaCppRunner(SlotLengths):
    def __init__(self, lm: LlamaCppModel, num_slots: int, context: int, shape: CallShape | None = None, hidden: bool = True,
                 ordered: bool = False):
        lc = self.lc = require_llama_cpp()
        self.lm = lm
        self.num_slots = num_slots
        self.shape = shape or CallShape.default(invariant=False)
        self.ordered = ordered
        cp = lc.llama_context_default_params()
        # A row ends before its slot is full (its last token is never fed), which leaves a cell for
        # a lone token's companion (see _decode). llama.cpp rounds n_ctx up to a multiple of 256.
        # An ordered runner's graveyard needs room beyond the live rows (see the module docstring).
        cp.n_ctx = context * num_slots * (defaults.LLAMACPP_INVARIANT_ROOM if ordered else 1)
        cp.n_batch = cp.n_ubatch = self.shape.tokens
        # Hidden states beside the logits (the router reads the SLM's) need llama.cpp's embeddings
        # mode, in which it outputs every token of a call: the output head runs on all of them, not
        # only on those whose logits are asked for (a 64-token prefill took 1.45× as long on
        # Qwen2.5-0.5B, 1.19× on 1.5B: git show 10428f8:benchmarks/llamacpp_hidden_cost.py). So the mode is on only
        # for calls that return something, and such a call holds at most shape.outputs tokens (see _calls).
        self.hidden = hidden
        self._embeddings = False
        cp.embeddings = False
        cp.n_outputs_max = max(self.shape.outputs, num_slots + 2)  # llama.cpp reserves one per sequence at start
        cp.n_seq_max = num_slots + 2  # then scratch (see _decode) and the graveyard (see truncate)
        cp.kv_unified = True
        cp.n_threads = cp.n_threads_batch = lm.threads
        cp.type_k = cp.type_v = lc.GGML_TYPE_F32 if lm.kv_type == "f32" else lc.GGML_TYPE_F16
        # Flash attention walks each row's own cache cells in order, so a row's sums do not depend
        # on where its batch-mates' cells lie in the shared buffer (the plain path's do). It casts
        # an f32 cache to f16, though: f32 (the tests' match with transformers) goes without.
        cp.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED if lm.kv_type == "f32" else lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
        self.ctx = lc.llama_init_from_model(lm.handle, cp)
        if not self.ctx:
            raise R2RouteError(f"llama.cpp could not create a context of {cp.n_ctx} positions for {lm.name}")
        self.mem = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(self.shape.tokens, 0, 1)
        self.scratch, self.graveyard = num_slots, num_slots + 1
        self.capacity = lc.llama_n_ctx(self.ctx)
        # Cells the graveyard holds, at most: one still shared with another slot (copy_prefix) is
        # counted twice, which only makes the buffer rebuild sooner.
        self.buried = 0
        self.collections = 0  # buffer rebuilds (``refed``: the tokens they fed again)
        self._init_slots(num_slots)

    def truncate(self, slot: int, length: int) -> None:
        if length < self.lengths[slot]:
            if self.ordered:  # the cells stay taken, so no later token lands below a live one
                self.lc.llama_memory_seq_cp(self.mem, slot, self.graveyard, length, -1)
                self.buried += self.lengths[slot] - length
            self.lc.llama_memory_seq_rm(self.mem, slot, length, -1)
            self.lengths[slot] = length
            del self.held[slot][length:]

    def copy_prefix(self, src: int, dst: int, length: int) -> None:
        """Give ``dst`` the first ``length`` cached tokens of ``src``: in the unified buffer the
        cells are shared, not copied."""
        length = min(length, self.lengths[src])
        self.truncate(dst, 0)
        if length > 0:
            self.lc.llama_memory_seq_cp(self.mem, src, dst, 0, length)
        self.lengths[dst] = length
        self.held[dst] = self.held[src][:length]

    def catch_up(self, slots: list[int], seqs: list[list[int]]) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Feed each slot its unseen tokens; return last hidden [n, d] (None when the runner returns
        no hidden states) and logits [n, V] (float32, CPU)."""
        return self.forward(slots, seqs, [len(q) for q in seqs], [[len(q) - 1] for q in seqs])

    def forward(self, slots: list[int], seqs: list[list[int]], ends: list[int], outputs: list[list[int]]) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Feed ``seqs[i][seen:ends[i]]``; hidden [m, d] and logits [m, V] at the absolute positions
        ``outputs[i]`` (each fed in this call), row by row in order (see ModelRunner.forward)."""
        self._check_prefix(slots, seqs)
        if self.ordered and self.buried:
            used = sum(self.lengths) + self.buried
            new = sum(e - self.lengths[s] for s, e in zip(slots, ends)) + self.shape.tokens  # + a call's companions
            if used + new > self.capacity:
                self._rebuild()
        entries = []  # (slot, token, position, output row or -1)
        m = 0
        for slot, seq, end, outs in zip(slots, seqs, ends, outputs):
            start = self.lengths[slot]
            if start >= end:
                raise ValueError("forward needs at least one unseen token per slot")
            if any(not start <= j < end for j in outs):
                raise ValueError("an output position was not fed in this call")
            want = {j: m + k for k, j in enumerate(outs)}
            m += len(outs)
            for pos in range(start, end):
                entries.append((slot, seq[pos], pos, want.get(pos, -1)))
        hidden = np.empty((m, self.lm.n_embd), dtype=np.float32) if self.hidden else None
        logits = np.empty((m, self.lm.n_vocab), dtype=np.float32)
        for chunk in self._calls(entries):
            self._call(chunk, hidden, logits)
        for slot, end in zip(slots, ends):
            self.tokens_fed += end - self.lengths[slot]
            self.lengths[slot] = end
        self._hold(slots, seqs, ends)
        return (None if hidden is None else torch.from_numpy(hidden)), torch.from_numpy(logits)

    def _rebuild(self) -> None:
        """Free the graveyard's cells by clearing the buffer and feeding every live row again, one
        after another, so each row's cells are contiguous and in order (an ordered runner whose
        buffer is full). Not counted in ``calls``/``tokens_fed``: the method did not ask for it."""
        live = [(s, self.held[s]) for s in range(self.num_slots) if self.lengths[s]]
        calls, fed = self.calls, self.tokens_fed
        self.lc.llama_memory_clear(self.mem, False)
        self.lengths, self.buried = [0] * self.num_slots, 0
        self._init_held(self.num_slots)
        for s, seq in live:
            self.forward([s], [seq], [len(seq)], [[]])
        self.collections += 1
        self.refed += self.tokens_fed - fed
        self.calls, self.tokens_fed = calls, fed

    def _calls(self, entries: list[tuple]) -> list[list[tuple]]:
        """Consecutive runs of entries, one llama.cpp call each: at most shape.tokens tokens and
        shape.outputs outputs, and where hidden states are returned (llama.cpp then outputs every
        token of a call that asks for any) at most shape.outputs tokens in a call with an output;
        a call of a length in shape.halve is cut in two."""
        cap, calls, cur, outs = self.shape.outputs, [], [], 0
        for e in entries:
            out = e[3] >= 0
            if cur and (len(cur) == self.shape.tokens or (out and outs == cap) or (self.hidden and (out or outs) and len(cur) >= cap)):
                calls.append(cur)
                cur, outs = [], 0
            cur.append(e)
            outs += out
        calls = calls + [cur] if cur else calls
        if self.shape.halve is None:
            return calls
        lo, hi = self.shape.halve
        return [part for c in calls for part in ((c[: len(c) // 2], c[len(c) // 2 :]) if lo <= len(c) <= hi else (c,))]

    def _wants_embeddings(self, chunk: list[tuple]) -> bool:
        """Whether a call runs in llama.cpp's embeddings mode: when it returns hidden states."""
        return self.hidden and any(e[3] >= 0 for e in chunk)

    def _call(self, chunk: list[tuple], hidden: np.ndarray | None, logits: np.ndarray) -> None:
        """One llama.cpp call on ``chunk``'s (slot, token, position, output row or -1) entries;
        each output row's logits (and hidden state) into its row of ``logits`` (``hidden``)."""
        embeddings = self._wants_embeddings(chunk)
        if embeddings != self._embeddings:
            self.lc.llama_set_embeddings(self.ctx, embeddings)
            self._embeddings = embeddings
        b = self.batch
        for i, (slot, tok, pos, out) in enumerate(chunk):
            b.token[i], b.pos[i], b.n_seq_id[i] = tok, pos, 1
            b.seq_id[i][0] = slot
            b.logits[i] = out >= 0
        b.n_tokens = len(chunk)
        rc = self._decode(b)
        if rc != 0:
            raise R2RouteError(f"llama.cpp decode failed (code {rc}): the KV cache of {self.lm.name} is full; lower the batch or the context")
        for i, (_, _, _, out) in enumerate(chunk):
            if out >= 0:
                logits[out] = np.ctypeslib.as_array(self.lc.llama_get_logits_ith(self.ctx, i), shape=(self.lm.n_vocab,))
                if hidden is not None:
                    hidden[out] = np.ctypeslib.as_array(self.lc.llama_get_embeddings_ith(self.ctx, i), shape=(self.lm.n_embd,))
        self.calls += 1

    def _decode(self, b) -> int:
        """One llama_decode; in invariant mode, of 2 to 7 tokens and 2 to 7 outputs. llama.cpp's CPU
        kernels pick code paths, and so summation orders, by counts: the matmuls by the number of
        tokens in the call (measured on Q4_K weights: one path up to 7, another from 8; tinyBLAS
        for Q5_0/Q8_0/f32 weights from 2), the last layer and the output head by the number of
        logits requested, attention by a lone query token (the cache split across threads). A row
        would get other floating-point sums alone than beside batch-mates, so calls are capped at
        LLAMACPP_INVARIANT_BATCH tokens and a lone token gets a throw-away companion in the
        scratch sequence (removed after the call), a lone output a second one (the
        companion's, or another token's)."""
        n = b.n_tokens
        want = self.shape.least
        pad = max(0, min(want, self.shape.tokens) - n)
        for i in range(n, n + pad):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = b.token[0], i - n, 1, False
            b.seq_id[i][0] = self.scratch
        b.n_tokens = n + pad
        outputs = sum(bool(b.logits[i]) for i in range(b.n_tokens))
        # a call with no outputs never reaches the output head, so it needs none added
        extra = [i for i in range(b.n_tokens) if not b.logits[i]][: want - outputs] if 0 < outputs < want else []
        for i in extra:
            b.logits[i] = True
        rc = self.lc.llama_decode(self.ctx, b)
        for i in extra:
            b.logits[i] = False
        if pad:
            self.lc.llama_memory_seq_rm(self.mem, self.scratch, -1, -1)
            b.n_tokens = n
            if rc == 1:  # no free cells for the companions (every slot full): decode without them
                rc = self.lc.llama_decode(self.ctx, b)
        return rc

    def positions(self, seq: list[int], start: int, chunk: int | None = None):
        """Read ``seq`` afresh in slot 0; yield (hidden [n, d], logits [n, V]) float32 for positions
        ``start..``, one llama.cpp batch at a time — the labeling pipeline's SLM prefill."""
        self.reset(0)
        entries = [(0, tok, pos, pos - start if pos >= start else -1) for pos, tok in enumerate(seq)]
        for chunk in self._calls(entries):
            rows = [e[3] for e in chunk if e[3] >= 0]
            hidden = np.empty((len(rows), self.lm.n_embd), dtype=np.float32) if self.hidden else None
            logits = np.empty((len(rows), self.lm.n_vocab), dtype=np.float32)
            self._call([(s, t, p, o - rows[0] if o >= 0 else -1) for s, t, p, o in chunk], hidden, logits)
            self.lengths[0] = chunk[-1][2] + 1
            if rows:
                yield (None if hidden is None else torch.from_numpy(hidden)), torch.from_numpy(logits)
        self.reset(0)

    def __del__(self):
        lc, ctx = getattr(self, "lc", None), getattr(self, "ctx", None)
        if lc is not None and ctx:
            lc.llama_batch_free(self.batch)
            lc.llama_free(ctx)
            self.ctx = None
