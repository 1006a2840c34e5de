"""The waiting policy's expected cost per token against a simulation of the process it models."""

import random

import pytest

from r2route.engine.waiting import cost_per_token, optimal_wait


def simulate(k: int, batch: int, r: float, llm_over_slm: float, steps: int = 200_000, seed: int = 0) -> float:
    """The engine's schedule, step by step: running rows route with probability r, each step costs
    one SLM step; once k rows wait, one LLM call (cost L) gives the waiting rows their tokens."""
    rng = random.Random(seed)
    waiting = cost = tokens = 0
    for _ in range(steps):
        running = batch - waiting
        routed = sum(rng.random() < r for _ in range(running))
        cost += 1.0
        tokens += running - routed
        waiting += routed
        if waiting >= k:
            cost += llm_over_slm
            tokens += waiting
            waiting = 0
    return cost / tokens


@pytest.mark.parametrize("k, batch, r, ratio", [(1, 1, 0.2, 3.0), (2, 4, 0.1, 3.0), (4, 8, 0.15, 2.0), (3, 8, 0.3, 1.0)])
def test_cost_per_token_matches_a_simulation(k, batch, r, ratio):
    assert cost_per_token(k, batch, r, ratio) == pytest.approx(simulate(k, batch, r, ratio), rel=0.02)


def test_optimal_wait_is_the_simulated_best_and_its_edges():
    batch, r, ratio = 8, 0.1, 3.0
    best = optimal_wait(batch, r, ratio)
    sims = {k: simulate(k, batch, r, ratio, steps=60_000) for k in range(1, batch + 1)}
    assert sims[best] <= min(sims.values()) * 1.02
    assert 1 < best < batch  # waiting pays here, but not for the whole batch
    assert optimal_wait(1, 0.3, 3.0) == 1 and optimal_wait(8, 0.0, 3.0) == 1 and optimal_wait(8, 1.0, 3.0) == 8
