"""Engine: the convenient front of mixed decoding — a batch of prompts in, text and stats out."""

from __future__ import annotations

import time
from collections.abc import Iterator

from .. import defaults
from ..pair.pair import ModelPair
from ..router.strategies import Strategy
from ..errors import R2RouteError
from .legacy_session import LegacySession
from .request import GenerationConfig, PairPrompt, Result, TokenEvent
from .schedule import Schedule
from .session import DecodeSession
from .stats import BatchStats

ENGINES = ("auto", "v1", "v2")


def open_session(pair: ModelPair, strategy: Strategy, max_batch: int = defaults.MAX_BATCH, engine: str = defaults.ENGINE,
                 piece: str = defaults.HANDOFF_PIECE, prefix_cache: bool = True, schedule: Schedule | None = None):
    """A live batch on engine v2 (provisional routing, :mod:`.session`) where the pair shares one
    tokenizer, else on the legacy engine; ``engine`` forces one ("v1" for side-by-side benchmarks)."""
    if engine not in ENGINES:
        raise R2RouteError(f"unknown engine: {engine} (use {', '.join(ENGINES)})")
    if engine == "v2" or (engine == "auto" and pair.handoff == "token"):
        return DecodeSession(pair, strategy, max_batch, schedule=schedule, prefix_cache=prefix_cache)
    return LegacySession(pair, strategy, max_batch, piece=piece, prefix_cache=prefix_cache)


class Engine:
    """Decode prompts with a pair and a routing strategy.

    >>> engine = Engine(pair, make_strategy("random", llm_share=0.2))
    >>> results, stats = engine.generate([prompt_ids], GenerationConfig(max_new_tokens=64))
    """

    def __init__(self, pair: ModelPair, strategy: Strategy, max_batch: int = defaults.MAX_BATCH, piece: str = defaults.HANDOFF_PIECE,
                 prefix_cache: bool = True, engine: str = defaults.ENGINE, schedule: Schedule | None = None):
        self.pair = pair
        self.prefix_cache = prefix_cache
        self.engine = engine
        self.schedule = schedule
        self.strategy = strategy
        self.max_batch = max_batch
        self.piece = piece
        self._session: DecodeSession | LegacySession | None = None

    def session(self) -> DecodeSession | LegacySession:
        """A fresh live batch (its own KV caches)."""
        return open_session(self.pair, self.strategy, self.max_batch, self.engine, self.piece, self.prefix_cache, self.schedule)

    def _idle_session(self) -> DecodeSession | LegacySession:
        # KV caches and llama.cpp contexts are big; calls reuse one session (a slot's cache is
        # reset when a request is admitted to it) with fresh statistics each time.
        if self._session is None or self._session.busy:
            self._session = self.session()
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
        sess = self._idle_session()
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
