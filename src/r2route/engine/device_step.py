"""The SLM step's work on the device after its forward: next tokens and routing decisions.

:class:`SLMStep` is a pure function of the SLM's hidden states and logits and of the rows' draw
settings; it ends with one small tensor ``[2, n]`` (tokens, decisions) for the step's copy to the
host. Being pure and hashable (by the strategy and the sampling switches), it is also what a
graph-capturing runner captures once per shape and replays (:mod:`.graphs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..draws import SLM_DRAW
from ..router.strategies import StepView, Strategy
from .sampling import Draws
from .stats import Timer
from .threads import single_thread
from .transfer import to_device


@dataclass(frozen=True)
class SLMStep:
    vocab: int  # logits past it are ids the LLM lacks (token handoff): never chosen
    strategy: Strategy
    embed: Callable[[torch.Tensor], torch.Tensor] = field(compare=False)
    # the rows' sampler switches (the draws the step is given carry the same): part of what a
    # captured step is keyed by
    sampling: bool = False  # some row samples
    cut: bool = False  # some row cuts its distribution to top-p
    timer: Timer | None = field(default=None, compare=False)  # times the router (eager steps only)
    # a runner may capture this step (pure device work, a strategy that lives as long as the
    # session: per-request strategies would each capture graphs of their own)
    capture: bool = field(default=False, compare=False)

    def __call__(self, hidden: torch.Tensor | None, logits: torch.Tensor, draws: Draws) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(tokens and decisions [2, n], the distributions drawn from [n, V] where some row samples)."""
        logits = logits[:, : self.vocab]
        tokens, probs = draws.pick(logits, SLM_DRAW)
        view = StepView(logits, hidden, tokens, self.embed, draws.seed, draws.position)
        with self.timer or _untimed(), single_thread(logits.device.type == "cpu"):
            routed = self.strategy.decide(view)
        return torch.stack([tokens, routed.long()]), probs


class MixedStrategy(Strategy):
    """Rows of one step routed by different strategies (per-request overrides): each group of rows
    sharing a strategy is decided in one call. Its index tensors come from the host, so a runner
    does not capture a step that uses it."""

    name = "mixed"
    graphable = False

    def __init__(self, per_row: list[Strategy]):
        groups: dict[int, list[int]] = {}
        for i, s in enumerate(per_row):
            groups.setdefault(id(s), []).append(i)
        self.groups = [(per_row[idx[0]], idx) for idx in groups.values()]
        self.n = len(per_row)

    def decide(self, view: StepView) -> torch.Tensor:
        device = view.logits.device
        routed = torch.zeros(self.n, dtype=torch.bool, device=device)
        for strategy, idx in self.groups:
            sel = to_device(idx, device)
            part = StepView(view.logits[sel], None if view.hidden is None else view.hidden[sel], view.tokens[sel], view.embed,
                            view.seeds[sel], view.positions[sel])
            routed[sel] = strategy.decide(part)
        return routed


def step_strategy(strategies: list[Strategy]) -> Strategy:
    """The one strategy of a step's rows, or a :class:`MixedStrategy` of theirs."""
    first = strategies[0]
    return first if all(s is first for s in strategies) else MixedStrategy(strategies)


class _untimed:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
