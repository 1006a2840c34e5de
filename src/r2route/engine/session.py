"""Mixed decoding (engine v2): the SLM writes every token, the LLM checks the ones a router flags.

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
   token to the LLM at once gives;
5. **emit** the tokens that became final (up to the first pending position) and finish rows.

Rows never idle waiting for the LLM, so batching keeps the SLM busy; what provisional routing
costs is the SLM tokens a rollback throws away (``BatchStats.wasted_slm_tokens``). Random draws
(sampling, random routing) are seeded by position, so rolling back and writing a position again
draws the same number.

This engine serves pairs that share one tokenizer (token handoff); pairs across tokenizers and a
remote LLM still run on :mod:`.legacy_session`.
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
from .handoff import common_prefix
from .request import ACCEPT_DRAW, LLM_DRAW, ROUTE_DRAW, SLM_DRAW, GenerationConfig, PairPrompt, Result, TokenEvent, position_generator
from .row import Row
from .runners import make_runner
from .sampling import distribution, pick_token
from .schedule import Schedule
from .verify import accept_greedy, accept_sampled
from .slots import SlotQueue
from .stats import BatchStats, RequestStats, Timer


class DecodeSession(SlotQueue):
    """A live batch of requests decoded together; the server keeps one open and feeds it."""

    def __init__(self, pair: ModelPair, strategy: Strategy, max_batch: int = defaults.MAX_BATCH,
                 schedule: Schedule | None = None, prefix_cache: bool = True):
        if max_batch < 1:
            raise R2RouteError(f"max batch must be ≥ 1, got {max_batch}")
        if pair.handoff != "token":
            raise R2RouteError("engine v2 needs a pair that shares one tokenizer; this pair runs on the legacy engine")
        self.pair, self.strategy, self.max_batch = pair, strategy, max_batch
        self.schedule = schedule or Schedule()
        # A reused prefix is exact in theory, not in floating point (its KV came from a forward of
        # another shape): evaluations turn it off, the server keeps it.
        self.prefix_cache = prefix_cache
        self.device = pair.device
        self.slm, self.llm = make_runner(pair.slm, max_batch), make_runner(pair.llm, max_batch)
        self.window = pair.context_window
        self.embed = pair.slm.embed
        self.vocab = min(pair.slm.vocab_size, pair.llm.vocab_size)  # the LLM's rows past it are padding
        self.free = list(range(max_batch))
        self.queue: deque[Row] = deque()
        self.rows: dict[int, Row] = {}  # slot → row
        self.finished: dict[object, Result] = {}  # rid → result, until the caller pops it
        self.stats = BatchStats()
        self._router_timer = Timer(self.device)

    def reset_stats(self) -> None:
        """Start counting afresh (between calls of an idle session)."""
        self.stats = BatchStats()
        self._router_timer = Timer(self.device)
        self.finished.clear()
        for r in (self.slm, self.llm):
            r.calls = r.tokens_fed = 0

    # --- requests in and out ---
    def submit(self, rid, prompt: list[int] | PairPrompt, gen: GenerationConfig, strategy: Strategy | None = None) -> None:
        """Queue a request (token ids); it joins the batch at the next step with a free slot.
        ``strategy`` overrides the session's routing for this request alone."""
        gen.validate()
        ids = list(prompt.slm if isinstance(prompt, PairPrompt) else prompt)
        if not ids:
            raise R2RouteError("empty prompt")
        if len(ids) >= self.window:
            raise R2RouteError(f"prompt is {len(ids)} tokens; the context window is {self.window}")
        eos = frozenset() if gen.ignore_eos else frozenset(self.pair.eos_token_ids("slm"))
        self.queue.append(Row(rid=rid, gen=gen, strategy=strategy or self.strategy, tokens=ids, n_prompt=len(ids),
                              stop_ids=eos | frozenset(gen.stop_token_ids), reader=TokenReader(self.pair.tokenizer, ids),
                              stream=TextStream(gen.stop), t_submit=time.perf_counter()))
        self.stats.requests += 1

    # --- one decoding step ---
    def step(self) -> list[TokenEvent]:
        """Admit, propose, schedule, check, emit: see the module docstring."""
        t0 = time.perf_counter()
        self._admit()
        if not self.rows:
            return []
        writers = [s for s in sorted(self.rows) if self.rows[s].strategy.needs_slm and not self.rows[s].ends_here(self.window)]
        if writers:
            self._propose(writers)
        due = self.schedule.due(self.rows, self.stats.steps, self.window)
        if due:
            self._check(due)
        events = self._emit()
        self.stats.steps += 1
        self.stats.seconds += time.perf_counter() - t0
        self.stats.router_seconds = self._router_timer.seconds
        self.stats.slm_calls, self.stats.slm_tokens_fed = self.slm.calls, self.slm.tokens_fed
        self.stats.llm_calls, self.stats.llm_tokens_fed = self.llm.calls, self.llm.tokens_fed
        return events

    def _admit(self) -> None:
        while self.queue and self.free:
            row = self.queue.popleft()
            # The slot whose caches hold the longest prefix of this prompt keeps it, each side its
            # own (never the last prompt token: its output is the first prediction).
            runners = (self.slm, self.llm)
            keep = [[common_prefix(r.held[s], row.tokens) if self.prefix_cache else 0 for r in runners] for s in self.free]
            best = max(range(len(self.free)), key=lambda i: (sum(keep[i]), -self.free[i]))
            row.slot = self.free.pop(best)
            for runner, kept in zip(runners, keep[best]):
                runner.truncate(row.slot, min(kept, row.n_prompt - 1))
            self.rows[row.slot] = row

    def _release(self, slot: int) -> None:
        del self.rows[slot]
        self.free.append(slot)
        self.free.sort()  # low slots first keeps active rows contiguous (cheap cache views)

    def _propose(self, slots: list[int]) -> None:
        rows = [self.rows[s] for s in slots]
        hidden, logits = self.slm.catch_up(slots, [r.tokens for r in rows])
        positions = [len(r.tokens) for r in rows]
        tokens = self._pick(logits[:, : self.vocab], rows, positions, SLM_DRAW)  # never a padding row the LLM lacks
        flags = self._decide(rows, hidden, logits, tokens, [position_generator(r.gen.seed, p, ROUTE_DRAW) for r, p in zip(rows, positions)])
        for i, (r, t, flagged) in enumerate(zip(rows, tokens, flags)):
            if r.gen.verify == "none":  # R2R: a flagged token is the LLM's to write
                r.append(t, by_llm=flagged, flagged=flagged, step=self.stats.steps)
                continue
            if r.gen.temperature > 0:  # the speculative rule needs the distribution the SLM drew from
                r.q[positions[i]] = distribution(logits[i, : self.vocab], r.gen.temperature, r.gen.top_p)
            r.append(t, by_llm=False, flagged=True, step=self.stats.steps)  # verify all: every token is checked
            r.call = r.call or flagged

    def _check(self, slots: list[int]) -> None:
        rows = [self.rows[s] for s in slots]
        # The LLM's output at p - 1 is its token for p: feed up to the last position checked, and
        # under verify all (or for an LLM-only row) through the end, for the token after the draft.
        outputs = [[p - 1 for p in r.pending] + ([len(r.tokens) - 1] if self._writes_next(r) else []) for r in rows]
        _, logits = self.llm.forward(slots, [r.tokens for r in rows], [o[-1] + 1 for o in outputs], outputs)
        logits = logits[:, : self.vocab]
        k = 0
        for slot, r, outs in zip(slots, rows, outputs):
            mine, k = logits[k : k + len(outs)], k + len(outs)
            r.llm_calls += 1
            for p, row_logits in zip([o + 1 for o in outs], mine):
                if p == len(r.tokens):  # the draft stood (or there was none): the LLM writes the next token
                    r.append(self._pick(row_logits[None], [r], [p], LLM_DRAW)[0], by_llm=True, flagged=False, step=self.stats.steps)
                    break
                ok, token = self._judge(r, p, row_logits)
                if not ok:
                    dropped = r.rollback(p, token)
                    self.stats.rollbacks += dropped > 0  # a replaced last token is no rollback: nothing was built on it
                    self.stats.wasted_slm_tokens += dropped
                    self.slm.truncate(slot, p)
                    self.llm.truncate(slot, p)
                    break
            r.checked()

    @staticmethod
    def _writes_next(r: Row) -> bool:
        return not r.strategy.needs_slm or r.gen.verify == "all"

    def _judge(self, r: Row, p: int, llm_logits: torch.Tensor) -> tuple[bool, int]:
        """Whether the SLM's token at ``p`` stands, and the token the LLM puts there."""
        if r.gen.verify == "none":  # R2R: the LLM writes every flagged token; an equal one changes nothing
            t = self._pick(llm_logits[None], [r], [p], LLM_DRAW)[0]
            return t == r.tokens[p], t
        if r.gen.temperature <= 0:
            return accept_greedy(llm_logits, r.tokens[p], r.gen.accept_margin)
        return accept_sampled(distribution(llm_logits, r.gen.temperature, r.gen.top_p), r.q[p], r.tokens[p],
                              position_generator(r.gen.seed, p, ACCEPT_DRAW, llm_logits.device))

    def _pick(self, logits: torch.Tensor, rows: list[Row], positions: list[int], stream: int) -> list[int]:
        if all(r.gen.temperature <= 0 for r in rows):
            return torch.argmax(logits, dim=-1).tolist()
        return [pick_token(logits[i], r.gen.temperature, r.gen.top_p, position_generator(r.gen.seed, p, stream, logits.device))
                for i, (r, p) in enumerate(zip(rows, positions))]

    def _emit(self) -> list[TokenEvent]:
        """Stream every token that became final; finish the rows that ended."""
        events = []
        now = time.perf_counter()
        for slot in sorted(self.rows):
            r = self.rows[slot]
            while r.emitted < r.resolved:
                tok, by = r.tokens[r.emitted], r.by_llm[r.emitted - r.n_prompt]
                r.emitted += 1
                r.t_first = r.t_first or now
                text = r.stream.add(r.reader.add(tok))
                self.stats.tokens += 1
                self.stats.llm_tokens += int(by)
                reason = None
                if tok in r.stop_ids or r.stream.stopped:
                    reason = "stop"
                elif r.emitted - r.n_prompt >= r.gen.max_new_tokens or r.emitted >= self.window:
                    reason = "length"
                if reason is None:
                    events.append(TokenEvent(r.rid, tok, by, text))
                    continue
                del r.tokens[r.emitted :], r.by_llm[r.emitted - r.n_prompt :]
                text += r.stream.finish(r.reader.flush())
                self._release(slot)
                self.finished[r.rid] = self._result(r, reason, now)
                events.append(TokenEvent(r.rid, tok, by, text, done=True, finish_reason=reason))
                break
        return events

    def _result(self, row: Row, reason: str, now: float) -> Result:
        stats = RequestStats(
            tokens=row.generated, llm_tokens=sum(row.by_llm), prompt_tokens=row.n_prompt, seconds=now - row.t_submit,
            ttft=(row.t_first or now) - row.t_submit, router_seconds=row.router_s, slm_params=self.pair.slm.params.total,
            llm_params=self.pair.llm_params, wasted_slm_tokens=row.wasted, llm_calls=row.llm_calls, rollbacks=row.rollbacks,
        )
        return Result(row.rid, row.tokens[: row.n_prompt], row.tokens[row.n_prompt :], row.by_llm, row.stream.text, reason, stats)
