"""Counter-based draws and the vectorized sampler: keyed, uniform, independent, and sampling the
distribution it is given."""

import math

import pytest
import torch

from r2route.draws import LLM_DRAW, ROUTE_DRAW, SLM_DRAW, hash32, uniform, uniform_at
from r2route.engine.sampling import distribution, distributions, draw, sample


def chi2(u: torch.Tensor, bins: int) -> float:
    counts = torch.histc(u, bins, 0, 1)
    e = len(u) / bins
    return float(((counts - e) ** 2 / e).sum())


def test_a_draw_depends_on_its_key_and_nothing_else():
    a = uniform(torch.tensor([5, 5, 5, 6]), torch.tensor([40, 41, 40, 40]), SLM_DRAW)
    again = uniform(torch.tensor([6, 5]), torch.tensor([40, 40]), SLM_DRAW)  # other rows, other order
    assert a[0] == again[1] == a[2] and a[3] == again[0]
    assert len({float(a[0]), float(a[1]), float(a[3])}) == 3  # position and seed each change it
    assert uniform_at(5, 40, SLM_DRAW) == float(a[0])
    assert uniform_at(5, 40, ROUTE_DRAW) != uniform_at(5, 40, SLM_DRAW) != uniform_at(5, 40, LLM_DRAW)


def test_hash_stays_in_32_bits_for_any_seed():
    seeds = torch.tensor([0, 1, -1, 2**31, 2**32 + 7, 2**62, -(2**62)])
    h = hash32(seeds, torch.arange(7), 3)
    assert bool((h >= 0).all()) and bool((h < 2**32).all())
    assert len(set(hash32(torch.tensor([3, 3 + 2**32]), torch.tensor([9, 9]), 0).tolist())) == 2  # the high half counts


@pytest.mark.parametrize("seed, stream", [(0, SLM_DRAW), (7, ROUTE_DRAW), (123456789, LLM_DRAW)])
def test_draws_along_positions_are_uniform(seed, stream):
    n = 100_000
    u = uniform(torch.full((n,), seed), torch.arange(n), stream)
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0
    # 50 bins: chi-square with 49 degrees of freedom exceeds 85 with probability ~1e-3
    assert chi2(u, 50) < 85
    # consecutive positions are not correlated (a 10 x 10 table of pairs, 99 dof: 1e-3 level ~149)
    a, b = (u[:-1] * 10).long(), (u[1:] * 10).long()
    pairs = torch.bincount(a * 10 + b, minlength=100).float()
    e = pairs.sum() / 100
    assert float(((pairs - e) ** 2 / e).sum()) < 149


def test_draws_across_seeds_and_streams_are_independent():
    n = 50_000
    pos = torch.full((n,), 40)
    u = uniform(torch.arange(n), pos, SLM_DRAW)
    v = uniform(torch.arange(n), pos, ROUTE_DRAW)
    assert chi2(u, 50) < 85
    assert abs(float(torch.corrcoef(torch.stack([u, v]))[0, 1])) < 4 / math.sqrt(n)


def test_inverse_cdf_draw_follows_the_distribution():
    p = torch.tensor([0.5, 0.0, 0.2, 0.3])
    n = 40_000
    u = uniform(torch.zeros(n, dtype=torch.long), torch.arange(n), SLM_DRAW)
    tokens = draw(p.expand(n, 4), u)
    freq = torch.bincount(tokens, minlength=4).float() / n
    assert freq[1] == 0  # a zero-probability token is never drawn
    assert float((freq - p).abs().max()) < 0.01
    assert int(draw(p[None], torch.tensor([0.999999]))[0]) == 3  # the top of the range lands on the last token
    # u · Σp rounding up to Σp lands on the last token that has probability, not past the support
    assert int(draw(torch.tensor([[0.5, 0.5, 0.0, 0.0]]), torch.tensor([1.0]))[0]) == 1


def test_vectorized_distributions_match_one_row_at_a_time():
    torch.manual_seed(0)
    logits = torch.randn(3, 50) * 3
    temp, top_p = torch.tensor([0.7, 1.3, 0.0]), torch.tensor([0.9, 1.0, 0.5])
    probs = distributions(logits, temp, top_p, True)
    for i in range(2):
        torch.testing.assert_close(probs[i], distribution(logits[i], float(temp[i]), float(top_p[i])))
    assert torch.allclose(probs.sum(-1), torch.ones(3))
    kept = probs[0] > 0  # top-p keeps the smallest prefix reaching the mass
    assert float(torch.softmax(logits[0] / 0.7, -1)[kept].sum()) >= 0.9
    tokens, _ = sample(logits, temp, top_p, torch.tensor([0.3, 0.6, 0.9]), True)
    assert int(tokens[2]) == int(logits[2].argmax())  # temperature 0 is greedy, whatever u
