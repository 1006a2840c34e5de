"""What a generation cost: per request and per batch."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch


class _Rates:
    """LLM share and throughput, from ``tokens``, ``llm_tokens`` and ``seconds``."""

    @property
    def llm_share(self) -> float:
        return self.llm_tokens / self.tokens if self.tokens else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RequestStats(_Rates):
    """Counts and times of one request. ``avg_params`` is R2R's average activated parameters."""

    tokens: int = 0
    llm_tokens: int = 0
    prompt_tokens: int = 0
    seconds: float = 0.0
    ttft: float = 0.0
    router_seconds: float = 0.0
    slm_params: int = 0
    llm_params: int = 0
    wasted_slm_tokens: int = 0  # SLM tokens written and then dropped by a rollback
    llm_calls: int = 0  # LLM forwards that served this request
    rollbacks: int = 0

    @property
    def avg_params(self) -> float:
        """(n_slm·P_slm + n_llm·P_llm) / n over the generated tokens."""
        if not self.tokens:
            return 0.0
        return ((self.tokens - self.llm_tokens) * self.slm_params + self.llm_tokens * self.llm_params) / self.tokens

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(llm_share=self.llm_share, avg_params=self.avg_params, tokens_per_s=self.tokens_per_s)
        return d


@dataclass
class BatchStats(_Rates):
    """Totals over one call of the engine, including how hard each model worked."""

    requests: int = 0
    tokens: int = 0
    llm_tokens: int = 0
    seconds: float = 0.0
    router_seconds: float = 0.0
    slm_calls: int = 0
    llm_calls: int = 0
    slm_tokens_fed: int = 0
    llm_tokens_fed: int = 0
    steps: int = 0
    handoff_mismatches: int = 0  # text handoffs the tokenizer could not reproduce exactly
    rollbacks: int = 0  # checked positions where the LLM wrote another token and the SLM had written on after it
    wasted_slm_tokens: int = 0  # SLM tokens written after such a position and dropped
    refed_tokens: int = 0  # tokens invariant llama.cpp runners fed again to rebuild a full buffer (both models)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(llm_share=self.llm_share, tokens_per_s=self.tokens_per_s)
        return d


class Timer:
    """Accumulates the time of a block of device work. On CUDA it records events around the block
    and reads those that have completed when asked (the step's copy to the host waits for them
    anyway), so timing adds no synchronisation; on the CPU the work is done when the block ends."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self._seconds = 0.0
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    def __enter__(self):
        if self.cuda:
            self._events.append((torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)))
            self._events[-1][0].record()
        else:
            self._t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self._events[-1][1].record()
        else:
            self._seconds += time.perf_counter() - self._t

    @property
    def seconds(self) -> float:
        """Total time of the blocks whose work has finished (on CUDA: those whose end event has
        been reached; the step's copy to the host waits for them, so after it that is all)."""
        while self._events and self._events[0][1].query():
            start, end = self._events.pop(0)
            self._seconds += start.elapsed_time(end) / 1000.0
        return self._seconds
