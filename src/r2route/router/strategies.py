"""Routing strategies: one small class each, behind one interface (after RouteLLM).

Each step the engine hands a strategy a :class:`StepView` of the SLM's proposals for the active rows;
the strategy answers, per row, whether the LLM should write that token instead, as a boolean tensor
on the logits' device: the decision is made where the logits are, and reaches the host in the
step's one copy together with the tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable

import torch

from .. import defaults
from ..draws import ROUTE_DRAW, uniform
from ..errors import R2RouteError
from .calibration import EntropyCalibration
from .features import normalized_entropy, topk_logit_features
from .folded import FoldedRouter
from .io import RouterBundle
from .model import members

STRATEGIES = ("slm", "llm", "neural", "entropy", "random")


@dataclass
class StepView:
    """What the SLM produced this step for ``n`` rows."""

    logits: torch.Tensor  # [n, V] float32: the SLM's next-token logits
    hidden: torch.Tensor | None  # [n, d]: the SLM's last-layer hidden state at that position
    tokens: torch.Tensor  # [n]: the SLM's proposed tokens
    embed: Callable[[torch.Tensor], torch.Tensor]  # SLM input-embedding lookup
    seeds: torch.Tensor  # [n] int64: each row's seed, keying its routing draw (random routing)
    positions: torch.Tensor  # [n] int64: the position each proposed token is for


class Strategy(ABC):
    """Decides per row whether a token goes to the LLM. A strategy's settings (a threshold, a
    share) are fixed once it decodes: a runner that captures the step keeps them as constants."""

    name: str = ""
    #: False when the SLM's proposals are never used (LLM-only decoding skips the SLM entirely).
    needs_slm: bool = True
    #: Whether ``decide`` is pure tensor work on the device, which a CUDA graph can capture (no
    #: host copies, no Python-side effects). Off unless a strategy says so.
    graphable: bool = False

    @abstractmethod
    def decide(self, view: StepView) -> torch.Tensor:
        """[n] bool on the logits' device: True for each row whose token the LLM should write."""

    def describe(self) -> dict:
        return {"strategy": self.name}


class SLMOnly(Strategy):
    name = "slm"
    graphable = True

    def decide(self, view: StepView) -> torch.Tensor:
        return torch.zeros(view.tokens.shape[0], dtype=torch.bool, device=view.logits.device)


class LLMOnly(Strategy):
    name = "llm"
    graphable = True
    needs_slm = False

    def decide(self, view: StepView) -> torch.Tensor:
        return torch.ones(view.tokens.shape[0], dtype=torch.bool, device=view.logits.device)


class ScoreStrategy(Strategy):
    """Route where a score reaches the threshold; a higher score means a riskier SLM token."""

    graphable = True

    def __init__(self, threshold: float):
        self.threshold = float(threshold)

    @abstractmethod
    def scores(self, view: StepView) -> torch.Tensor:
        """One score per row."""

    def decide(self, view: StepView) -> torch.Tensor:
        return self.scores(view) >= self.threshold

    def describe(self) -> dict:
        return {"strategy": self.name, "threshold": self.threshold}


class EntropyStrategy(ScoreStrategy):
    """Route when the SLM is unsure: normalised entropy H/ln(V) of its next-token distribution.

    ``calibration``, if any, gives thresholds for target shares (the server reads it for a
    request's ``llm_share``) and names the pair they hold for, checked once the pair loads;
    ``llm_share`` is the share the threshold was taken for, if it was."""

    name = "entropy"

    def __init__(self, threshold: float, calibration: EntropyCalibration | None = None, llm_share: float | None = None):
        super().__init__(threshold)
        self.calibration, self.llm_share = calibration, llm_share

    def scores(self, view: StepView) -> torch.Tensor:
        return normalized_entropy(view.logits)

    def describe(self) -> dict:
        if self.llm_share is None:
            return super().describe()
        return super().describe() | {"llm_share": self.llm_share, "calibration": self.calibration.source}


class NeuralStrategy(ScoreStrategy):
    """R2R's router: a small MLP over SLM features predicts whether the token is divergent (an
    ensemble scores by its members' mean logit, folded into one set of ops)."""

    name = "neural"

    def __init__(self, bundle: RouterBundle, threshold: float):
        super().__init__(threshold)
        self.bundle = bundle
        self.model = bundle.model
        self.scorer = FoldedRouter(bundle.model.eval())

    @torch.inference_mode()
    def scores(self, view: StepView) -> torch.Tensor:
        cfg = self.model.cfg
        if self.scorer.device != view.logits.device:  # folded where the router was loaded, then moved
            self.scorer = self.scorer.to(view.logits.device)
        return torch.sigmoid(self.scorer(view.hidden if "hidden" in cfg.features else None, view.tokens, view.embed,
                                         topk_logit_features(view.logits, cfg.top_k, cfg.logits_ref) if "logits" in cfg.features else None))


class RandomStrategy(Strategy):
    """Route each token with probability ``p``: a counter-based draw of the row's seed and the token's
    position (so a row's decisions depend on nothing else, and a rolled-back position draws again
    the same number)."""

    name = "random"
    graphable = True

    def __init__(self, p: float):
        self.p = float(p)

    def decide(self, view: StepView) -> torch.Tensor:
        return uniform(view.seeds, view.positions, ROUTE_DRAW) < self.p

    def describe(self) -> dict:
        return {"strategy": self.name, "p": self.p}


def _unit(name: str, value: float) -> float:
    if not (0.0 <= value <= 1.0):
        raise R2RouteError(f"{name} must be in [0, 1], got {value}")
    return value


def make_strategy(
    name: str,
    threshold: float | None = None,
    llm_share: float | None = None,
    router: RouterBundle | None = None,
    calibration: EntropyCalibration | None = None,
) -> Strategy:
    """Build a strategy from CLI-level settings; bad combinations are one-line errors.

    ``entropy`` routes at ``threshold``, else at ``calibration``'s threshold for ``llm_share``
    (``defaults.ENTROPY_LLM_SHARE`` if none is given), else at ``defaults.ENTROPY_THRESHOLD``;
    the other strategies do not read ``calibration``."""
    if name not in STRATEGIES:
        raise R2RouteError(f"unknown strategy: {name} (use {', '.join(STRATEGIES)})")
    if threshold is not None:
        _unit("--threshold", threshold)
    if llm_share is not None:
        _unit("--llm-share", llm_share)
    if threshold is not None and llm_share is not None:
        raise R2RouteError("give --threshold or --llm-share, not both")
    if name == "slm":
        return SLMOnly()
    if name == "llm":
        return LLMOnly()
    if name == "random":
        if threshold is not None:
            raise R2RouteError("--strategy random takes --llm-share (the routing probability), not --threshold")
        return RandomStrategy(defaults.RANDOM_LLM_SHARE if llm_share is None else llm_share)
    if name == "entropy":
        if calibration is None:
            if llm_share is not None:
                raise R2RouteError("--llm-share with --strategy entropy needs a calibration: make one with r2route calibrate and "
                                   "give it with --calibration (preset pairs ship one), or give a --threshold")
            return EntropyStrategy(defaults.ENTROPY_THRESHOLD if threshold is None else threshold)
        if threshold is not None:
            return EntropyStrategy(threshold, calibration)
        share = defaults.ENTROPY_LLM_SHARE if llm_share is None else llm_share
        return EntropyStrategy(calibration.threshold_for_share(share), calibration, share)
    if router is None:
        raise R2RouteError("--strategy neural needs a trained router: --router PATH")
    if llm_share is not None:
        threshold = router.threshold_for_share(llm_share)
    return NeuralStrategy(router, router.threshold if threshold is None else threshold)

