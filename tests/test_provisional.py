"""Provisional routing: flagged rows write on, the LLM checks later, a rejected position
rolls the row back. Whatever the schedule, the tokens must be exactly those of routing each flagged
token to the LLM at once (the no-cache reference), and only final tokens may be streamed."""

import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.engine.schedule import Schedule
from r2route.router import make_strategy

from .conftest import QUESTIONS
from .test_engine import N, reference_mixed

IMMEDIATE = Schedule(max_age=0, rows_fraction=1e-9)  # the LLM runs in the step a token is flagged
LATE = Schedule(max_age=12, rows_fraction=1.0)  # only when every row has a pending position, or 12 steps on


def prompts_for(pair, n):
    return [pair.encode(f"{QUESTIONS[i % len(QUESTIONS)]} ({i})", chat=False) for i in range(n)]


@pytest.mark.parametrize("batch", [1, 4, 8])
@pytest.mark.parametrize("share", [0.1, 0.3, 0.7])
def test_late_checks_give_the_reference_tokens(pair, batch, share):
    prompts = prompts_for(pair, batch)
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=7)
    results, stats = Engine(pair, make_strategy("random", llm_share=share), max_batch=batch, schedule=LATE).generate(prompts, cfg)
    for prompt, r in zip(prompts, results):
        ref_tokens, ref_routes = reference_mixed(pair, prompt, share, seed=7)
        assert r.token_ids == ref_tokens
        assert r.by_llm == ref_routes
    if batch > 1:  # rows did write on past flagged tokens, and some of that was undone
        assert stats.rollbacks > 0 and stats.wasted_slm_tokens > 0
        assert stats.llm_calls < sum(sum(r.by_llm) for r in results)  # one call served several flagged tokens


def test_the_schedule_changes_cost_not_tokens(pair):
    prompts = prompts_for(pair, 6)
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=3, temperature=0.9, top_p=0.95)
    strat = make_strategy("random", llm_share=0.3)
    now, s_now = Engine(pair, strat, max_batch=6, schedule=IMMEDIATE).generate(prompts, cfg)
    late, s_late = Engine(pair, strat, max_batch=6, schedule=LATE).generate(prompts, cfg)
    assert [r.token_ids for r in now] == [r.token_ids for r in late]  # sampling too: draws are seeded by position
    assert s_now.rollbacks == 0 == s_now.wasted_slm_tokens  # nothing is provisional when the LLM runs at once
    assert s_late.llm_calls < s_now.llm_calls


def test_only_final_tokens_are_streamed(pair):
    prompts = prompts_for(pair, 5)
    out: dict = {}
    engine = Engine(pair, make_strategy("random", llm_share=0.4), max_batch=5, schedule=LATE)
    events = list(engine.stream(prompts, GenerationConfig(max_new_tokens=N, seed=2), out))
    assert out["batch"].rollbacks > 0
    for i in range(len(prompts)):
        mine = [e for e in events if e.request == i]
        assert [e.token for e in mine] == out[i].token_ids  # a rolled-back token never reached the stream
        assert "".join(e.text for e in mine) == out[i].text


def test_a_row_is_independent_of_its_batch_mates(pair):
    prompts = prompts_for(pair, 8)
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=5)
    strat = make_strategy("random", llm_share=0.3)
    together, _ = Engine(pair, strat, max_batch=8).generate(prompts, cfg)
    for p, r in zip(prompts[:3], together):
        alone, _ = Engine(pair, strat, max_batch=1).generate([p], cfg)
        assert alone[0].token_ids == r.token_ids and alone[0].by_llm == r.by_llm


def test_a_cache_fed_another_sequence_is_caught(pair):
    from r2route.engine.runners import make_runner

    runner = make_runner(pair.llm, 1)
    runner.catch_up([0], [[1, 2, 3, 4]])
    with pytest.raises(RuntimeError, match="cache holds 4 tokens"):
        runner.catch_up([0], [[1, 2, 9, 4, 5]])
    runner.truncate(0, 2)
    _, logits = runner.catch_up([0], [[1, 2, 9, 4, 5]])  # after a rollback to the shared prefix it is fine
    assert logits.shape[0] == 1 and torch.isfinite(logits).all()
