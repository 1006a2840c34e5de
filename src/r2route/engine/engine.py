"""Engine: the convenient front of mixed decoding — a batch of prompts in, text and stats out."""

from __future__ import annotations

import time
from collections.abc import Iterator

from .. import defaults
from ..pair.pair import ModelPair
from ..router.strategies import Strategy
from .request import GenerationConfig, PairPrompt, Result, TokenEvent, slm_length
from .schedule import Schedule
from .session import DecodeSession
from .stats import BatchStats


def open_session(pair: ModelPair, strategy: Strategy, max_batch: int = defaults.MAX_BATCH, piece: str = defaults.HANDOFF_PIECE,
                 prefix_cache: bool = True, schedule: Schedule | None = None, context: int | None = None,
                 invariant: bool = False, runner: str = defaults.RUNNER) -> DecodeSession:
    """A live batch (its own KV caches) that the caller feeds and steps: what the server keeps open.
    ``context``: positions per slot (default: the models' window); ``invariant``: a row's tokens do
    not depend on its batch-mates on llama.cpp either (bitwise; slower, see defaults)."""
    return DecodeSession(pair, strategy, max_batch, schedule=schedule, prefix_cache=prefix_cache, piece=piece, context=context,
                         invariant=invariant, runner=runner)


def context_for(prompts: list, gens: list[GenerationConfig]) -> int:
    """Positions per slot that these requests can use (the longest prompt + its max_new_tokens),
    rounded up so that calls of similar size reuse one session."""
    need = max(slm_length(p) + g.max_new_tokens for p, g in zip(prompts, gens))
    step = defaults.KV_CAPACITY_STEP
    return (need + step - 1) // step * step


class Engine:
    """Decode prompts with a pair and a routing strategy.

    >>> engine = Engine(pair, make_strategy("random", llm_share=0.2))
    >>> results, stats = engine.generate([prompt_ids], GenerationConfig(max_new_tokens=64))
    """

    def __init__(self, pair: ModelPair, strategy: Strategy, max_batch: int = defaults.MAX_BATCH, piece: str = defaults.HANDOFF_PIECE,
                 prefix_cache: bool = True, schedule: Schedule | None = None, invariant: bool = False, runner: str = defaults.RUNNER):
        self.pair = pair
        self.runner_kind = runner
        self.invariant = invariant
        self.prefix_cache = prefix_cache
        self.schedule = schedule
        self.strategy = strategy
        self.max_batch = max_batch
        self.piece = piece
        self._session: DecodeSession | None = None

    def session(self, context: int | None = None) -> DecodeSession:
        """A fresh live batch (its own KV caches) of ``context`` positions per slot (default: the window)."""
        return open_session(self.pair, self.strategy, self.max_batch, self.piece, self.prefix_cache, self.schedule, context,
                            self.invariant, self.runner_kind)

    def _idle_session(self, context: int | None = None) -> DecodeSession:
        # KV caches and llama.cpp contexts are big; calls reuse one session (a slot's cache is
        # reset when a request is admitted to it) with fresh statistics each time, and replace it
        # only when a call needs longer slots. The old one goes first: never two sets of caches.
        short = context is not None and self._session is not None and self._session.window < min(context, self._session.handoff.window)
        if self._session is None or self._session.busy or short:
            self._session = None
            self._session = self.session(context)
        else:
            self._session.reset_stats()
        return self._session

    def runner(self, side: str):
        """The idle session's runner of ``side`` ("slm" or "llm"), for measurements that should
        use the engine's own caches rather than allocate more."""
        sess = self._idle_session()
        return sess.slm if side == "slm" else sess.llm

    def stream(
        self,
        prompts: list[list[int] | PairPrompt],
        gen: GenerationConfig | list[GenerationConfig],
        results: dict | None = None,
        strategy: Strategy | list[Strategy | None] | None = None,
    ) -> Iterator[TokenEvent]:
        """Yield token events as they are produced; request ids are prompt indices.

        Pass a dict as ``results`` to receive each finished :class:`Result` (keyed by index) and,
        under the key ``"batch"``, the :class:`BatchStats`. ``strategy`` overrides the engine's
        routing for this call, or per prompt as a list (the same models, caches and contexts serve
        every strategy; query-level routing sends whole prompts to one model this way).
        """
        gens = gen if isinstance(gen, list) else [gen] * len(prompts)
        strats = strategy if isinstance(strategy, list) else [strategy] * len(prompts)
        sess = self._idle_session(context_for(prompts, gens) if prompts else None)
        for i, (p, g, s) in enumerate(zip(prompts, gens, strats)):
            sess.submit(i, p, g, s)
        t0 = time.perf_counter()
        while sess.busy:
            yield from sess.step()
        sess.stats.seconds = time.perf_counter() - t0
        if results is not None:
            results.update(sess.finished)
            results["batch"] = sess.stats
        sess.finished.clear()

    def generate(
        self,
        prompts: list[list[int] | PairPrompt],
        gen: GenerationConfig | list[GenerationConfig] | None = None,
        strategy: Strategy | list[Strategy | None] | None = None,
    ) -> tuple[list[Result], BatchStats]:
        """Decode all prompts to completion; results in prompt order."""
        out: dict = {}
        for _ in self.stream(prompts, gen or GenerationConfig(), out, strategy):
            pass
        stats = out.pop("batch")
        return [out[i] for i in range(len(prompts))], stats
