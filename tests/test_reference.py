"""Random routing equals recomputing both models from scratch at every step, for every pair kind:
one vocabulary on each transformers runner (token handoff), and two tokenizers (text handoff)."""

import pytest

from r2route.engine import Engine, GenerationConfig
from r2route.router import make_strategy

from . import test_cross, test_engine


@pytest.fixture(scope="module")
def cross():
    from r2route.pair import PairConfig, load_pair

    return load_pair(PairConfig(pair="tiny-cross", device="cpu"))


KINDS = {  # kind → (runner, whether the pair hands text over)
    "token/eager": ("eager", False),
    "token/static": ("static", False),
    "text": ("eager", True),
}


@pytest.mark.parametrize("p", [0.1, 0.3, 0.7])
@pytest.mark.parametrize("kind", list(KINDS))
def test_random_routing_equals_the_no_cache_reference(request, pair, prompts, kind, p):
    runner, text = KINDS[kind]
    if text:
        pair = request.getfixturevalue("cross")
        prompts = [pair.encode(q) for q in test_cross.QUESTIONS]
        n, reference = test_cross.N, lambda prompt: test_cross.reference_cross(pair, prompt, p, seed=7)
    else:
        n, reference = test_engine.N, lambda prompt: test_engine.reference_mixed(pair, prompt, p, seed=7)
    results, stats = Engine(pair, make_strategy("random", llm_share=p), runner=runner).generate(
        prompts, GenerationConfig(max_new_tokens=n, ignore_eos=True, seed=7))
    for prompt, r in zip(prompts, results):
        out, by_llm = reference(prompt)
        assert r.by_llm == by_llm
        assert (r.text if text else r.token_ids) == out
    assert 0 < stats.llm_tokens < stats.tokens
    if text:
        assert stats.handoff_mismatches == 0
    else:  # the LLM was fed each prompt and the tokens up to its last routed position, plus at most
        # the provisional tokens a rollback dropped after it had read them
        assert stats.llm_tokens_fed <= sum(len(x) + n for x in prompts) + stats.wasted_slm_tokens
