"""Counter-based random numbers: a draw is a pure function of (seed, position, stream).

Every random choice the engine makes (a sampled token, a random routing decision, the speculative
rule's accept test and its residual draw) takes one uniform number keyed by the request's seed, the
token position it is made for, and a stream id naming the kind of choice. Nothing is drawn from a
running generator, so:

- a row that rolls back and decodes a position again draws the same number;
- a row's draws do not depend on its batch-mates, on the batch size or on the schedule;
- the numbers are computed on whatever device holds the seeds and positions, as tensor ops, with
  no generator object per row and no copy to the host.

The hash is lowbias32 (C. Wellons, "Prospecting for hash functions"), chained over the seed's two
32-bit halves, the position and the stream. It is written in int64 tensor ops whose products stay
below 2^63, so no kernel relies on signed overflow.
"""

from __future__ import annotations

import torch

# The random streams of one position.
SLM_DRAW, LLM_DRAW, ROUTE_DRAW, ACCEPT_DRAW, RESIDUAL_DRAW = range(5)

_M32 = 0xFFFFFFFF


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """(x · c) mod 2^32 for x in [0, 2^32): c is split in 16-bit halves so no product reaches 2^63."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash32(seed: torch.Tensor, position: torch.Tensor, stream: int) -> torch.Tensor:
    """A 32-bit hash (as int64 in [0, 2^32)) of each (seed, position) pair and ``stream``."""
    seed = seed.long()
    h = _mix(seed & _M32)
    h = _mix(h ^ ((seed >> 32) & _M32))
    h = _mix(h ^ (position.long() & _M32))
    return _mix(h ^ (stream & _M32))


def uniform(seed: torch.Tensor, position: torch.Tensor, stream: int) -> torch.Tensor:
    """One float32 in [0, 1) per (seed, position): the top 24 bits of the hash, exactly representable."""
    return (hash32(seed, position, stream) >> 8).float() * (1.0 / (1 << 24))


def uniform_at(seed: int, position: int, stream: int) -> float:
    """The same draw for one Python (seed, position): what references and tests compute by hand."""
    return float(uniform(torch.tensor([seed]), torch.tensor([position]), stream)[0])
