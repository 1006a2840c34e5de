"""The first engine (v1), kept for pairs across tokenizers or with a remote LLM, and for the speed
benchmark's side-by-side comparison with :mod:`.session` (v2), until v2 covers every pair kind.

Mixed decoding: the SLM proposes every token, a strategy routes some of them to the LLM.

One :class:`DecodeSession` holds up to ``max_batch`` rows in slots. Each :meth:`step`:

1. the SLM catches up on each running row (one new token each; a whole prompt for a new row;
   under text handoff, first the LLM's new text, spliced in) and proposes the next token;
2. the strategy decides, row by row, whether that token goes to the LLM;
3. a routed row waits; once enough rows wait (the cost-optimal number, see :mod:`.waiting`; or
   no row is left for the SLM; or one has waited ``max_wait`` steps) the LLM runs on exactly the
   waiting rows, each first catching its KV cache up on everything since its last call, and its
   token replaces the SLM's. The SLM never saw the rejected token, so nothing needs rolling back.

Waiting turns many one-row LLM calls into few multi-row ones: under batching an LLM call costs
about the same for one row as for eight. Rows are independent: a row's tokens do not depend on
which other rows share its batch, nor on when the LLM served it.
"""

from __future__ import annotations

import time
from collections import deque

import torch

from .. import defaults
from ..errors import R2RouteError
from ..pair.pair import ModelPair
from ..router.strategies import Strategy
from .detokenize import TextStream, TokenReader
from .request import GenerationConfig, PairPrompt, Result, TokenEvent, route_generator
from .handoff import common_prefix
from .legacy_row import Row
from .runners import make_runner
from .sampling import pick_tokens
from .slots import SlotQueue
from .stats import BatchStats, RequestStats, Timer
from .waiting import optimal_wait

__all__ = ["LegacySession"]


class LegacySession(SlotQueue):
    """A live batch of requests decoded together; the server keeps one open and feeds it."""

    def __init__(
        self,
        pair: ModelPair,
        strategy: Strategy,
        max_batch: int = defaults.MAX_BATCH,
        wait_fraction: float | None = defaults.LLM_WAIT_FRACTION,
        max_wait: int = defaults.LLM_MAX_WAIT,
        piece: str = defaults.HANDOFF_PIECE,
        prefix_cache: bool = True,
    ):
        if max_batch < 1:
            raise R2RouteError(f"max batch must be ≥ 1, got {max_batch}")
        self.pair = pair
        self.strategy = strategy
        self.max_batch = max_batch
        self.wait_fraction = wait_fraction
        self.max_wait = max_wait
        if piece not in ("token", "word"):
            raise R2RouteError(f"unknown handoff piece: {piece} (use token or word)")
        self.piece = piece
        self.text_handoff = pair.handoff == "text"
        self.device = pair.device
        call_cost = defaults.CALL_COST_TOKENS_CUDA if self.device.type == "cuda" else defaults.CALL_COST_TOKENS_CPU
        self.slm = make_runner(pair.slm, max_batch, call_cost)
        self.remote = pair.llm if pair.llm_is_remote else None
        self.llm = None if self.remote else make_runner(pair.llm, max_batch, call_cost)
        self.tokenizers = {"slm": pair.slm.tokenizer, "llm": pair.llm.tokenizer}
        self.windows = {"slm": pair.slm.context_window, "llm": pair.llm.context_window}
        self.embed = pair.slm.embed
        # Under token handoff the LLM's logits past the shared vocabulary are padding rows.
        self.llm_vocab = None if self.text_handoff else min(pair.slm.vocab_size, pair.llm.vocab_size)
        self.free = list(range(max_batch))
        # Reusing a cached prefix is exact in theory but not in floating point: the prefix's KV was
        # computed in a forward of another shape, so near-tied greedy tokens can flip. Evaluations
        # turn it off (a row's tokens then depend only on its prompt); the server keeps it.
        self.prefix_cache = prefix_cache
        # What each slot's caches last held, per side: a new request takes the free slot that shares
        # the longest prefix with its prompt and keeps that much of the cache (a prefix cache: a
        # client that re-sends a growing text, as a remote-LLM client does, pays only for the new part).
        self.slot_tokens: dict[str, list[list[int]]] = {"slm": [[] for _ in range(max_batch)], "llm": [[] for _ in range(max_batch)]}
        self.queue: deque[Row] = deque()
        self.rows: dict[int, Row] = {}  # slot → row
        self.waiting: dict[int, int] = {}  # slot → step at which it was routed (its token pending the LLM)
        self.finished: dict[object, Result] = {}  # rid → result, until the caller pops it
        self.stats = BatchStats()
        self._router_timer = Timer(self.device)
        self._slm_call_s = 0.0  # running means of one SLM step and one LLM call, for the waiting policy
        self._llm_call_s = 0.0

    def reset_stats(self) -> None:
        """Start counting afresh (between calls of an idle session)."""
        self.stats = BatchStats()
        self._router_timer = Timer(self.device)
        self.finished.clear()
        for r in (self.slm, self.llm):
            if r is not None:
                r.calls = r.tokens_fed = 0

    # --- requests in and out ---
    def submit(self, rid, prompt: list[int] | PairPrompt, gen: GenerationConfig, strategy: Strategy | None = None) -> None:
        """Queue a request; it joins the batch at the next step with a free slot.

        ``prompt`` is a list of token ids under token handoff, else a :class:`PairPrompt`.
        ``strategy`` overrides the session's routing for this request alone.
        """
        gen.validate()
        if gen.verify != "none":
            raise R2RouteError("--verify all needs a pair that shares one tokenizer (engine v2); this pair runs on the legacy engine")
        if not isinstance(prompt, PairPrompt):
            if self.text_handoff:
                raise ValueError("this pair's models do not share a tokenizer: give a PairPrompt (see ModelPair.encode)")
            prompt = PairPrompt(list(prompt), list(prompt))
        if not prompt.slm or not prompt.llm:
            raise R2RouteError("empty prompt")
        for side, ids in (("slm", prompt.slm), ("llm", prompt.llm)):
            if not isinstance(ids, str) and len(ids) >= self.windows[side]:
                raise R2RouteError(f"prompt is {len(ids)} tokens; the {side.upper()}'s context window is {self.windows[side]}")
        sample_rng = None
        if gen.temperature > 0:
            sample_rng = torch.Generator(device=self.device)
            sample_rng.manual_seed(gen.seed)
        eos = {side: frozenset() if gen.ignore_eos else frozenset(self.pair.eos_token_ids(side)) for side in ("slm", "llm")}
        if self.text_handoff:
            seqs = {"slm": list(prompt.slm), "llm": [] if self.remote else list(prompt.llm)}
            readers = {side: TokenReader(self.tokenizers[side], seqs[side]) for side in seqs}
            stop_ids = {"slm": eos["slm"] | frozenset(gen.stop_token_ids), "llm": eos["llm"]}
        else:
            shared = list(prompt.slm)
            seqs = {"slm": shared, "llm": shared}
            reader = TokenReader(self.tokenizers["slm"], shared)
            readers = {"slm": reader, "llm": reader}
            stop = eos["slm"] | eos["llm"] | frozenset(gen.stop_token_ids)
            stop_ids = {"slm": stop, "llm": stop}
        self.queue.append(Row(
            rid=rid, gen=gen, strategy=strategy or self.strategy, seqs=seqs,
            n_prompt={side: len(seqs[side]) for side in seqs}, readers=readers, stop_ids=stop_ids,
            stream=TextStream(gen.stop), sample_rng=sample_rng, route_rng=route_generator(gen.seed),
            t_submit=time.perf_counter(), text_handoff=self.text_handoff,
            llm_prompt_text=prompt.llm if isinstance(prompt.llm, str) else None,
        ))
        self.stats.requests += 1

    def _admit(self) -> None:
        while self.queue and self.free:
            row = self.queue.popleft()
            sides = [("slm", self.slm)] + ([("llm", self.llm)] if self.llm else [])
            kept = {side: [common_prefix(self.slot_tokens[side][s], row.seqs[side]) if self.prefix_cache else 0 for s in self.free]
                    for side, _ in sides}
            best = max(range(len(self.free)), key=lambda i: (sum(kept[side][i] for side, _ in sides), -self.free[i]))
            row.slot = self.free.pop(best)
            for side, runner in sides:
                # Keep the shared prefix, but always leave the last prompt token to be fed (its logits are needed).
                runner.truncate(row.slot, min(kept[side][best], len(row.seqs[side]) - 1))
            self.rows[row.slot] = row

    def _release(self, slot: int) -> None:
        row = self.rows.pop(slot)
        for side in self.slot_tokens:
            self.slot_tokens[side][slot] = list(row.seqs[side])
        self.waiting.pop(slot, None)
        self.free.append(slot)
        self.free.sort()  # low slots first keeps active rows contiguous (cheap cache views)

    # --- one decoding step ---
    def step(self) -> list[TokenEvent]:
        """Advance the batch: every running row gets an SLM proposal; waiting rows may get the LLM's token."""
        t0 = time.perf_counter()
        self._admit()
        if not self.rows:
            return []
        events: list[TokenEvent] = []
        running = [s for s in sorted(self.rows) if s not in self.waiting]
        if running:
            events += self._slm_step(running)
        if self.waiting and self._llm_due():
            t = time.perf_counter()
            events += self._llm_step(sorted(self.waiting))
            self._llm_call_s = self._mean(self._llm_call_s, time.perf_counter() - t)
        self.stats.steps += 1
        self.stats.seconds += time.perf_counter() - t0
        self.stats.router_seconds = self._router_timer.seconds
        self.stats.slm_calls, self.stats.slm_tokens_fed = self.slm.calls, self.slm.tokens_fed
        if self.llm:
            self.stats.llm_calls, self.stats.llm_tokens_fed = self.llm.calls, self.llm.tokens_fed
        return events

    def _llm_due(self) -> bool:
        if len(self.waiting) == len(self.rows):  # nothing left for the SLM to do
            return True
        if self.stats.steps - min(self.waiting.values()) >= self.max_wait:
            return True
        return len(self.waiting) >= self.wait_target(len(self.rows))

    def wait_target(self, n: int) -> float:
        """How many of ``n`` rows should be waiting before the LLM is called (see :mod:`.waiting`)."""
        if self.wait_fraction is not None:
            return self.wait_fraction * n
        llm_fixed = (self.llm.cost.fixed_seconds() if self.llm else None) or self._llm_call_s
        if not (self._slm_call_s and llm_fixed):
            return 1.0  # nothing measured yet: behave like plain R2R
        prior = 64  # tokens' worth of weight on the prior share
        r = (self.stats.llm_tokens + prior * defaults.LLM_SHARE_PRIOR) / (self.stats.tokens + prior)
        ratio = llm_fixed / self._slm_call_s
        # Round so the cached optimisation is reused across steps.
        return optimal_wait(n, round(r, 2), float(f"{ratio:.2g}"))

    @staticmethod
    def _mean(old: float, new: float) -> float:
        return new if old == 0.0 else 0.9 * old + 0.1 * new

    def _sync(self, side: str, slots: list[int]) -> None:
        """Text handoff: splice the other model's new text into each row's ``side`` sequence and
        roll that model's KV cache back to what survived."""
        runner = self.slm if side == "slm" else self.llm
        for s in slots:
            row = self.rows[s]
            if row.behind(side):
                kept, ok = row.sync(side, self.tokenizers[side])
                runner.truncate(s, kept)
                self.stats.handoff_mismatches += int(not ok)

    def _slm_step(self, slots: list[int]) -> list[TokenEvent]:
        for s in slots:  # rows whose strategy never uses the SLM, or whose LLM piece is open, go to the LLM
            if not self.rows[s].strategy.needs_slm or self.rows[s].llm_continues:
                self.waiting[s] = self.stats.steps
        slots = [s for s in slots if s not in self.waiting]
        t0 = time.perf_counter()
        if self.text_handoff and slots:
            self._sync("slm", slots)
            # Nothing new for the SLM to read (the LLM wrote part of a multi-byte character, or a
            # token with no text): only the LLM can go on.
            for s in slots:
                if self.slm.seen(s) >= len(self.rows[s].seqs["slm"]):
                    self.waiting[s] = self.stats.steps
            slots = [s for s in slots if s not in self.waiting]
        if not slots:
            return []
        rows = [self.rows[s] for s in slots]
        hidden, logits = self.slm.catch_up(slots, [r.seqs["slm"] for r in rows])
        tokens = pick_tokens(logits, [r.gen.temperature for r in rows], [r.gen.top_p for r in rows], [r.sample_rng for r in rows])
        routed = self._decide(rows, hidden, logits, tokens, [r.route_rng for r in rows])
        now = time.perf_counter()
        events = []
        for slot, row, tok, to_llm in zip(slots, rows, tokens, routed):
            if to_llm:
                self.waiting[slot] = self.stats.steps
            else:
                events.append(self._emit(slot, row, "slm", int(tok), None, now))
        self._slm_call_s = self._mean(self._slm_call_s, time.perf_counter() - t0)
        return events

    def _llm_step(self, slots: list[int]) -> list[TokenEvent]:
        rows = [self.rows[s] for s in slots]
        self.waiting.clear()
        now = time.perf_counter()
        if self.remote:
            pieces = self.remote.complete([r.llm_prompt_text + r.raw for r in rows], [r.gen for r in rows])
            self.stats.llm_calls += 1
            return [self._emit(s, r, "llm", None, p, now) for s, r, p in zip(slots, rows, pieces)]
        if self.text_handoff:
            self._sync("llm", slots)
        _, logits = self.llm.catch_up(slots, [r.seqs["llm"] for r in rows])
        if self.llm_vocab is not None:
            logits = logits[:, : self.llm_vocab]
        tokens = pick_tokens(logits, [r.gen.temperature for r in rows], [r.gen.top_p for r in rows], [r.sample_rng for r in rows])
        now = time.perf_counter()
        return [self._emit(s, r, "llm", int(t), None, now) for s, r, t in zip(slots, rows, tokens)]

    def _emit(self, slot: int, row: Row, side: str, token: int | None, piece, now: float) -> TokenEvent:
        """Append what ``side`` wrote (a token, or a remote piece: (text, finished)) and finish the row if it is done."""
        if row.t_first is None:
            row.t_first = now
        delta = piece[0] if piece is not None else None
        text = row.emit(side, token, delta)
        if self.piece == "word" and self.text_handoff:
            written = delta if token is None else row.readers[side].last_text
            row.llm_continues = side == "llm" and row.piece_open(written, defaults.HANDOFF_WORD_MAX)
        self.stats.tokens += 1
        self.stats.llm_tokens += int(side == "llm")
        reason = None
        if row.stream.stopped or (token in row.stop_ids[side] if token is not None else piece[1]):
            reason = "stop"
        elif len(row.by_llm) >= row.gen.max_new_tokens or any(
            len(row.seqs[s]) >= self.windows[s] for s in ("slm", "llm") if not (s == "llm" and self.remote)
        ):
            reason = "length"
        if reason is None:
            return TokenEvent(row.rid, token, side == "llm", text)
        text += row.flush(side)
        self._release(slot)
        self.finished[row.rid] = self._result(row, reason, now)
        return TokenEvent(row.rid, token, side == "llm", text, done=True, finish_reason=reason)

    def _result(self, row: Row, reason: str, now: float) -> Result:
        if row.behind("slm"):  # so the SLM-space token ids spell the final text
            row.sync("slm", self.tokenizers["slm"])
        seq = row.seqs["slm"]
        stats = RequestStats(
            tokens=len(row.by_llm),
            llm_tokens=sum(row.by_llm),
            prompt_tokens=row.n_prompt["slm"],
            seconds=now - row.t_submit,
            ttft=(row.t_first or now) - row.t_submit,
            router_seconds=row.router_s,
            slm_params=self.pair.slm.params.total,
            llm_params=self.pair.llm_params,
        )
        return Result(row.rid, seq[: row.n_prompt["slm"]], seq[row.n_prompt["slm"] :], row.by_llm, row.stream.text, reason, stats)

