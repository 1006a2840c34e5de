"""Mixed decoding: the SLM writes every token, the LLM checks the ones a router flags.

One :class:`DecodeSession` holds up to ``max_batch`` rows in slots. Each :meth:`step`, top to bottom:

1. **admit** queued requests into free slots;
2. **propose**: the SLM reads each running row's new tokens and proposes the next one; the
   row's strategy (the router) flags some. A flagged row does *not* wait: the SLM's token goes in
   provisionally, its position marked pending, and the row writes on;
3. **schedule**: whether the LLM runs now, and on which rows, is decided from step counts alone
   (:mod:`.schedule`), so a row's tokens never depend on timing;
4. **check**: the LLM catches its KV cache up on each due row (one forward over every token since
   its last call) and reads its own prediction at each pending position p, in order. Where it
   agrees, the SLM's token stands; at the first position where it writes another token, that
   token replaces the SLM's and the row **rolls back** to p: both KV caches are truncated to p and
   the SLM's later tokens are dropped. The LLM's prediction at p depends only on ``tokens[:p]``,
   which is final when p is checked, so the text is token for token what routing each flagged
   token to the LLM at once gives. Under ``verify all`` every token since the last call is checked
   this way (speculative decoding, with the router deciding when);
5. **emit** the writes that became final (up to the first pending position) and finish rows.

Rows never idle waiting for the LLM, so batching keeps the SLM busy; what provisional routing
costs is the SLM tokens a rollback throws away (``BatchStats.wasted_slm_tokens``).

The choices run where the logits are: the SLM's next tokens, the routers' decisions and the LLM's
verdicts are tensor ops on the device, and each model call copies one small tensor to the host
(tokens and decisions; verdicts). Random draws (sampling, random routing, the speculative rule) are
counter-based draws of the request's seed and the position (:mod:`r2route.draws`), so rolling back
and writing a position again draws the same number, and a row's tokens never depend on its batch.

What the LLM does with a row's tokens (R2R, verify all, LLM only) is the row's mode (:mod:`.modes`).

How the LLM reads a row and how its writes get in differs by pair kind, and lives in one small
object (:mod:`.handoff`): one vocabulary (the check above), two tokenizers (text handed over and
re-tokenized; the LLM writes in a flagged token's place in the same step), or an LLM behind a server.
"""

from __future__ import annotations

import time
from collections import deque

from .. import defaults
from ..errors import R2RouteError
from ..pair.pair import ModelPair
from ..router.strategies import Strategy
from .detokenize import TextStream, TokenReader
from .device_step import SLMStep, step_strategy
from .handoff import StepContext, make_handoff
from .heap import trim_heap
from .modes import mode_for
from .request import GenerationConfig, PairPrompt, Result, TokenEvent
from .retokenize import common_prefix
from .row import Row
from .runners import make_runner
from .sampling import switches
from .schedule import Schedule
from .stats import BatchStats, RequestStats, Timer


class DecodeSession:
    """A live batch of requests decoded together; the server keeps one open and feeds it."""

    def __init__(self, pair: ModelPair, strategy: Strategy, max_batch: int = defaults.MAX_BATCH,
                 schedule: Schedule | None = None, prefix_cache: bool = True, piece: str = defaults.HANDOFF_PIECE,
                 context: int | None = None, invariant: bool = False, runner: str = defaults.RUNNER):
        if max_batch < 1:
            raise R2RouteError(f"max batch must be ≥ 1, got {max_batch}")
        self.pair, self.strategy, self.max_batch = pair, strategy, max_batch
        self.schedule = schedule or Schedule()
        self.handoff = make_handoff(pair, piece)
        # A reused prefix is exact in theory, not in floating point on every backend (its KV came
        # from a forward of another shape): evaluations turn it off, the server keeps it.
        self.prefix_cache = prefix_cache
        self.device = pair.device
        # Positions one slot holds: the models' window, or less where the caller knows its requests
        # need less (prompt + max_new_tokens: Engine.generate), since llama.cpp and the static runner
        # allocate them up front.
        self.window = min(self.handoff.window, context or self.handoff.window)
        # invariant: llama.cpp's sums of a row do not depend on its batch-mates (eval; it costs speed)
        self.slm = make_runner(pair.slm, max_batch, context=context and self.window, invariant=invariant, runner=runner)
        # the router reads the SLM's hidden states only: the LLM's runner skips them (and with them
        # llama.cpp's output head on every catch-up token whose logits are not asked for)
        self.llm = None if pair.llm_is_remote else make_runner(
            pair.llm, max_batch, context=context and self.handoff.llm_context(self.window), invariant=invariant, hidden=False,
            runner=runner)
        # a runner that allocates its cache may hold fewer positions than the models' window
        self.window = min([self.window] + [r.max_len for r in (self.slm, self.llm) if getattr(r, "max_len", None)])
        self.embed = pair.slm.embed
        self.free = list(range(max_batch))
        self.queue: deque[Row] = deque()
        self.rows: dict[int, Row] = {}  # slot → row
        self.finished: dict[object, Result] = {}  # rid → result, until the caller pops it
        self.stats = BatchStats()
        self._router_timer = Timer(self.device)
        self.steps_taken = 0  # what the schedule counts ages in (the stats keep a count of their own)

    def warm_up(self) -> tuple[int, float]:
        """Let the runners prepare what the first steps need (graph runners capture their decode
        graphs; a server does this at start-up); returns (graphs captured, seconds)."""
        runners = [(self.slm, SLMStep(self.handoff.vocab, self.strategy, self.embed, capture=self.strategy.graphable))]
        runners = (runners if self.strategy.needs_slm else []) + ([(self.llm, None)] if self.llm is not None else [])
        for runner, step in runners:
            runner.warm_up(step)
        return sum(r.captures for r, _ in runners), sum(r.capture_seconds for r, _ in runners)

    def reset_stats(self) -> None:
        """Start counting afresh (between calls of an idle session)."""
        self.stats = BatchStats()
        self._router_timer = Timer(self.device)
        self.finished.clear()
        for r in (self.slm, self.llm):
            if r is not None:
                r.calls = r.tokens_fed = r.refed = 0

    # --- requests in and out ---
    def submit(self, rid, prompt: list[int] | PairPrompt, gen: GenerationConfig, strategy: Strategy | None = None) -> None:
        """Queue a request (token ids, or a :class:`PairPrompt` where the models read it apart); it
        joins the batch at the next step with a free slot. ``strategy`` overrides the session's
        routing for this request alone."""
        gen.validate()
        ids = list(prompt.slm if isinstance(prompt, PairPrompt) else prompt)
        if not ids:
            raise R2RouteError("empty prompt")
        if len(ids) >= self.window:
            raise R2RouteError(f"prompt is {len(ids)} tokens; the context window is {self.window}")
        strategy = strategy or self.strategy
        eos = frozenset() if gen.ignore_eos else frozenset(self.pair.eos_token_ids("slm"))
        row = Row(rid=rid, gen=gen, strategy=strategy, tokens=ids, n_prompt=len(ids),
                  stop_ids=eos | frozenset(gen.stop_token_ids), reader=TokenReader(self.pair.tokenizer, ids),
                  stream=TextStream(gen.stop), t_submit=time.perf_counter(), mode=mode_for(gen.verify, strategy.needs_slm))
        self.handoff.start(row, prompt)
        self.queue.append(row)
        self.stats.requests += 1

    def cancel(self, rid) -> bool:
        """Drop a request (a client went away). True if it was still queued or running."""
        for row in list(self.queue):
            if row.rid == rid:
                self.queue.remove(row)
                return True
        for slot, row in list(self.rows.items()):
            if row.rid == rid:
                self._release(slot)
                return True
        return False

    @property
    def busy(self) -> bool:
        return bool(self.rows or self.queue)

    # --- one decoding step ---
    def step(self) -> list[TokenEvent]:
        """Admit, propose, schedule, check, emit: see the module docstring."""
        t0 = time.perf_counter()
        self._admit()
        if not self.rows:
            return []
        ctx = StepContext(self.rows, self.slm, self.llm, self.stats, self.steps_taken)
        writers = [s for s, r in sorted(self.rows.items()) if not self.handoff.llm_turn(r) and not r.ends_here(self.window)]
        if writers:
            self._propose(ctx, writers)
        due = self.schedule.due(self.rows, self.steps_taken, self.window, self.handoff)
        if due:
            self.handoff.check(ctx, due)
        events = self._emit()
        self.steps_taken += 1
        self.stats.steps += 1
        self.stats.seconds += time.perf_counter() - t0
        self.stats.router_seconds = self._router_timer.seconds
        self.stats.slm_calls, self.stats.slm_tokens_fed = self.slm.calls, self.slm.tokens_fed
        if self.llm is not None:  # a remote LLM's calls are counted as they are made
            self.stats.llm_calls, self.stats.llm_tokens_fed = self.llm.calls, self.llm.tokens_fed
        self.stats.refed_tokens = self.slm.refed + (self.llm.refed if self.llm is not None else 0)
        return events

    def _admit(self) -> None:
        while self.queue and self.free:
            row = self.queue.popleft()
            # The slot whose caches hold the longest prefix of this prompt keeps it, each side its
            # own (never the last prompt token: its output is the first prediction).
            caches = [(self.slm, row.tokens)] + ([(self.llm, self.handoff.llm_ids(row))] if self.llm is not None else [])
            keep = [[common_prefix(r.held[s], ids) if self.prefix_cache else 0 for r, ids in caches] for s in self.free]
            best = max(range(len(self.free)), key=lambda i: (sum(keep[i]), -self.free[i]))
            row.slot = self.free.pop(best)
            for (runner, ids), kept in zip(caches, keep[best]):
                runner.truncate(row.slot, min(kept, len(ids) - 1))
            self.rows[row.slot] = row

    def _release(self, slot: int) -> None:
        del self.rows[slot]
        self.free.append(slot)
        self.free.sort()  # low slots first keeps active rows contiguous (cheap cache views)
        if not self.busy:  # the batch drained: hand its freed heap pages back (see .heap)
            trim_heap()

    def _propose(self, ctx: StepContext, slots: list[int]) -> None:
        """The SLM's step on the device: its next token per row (greedy or a seeded draw), the
        routers' decisions, then one copy of both to the host."""
        rows = [self.rows[s] for s in slots]
        gens = [r.gen for r in rows]
        sampling, cut = switches(gens)
        strategy = step_strategy([r.strategy for r in rows])
        step = SLMStep(self.handoff.vocab, strategy, self.embed, sampling, cut, self._router_timer,
                       capture=strategy is self.strategy and strategy.graphable)
        before = self._router_timer.seconds
        out, probs = self.slm.decode(slots, [r.tokens for r in rows], step, gens, [r.next_position for r in rows])
        out = out.cpu().tolist()  # the step's one copy to the host
        share = (self._router_timer.seconds - before) / len(rows)
        for i, (r, t, flagged) in enumerate(zip(rows, out[0], out[1])):
            r.router_s += share
            # verify all with sampling: the speculative rule needs the distribution the SLM drew from
            self.handoff.propose(ctx, r, t, bool(flagged), probs[i] if probs is not None else None)

    def _emit(self) -> list[TokenEvent]:
        """Stream every write that became final; finish the rows that ended."""
        events = []
        now = time.perf_counter()
        for slot in sorted(self.rows):
            r = self.rows[slot]
            for w in self.handoff.final(r):
                r.written += 1
                r.t_first = r.t_first or now
                text = r.stream.add(w.text)
                self.stats.tokens += 1
                self.stats.llm_tokens += int(w.by_llm)
                reason = None
                if w.ends or r.stream.stopped:
                    reason = "stop"
                elif r.written >= r.gen.max_new_tokens or self.handoff.full(r, self.window):
                    reason = "length"
                if reason is None:
                    events.append(TokenEvent(r.rid, w.token, w.by_llm, text))
                    continue
                text += r.stream.finish(self.handoff.close(r))
                self._release(slot)
                self.finished[r.rid] = self._result(r, reason, now)
                events.append(TokenEvent(r.rid, w.token, w.by_llm, text, done=True, finish_reason=reason))
                break
        return events

    def _result(self, row: Row, reason: str, now: float) -> Result:
        stats = RequestStats(
            tokens=len(row.by_llm), llm_tokens=sum(row.by_llm), prompt_tokens=row.n_prompt, seconds=now - row.t_submit,
            ttft=(row.t_first or now) - row.t_submit, router_seconds=row.router_s, slm_params=self.pair.slm.params.total,
            llm_params=self.pair.llm_params, wasted_slm_tokens=row.wasted, llm_calls=row.llm_calls, rollbacks=row.rollbacks,
        )
        return Result(row.rid, row.tokens[: row.n_prompt], row.tokens[row.n_prompt :], row.by_llm, row.stream.text, reason, stats)
