"""Verified routing: under ``verify all`` the LLM checks every SLM token since its last
call. Greedy at margin 0 it is lossless (the LLM's greedy text, token for token); with sampling the
speculative rule makes the output the LLM's distribution; a margin trades exactness for SLM tokens."""

import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.engine.sampling import distribution
from r2route.engine.verify import speculative
from r2route.router import make_strategy

from .test_engine import N, hf_greedy


def gen(**kw):
    return GenerationConfig(max_new_tokens=N, ignore_eos=True, verify="all", **kw)


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("strategy, draft", [("slm", 4), ("slm", 1), ("random", 8), ("entropy", 6)])
def test_verify_all_greedy_is_the_llms_greedy_text(pair, prompts, batch, strategy, draft):
    kw = {"llm_share": 0.2} if strategy == "random" else ({"threshold": 0.9} if strategy == "entropy" else {})
    results, stats = Engine(pair, make_strategy(strategy, **kw), max_batch=batch).generate(prompts[:batch], gen(max_draft=draft, seed=3))
    for p, r in zip(prompts, results):
        assert r.token_ids == hf_greedy(pair.llm.model, p)
    assert stats.llm_calls < stats.tokens  # each LLM call settled more than one token
    assert 0 < stats.llm_tokens < stats.tokens  # some SLM tokens stood, some were replaced


def test_a_wide_margin_keeps_every_slm_token(pair, prompts):
    """With a margin no log-probability gap reaches, every draft token stands and the LLM writes
    only the token after each full draft: 4 SLM tokens, then 1 LLM token, from a no-cache reference."""
    from .test_engine import argmax_next

    loose, s_loose = Engine(pair, make_strategy("slm"), max_batch=2).generate(prompts[:2], gen(max_draft=4, accept_margin=1e6))
    for p, r in zip(prompts, loose):
        seq = list(p)
        while len(seq) - len(p) < N:
            seq.append(argmax_next((pair.slm if (len(seq) - len(p)) % 5 < 4 else pair.llm).model, seq))
        assert r.token_ids == seq[len(p):]
        assert r.by_llm == [(i % 5) == 4 for i in range(N)]
    assert s_loose.rollbacks == 0
    exact, s_exact = Engine(pair, make_strategy("slm"), max_batch=2).generate(prompts[:2], gen(max_draft=4))
    assert s_exact.llm_tokens > s_loose.llm_tokens  # at margin 0 the LLM replaces what it disagrees with


def test_speculative_rule_samples_the_target_distribution():
    """The rule alone, on a 6-token vocabulary: whatever the draft distribution q, what comes out
    is distributed as p (uniforms from torch's own generator, so the rule is tested apart from the
    engine's draws)."""
    p = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    q = torch.tensor([0.05, 0.1, 0.5, 0.05, 0.2, 0.1])
    n = 20000
    g = torch.Generator().manual_seed(0)
    x = torch.multinomial(q, n, replacement=True, generator=g)
    accepted, out = speculative(p.expand(n, 6), q.expand(n, 6), x, torch.rand(n, generator=g), torch.rand(n, generator=g))
    counts = torch.bincount(out, minlength=6).float()
    tv = 0.5 * (counts / n - p).abs().sum().item()
    assert tv < 0.015, tv
    assert 0.5 * (q - p).abs().sum().item() > 0.3  # the draft alone is far from p: the rule did the work
    assert 0.3 < accepted.float().mean() < 0.9  # both branches of the rule ran


def test_verify_all_with_sampling_draws_the_llms_first_token(pair, prompts):
    """Engine level: many seeds, one prompt; the first generated token's frequencies match the
    LLM's own distribution (and not the SLM's) within sampling noise."""
    temp, n = 0.15, 1200  # concentrated enough (perplexity ~6) for 1,200 draws to tell p from q
    prompt = prompts[1]
    with torch.no_grad():
        p = distribution(pair.llm.model(torch.tensor([prompt])).logits[0, -1], temp, 1.0)
        q = distribution(pair.slm.model(torch.tensor([prompt])).logits[0, -1], temp, 1.0)
    engine = Engine(pair, make_strategy("slm"), max_batch=8)
    firsts = []
    for lo in range(0, n, 8):
        gens = [GenerationConfig(max_new_tokens=1, ignore_eos=True, verify="all", max_draft=1, temperature=temp, seed=s) for s in range(lo, lo + 8)]
        results, _ = engine.generate([prompt] * 8, gens)
        firsts += [r.token_ids[0] for r in results]
    emp = torch.bincount(torch.tensor(firsts), minlength=len(p)).float() / n
    tv_p = 0.5 * (emp - p).abs().sum().item()
    # the noise floor: the TV of n draws straight from p, over 20 repeats
    floor = max(0.5 * (torch.bincount(torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(k)),
                                      minlength=len(p)).float() / n - p).abs().sum().item() for k in range(20))
    assert tv_p <= floor * 1.25, (tv_p, floor)
    assert 0.5 * (emp - q).abs().sum().item() > 2 * floor  # the SLM's distribution is not what came out
