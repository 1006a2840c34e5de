"""Thresholds that make each routed method send a target share of tokens to the LLM.

Every routed method is calibrated the same way, on records the evaluation never scores: the SLM
decodes them greedily on its own while a recorder collects each method's score at every step,
and a method's threshold for share s is the score that s of those tokens reach. Mixed decoding
then follows slightly different trajectories, so the share a run *measures* is reported beside
the target. The query-level baseline scores a whole query by the SLM's mean normalised entropy
over its first ``probe_tokens`` tokens and routes the queries whose score is in the top share.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..engine import Engine, GenerationConfig
from ..errors import R2RouteError
from ..router.strategies import EntropyStrategy, ScoreStrategy, StepView, Strategy
from ..training.curves import threshold_for_share


class ScoreRecorder(Strategy):
    """Never routes; records every step's scores of the given score strategies (pooled over rows)."""

    name = "record"

    def __init__(self, scorers: dict[str, ScoreStrategy]):
        self.scorers = scorers
        self.scores: dict[str, list[float]] = {k: [] for k in scorers}

    def decide(self, view: StepView):
        # Kept as Python floats, not as a small tensor per step: each step frees megabytes of
        # logits-sized temporaries, and a long-lived small malloc'd block placed in one of those
        # holes stops glibc from reusing it, so the heap grew by about a logits row per token
        # (780 MB over 1,536 calibration tokens of the default pair, entropy scorer).
        for k, s in self.scorers.items():
            self.scores[k].extend(s.scores(view).float().cpu().tolist())
        return torch.zeros(view.tokens.shape[0], dtype=torch.bool, device=view.logits.device)

    def pooled(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float32) for k, v in self.scores.items()}


def probe_score(engine: Engine, prompt, probe_tokens: int) -> float:
    """The query-level router's score of one prompt: the SLM's mean entropy over its first tokens
    (one prompt per call, so every recorded step is this prompt's)."""
    rec = ScoreRecorder({"entropy": EntropyStrategy(0.0)})
    engine.generate([prompt], GenerationConfig(max_new_tokens=probe_tokens), strategy=rec)
    values = rec.pooled()["entropy"]
    return float(values.mean()) if len(values) else 0.0


def token_thresholds(engine: Engine, prompts: list, scorers: dict[str, ScoreStrategy], shares: list[float],
                     max_new_tokens: int, progress: bool = True) -> dict:
    """Per scorer, {share: threshold} from the SLM's own greedy decoding of ``prompts``."""
    rec = ScoreRecorder(scorers)
    with tqdm(total=len(prompts), desc="calibration (SLM decoding)", unit="query", disable=not progress, leave=False) as bar:
        for ev in engine.stream(prompts, GenerationConfig(max_new_tokens=max_new_tokens), strategy=rec):
            if ev.done:
                bar.update(1)
    pooled = rec.pooled()
    if not len(next(iter(pooled.values()), [])):
        raise R2RouteError("calibration decoded no tokens")
    return {name: {str(s): threshold_for_share(v, s) for s in shares} for name, v in pooled.items()} | {
        "tokens": int(len(next(iter(pooled.values())))) if pooled else 0}


def query_thresholds(scores: list[float], shares: list[float]) -> dict:
    """{share: threshold} over per-query probe scores."""
    return {str(s): threshold_for_share(np.asarray(scores), s) for s in shares}
