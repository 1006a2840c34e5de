"""Mixed decoding: the SLM proposes every token, a strategy routes some of them to the LLM.

One :class:`DecodeSession` holds up to ``max_batch`` rows in slots. Each :meth:`step`:

1. the SLM catches up on each active row (one new token each; a whole prompt for a new row) and
   proposes the next token;
2. the strategy decides, row by row, whether that token goes to the LLM;
3. a routed row waits; once enough rows wait (the cost-optimal number, see
   ``defaults.LLM_WAIT_FRACTION``; or no row is left for the SLM; or one has waited ``max_wait``
   steps) the LLM runs on exactly the waiting rows,
   each first catching its KV cache up on every token since its last call, and its token replaces
   the SLM's. The SLM never saw the rejected token, so nothing needs rolling back.

Waiting turns many one-row LLM calls into few multi-row ones: under batching an LLM call costs
about the same for one row as for eight. Rows are independent: a row's tokens do not depend on
which other rows share its batch, nor on when the LLM served it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import torch

from .. import defaults
from ..errors import R2RouteError
from ..pair.pair import ModelPair
from ..router.strategies import StepView, Strategy
from .detokenize import IncrementalDetokenizer
from .runner import ModelRunner
from .sampling import pick_tokens
from .waiting import optimal_wait
from .stats import BatchStats, RequestStats, Timer


def route_generator(seed: int) -> torch.Generator:
    """The CPU generator that random routing draws from for a request with ``seed``.

    Offset from the sampling seed so routing and sampling are separate streams.
    """
    g = torch.Generator()
    g.manual_seed(seed + 0x5EED)
    return g


@dataclass
class GenerationConfig:
    """Per-request decoding settings."""

    max_new_tokens: int = defaults.MAX_NEW_TOKENS
    temperature: float = defaults.TEMPERATURE
    top_p: float = defaults.TOP_P
    seed: int = defaults.SEED
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()  # end the request on these ids too (as EOS does)
    ignore_eos: bool = False  # benchmarks: fixed-length outputs

    def validate(self) -> None:
        if self.max_new_tokens <= 0:
            raise R2RouteError(f"max new tokens must be ≥ 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise R2RouteError(f"temperature must be ≥ 0, got {self.temperature}")
        if not (0.0 < self.top_p <= 1.0):
            raise R2RouteError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass
class TokenEvent:
    """One token of one request, with the text it completed (possibly empty)."""

    request: object
    token: int
    by_llm: bool
    text: str
    done: bool = False
    finish_reason: str | None = None


@dataclass
class Result:
    """A finished request."""

    request: object
    prompt_ids: list[int]
    token_ids: list[int]
    by_llm: list[bool]
    text: str
    finish_reason: str
    stats: RequestStats


@dataclass
class _Row:
    rid: object
    gen: GenerationConfig
    tokens: list[int]
    n_prompt: int
    detok: IncrementalDetokenizer
    sample_rng: torch.Generator | None
    route_rng: torch.Generator
    t_submit: float
    stop_ids: frozenset[int]
    strategy: Strategy
    by_llm: list[bool] = field(default_factory=list)
    t_first: float | None = None
    router_s: float = 0.0
    slot: int = -1


class DecodeSession:
    """A live batch of requests decoded together; the server keeps one open and feeds it."""

    def __init__(
        self,
        pair: ModelPair,
        strategy: Strategy,
        max_batch: int = defaults.MAX_BATCH,
        wait_fraction: float | None = defaults.LLM_WAIT_FRACTION,
        max_wait: int = defaults.LLM_MAX_WAIT,
    ):
        if max_batch < 1:
            raise R2RouteError(f"max batch must be ≥ 1, got {max_batch}")
        self.pair = pair
        self.wait_fraction = wait_fraction
        self.max_wait = max_wait
        self.waiting: dict[int, int] = {}  # slot → step at which it was routed (its token pending the LLM)
        self.strategy = strategy
        self.max_batch = max_batch
        pad = pair.tokenizer.pad_token_id if pair.tokenizer.pad_token_id is not None else 0
        self.device = pair.device
        call_cost = defaults.CALL_COST_TOKENS_CUDA if self.device.type == "cuda" else defaults.CALL_COST_TOKENS_CPU
        self.slm = ModelRunner(pair.slm, max_batch, pad, call_cost)
        self.llm = ModelRunner(pair.llm, max_batch, pad, call_cost)
        self.eos = pair.eos_token_ids
        self.vocab = min(pair.slm.model.get_input_embeddings().num_embeddings, pair.llm.model.get_input_embeddings().num_embeddings)
        self.embed = pair.slm.model.get_input_embeddings()
        self.free = list(range(max_batch))
        self.queue: deque[_Row] = deque()
        self.rows: dict[int, _Row] = {}  # slot → row
        self.stats = BatchStats()
        self._slm_call_s = 0.0  # running means of one SLM step and one LLM call, for k*
        self._llm_call_s = 0.0
        self.finished: dict[object, Result] = {}  # rid → result, until the caller pops it
        self._router_timer = Timer(self.device)

    # --- requests in and out ---
    def submit(self, rid, prompt_ids: list[int], gen: GenerationConfig, strategy: Strategy | None = None) -> None:
        """Queue a request; it joins the batch at the next step with a free slot.

        ``strategy`` overrides the session's routing for this request alone (e.g. its own threshold).
        """
        gen.validate()
        if not prompt_ids:
            raise R2RouteError("empty prompt")
        window = self.pair.context_window
        if len(prompt_ids) >= window:
            raise R2RouteError(f"prompt is {len(prompt_ids)} tokens; the pair's context window is {window}")
        sample_rng = None
        if gen.temperature > 0:
            sample_rng = torch.Generator(device=self.device)
            sample_rng.manual_seed(gen.seed)
        route_rng = route_generator(gen.seed)
        detok = IncrementalDetokenizer(self.pair.tokenizer, prompt_ids, gen.stop)
        stop_ids = frozenset(gen.stop_token_ids) | (frozenset() if gen.ignore_eos else frozenset(self.eos))
        self.queue.append(_Row(rid, gen, list(prompt_ids), len(prompt_ids), detok, sample_rng, route_rng, time.perf_counter(), stop_ids, strategy or self.strategy))
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

    def _admit(self) -> None:
        while self.queue and self.free:
            row = self.queue.popleft()
            row.slot = self.free.pop(0)
            self.slm.reset(row.slot)
            self.llm.reset(row.slot)
            self.rows[row.slot] = row

    def _release(self, slot: int) -> None:
        del self.rows[slot]
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
        self.stats.llm_calls, self.stats.llm_tokens_fed = self.llm.calls, self.llm.tokens_fed
        return events

    def _llm_due(self) -> bool:
        if len(self.waiting) == len(self.rows):  # nothing left for the SLM to do
            return True
        if self.stats.steps - min(self.waiting.values()) >= self.max_wait:
            return True
        return len(self.waiting) >= self.wait_target(len(self.rows))

    def wait_target(self, n: int) -> float:
        """How many of ``n`` rows should be waiting before the LLM is called (see engine.waiting)."""
        if self.wait_fraction is not None:
            return self.wait_fraction * n
        llm_fixed = self.llm.cost.fixed_seconds() or self._llm_call_s
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

    def _slm_step(self, slots: list[int]) -> list[TokenEvent]:
        for s in slots:  # rows whose strategy never uses the SLM go straight to the LLM
            if not self.rows[s].strategy.needs_slm:
                self.waiting[s] = self.stats.steps
        slots = [s for s in slots if s not in self.waiting]
        if not slots:
            return []
        t0 = time.perf_counter()
        rows = [self.rows[s] for s in slots]
        hidden, logits = self.slm.catch_up(slots, [r.tokens for r in rows])
        tokens = pick_tokens(logits, [r.gen.temperature for r in rows], [r.gen.top_p for r in rows], [r.sample_rng for r in rows])
        routed = self._route(rows, hidden, logits, tokens)
        now = time.perf_counter()
        events = []
        for slot, row, tok, to_llm in zip(slots, rows, tokens, routed):
            if to_llm:
                self.waiting[slot] = self.stats.steps
            else:
                events.append(self._append(slot, row, int(tok), False, now))
        self._slm_call_s = self._mean(self._slm_call_s, time.perf_counter() - t0)
        return events

    def _route(self, rows: list[_Row], hidden: torch.Tensor, logits: torch.Tensor, tokens: list[int]) -> list[bool]:
        """Ask each row's strategy; rows sharing a strategy are decided in one call."""
        before = self._router_timer.seconds
        routed = [False] * len(rows)
        with self._router_timer:
            token_t = torch.tensor(tokens, device=self.device)
            groups: dict[int, list[int]] = {}
            for i, r in enumerate(rows):
                groups.setdefault(id(r.strategy), []).append(i)
            for idx in groups.values():
                strat = rows[idx[0]].strategy
                if len(idx) == len(rows):
                    view = StepView(logits, hidden, token_t, self.embed, [r.route_rng for r in rows])
                else:
                    sel = torch.tensor(idx, device=self.device)
                    view = StepView(logits[sel], hidden[sel], token_t[sel], self.embed, [rows[i].route_rng for i in idx])
                for i, decision in zip(idx, strat.decide(view)):
                    routed[i] = bool(decision)
        share = (self._router_timer.seconds - before) / len(rows)
        for r in rows:
            r.router_s += share
        return routed

    def _llm_step(self, slots: list[int]) -> list[TokenEvent]:
        rows = [self.rows[s] for s in slots]
        _, logits = self.llm.catch_up(slots, [r.tokens for r in rows])
        tokens = pick_tokens(logits[:, : self.vocab], [r.gen.temperature for r in rows], [r.gen.top_p for r in rows], [r.sample_rng for r in rows])
        self.waiting.clear()
        now = time.perf_counter()
        return [self._append(slot, row, int(tok), True, now) for slot, row, tok in zip(slots, rows, tokens)]

    def _append(self, slot: int, row: _Row, token: int, by_llm: bool, now: float) -> TokenEvent:
        row.tokens.append(token)
        row.by_llm.append(by_llm)
        if row.t_first is None:
            row.t_first = now
        self.stats.tokens += 1
        self.stats.llm_tokens += int(by_llm)
        text = row.detok.add(token)
        reason = None
        if row.detok.stopped or token in row.stop_ids:
            reason = "stop"
        elif len(row.by_llm) >= row.gen.max_new_tokens or len(row.tokens) >= self.pair.context_window:
            reason = "length"
        if reason is None:
            return TokenEvent(row.rid, token, by_llm, text)
        text += row.detok.finish()
        self._release(slot)
        self.finished[row.rid] = self._result(row, reason, now)
        return TokenEvent(row.rid, token, by_llm, text, done=True, finish_reason=reason)

    def _result(self, row: _Row, reason: str, now: float) -> Result:
        gen_ids = row.tokens[row.n_prompt :]
        stats = RequestStats(
            tokens=len(gen_ids),
            llm_tokens=sum(row.by_llm),
            prompt_tokens=row.n_prompt,
            seconds=now - row.t_submit,
            ttft=(row.t_first or now) - row.t_submit,
            router_seconds=row.router_s,
            slm_params=self.pair.slm.params.total,
            llm_params=self.pair.llm.params.total,
        )
        return Result(row.rid, row.tokens[: row.n_prompt], gen_ids, row.by_llm, row.detok.text, reason, stats)
