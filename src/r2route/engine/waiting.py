"""How many routed rows to wait for before calling the LLM.

Under batching an LLM call costs about the same for one row as for several (its fixed cost:
weight reads, kernel launches, Python), while every token reaches the LLM's KV cache eventually
whatever the schedule. Waiting for k routed rows saves LLM calls but idles the waiting rows, so
the SLM takes more steps. Model one cycle (from no row waiting to the LLM call) as a Markov chain
on the number w of waiting rows: each step the B − w running rows each route with probability r,
the step costs S and yields the tokens of the rows that were not routed; once k rows wait, one
LLM call costs L and yields their k tokens. The k with the least expected cost per token wins.
"""

from __future__ import annotations

import math
from functools import lru_cache


def _binom(n: int, r: float) -> list[float]:
    return [math.comb(n, b) * r**b * (1 - r) ** (n - b) for b in range(n + 1)]


def cost_per_token(k: int, batch: int, r: float, llm_over_slm: float) -> float:
    """Expected cost per token (in SLM steps) of calling the LLM once ``k`` rows wait."""
    cost = [0.0] * k  # expected remaining cost of the cycle from w waiting rows
    toks = [0.0] * k  # expected remaining tokens of the cycle
    for w in range(k - 1, -1, -1):
        m = batch - w
        p = _binom(m, r)
        c = 1.0  # this SLM step
        t = 0.0
        for b in range(1, m + 1):
            t += p[b] * (m - b)
            if w + b >= k:
                c += p[b] * llm_over_slm
                t += p[b] * (w + b)
            else:
                c += p[b] * cost[w + b]
                t += p[b] * toks[w + b]
        stay = p[0]  # nobody routed: m SLM tokens, same state
        if stay >= 1.0:
            return float("inf")
        cost[w] = c / (1 - stay)
        toks[w] = (t + stay * m) / (1 - stay)
    return cost[0] / toks[0] if toks[0] > 0 else float("inf")


@lru_cache(maxsize=4096)
def optimal_wait(batch: int, r: float, llm_over_slm: float) -> int:
    """The k in 1..batch with the least expected cost per token (inputs rounded by the caller)."""
    if batch <= 1 or r <= 0.0:
        return 1
    if r >= 1.0:
        return batch
    return min(range(1, batch + 1), key=lambda k: cost_per_token(k, batch, r, llm_over_slm))
