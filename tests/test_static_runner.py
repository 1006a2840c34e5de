"""The static runner (a cache allocated once, r2route's own forward) and the graph runner (its
bucketed, padded steps; run here without capture) against the no-cache references.

Every routing mode decoded on either runner must give, token for token, what recomputing both
models from scratch at every step gives (fp32, tiny pair), in batches with rollbacks and with rows
of very different lengths, and a row alone must equal the same row in a batch of 8."""

import functools

import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.engine.runners import RUNNERS, make_runner, resolve_runner
from r2route.errors import R2RouteError
from r2route.router import make_strategy
from r2route.router.strategies import StepView

from .conftest import QUESTIONS
from .runner_checks import check_runner
from .test_engine import argmax_next, hf_greedy, tiny_router

N = 24
STATIC = "static"


@pytest.fixture(params=["static", "graph"])
def runner(request):
    return request.param


@pytest.fixture(scope="module")
def ragged(pair):
    """Eight prompts from 3 to ~250 tokens."""
    texts = [QUESTIONS[i % len(QUESTIONS)] * (1 + 4 * (i == 5)) + f" ({i})" for i in range(8)]
    out = [pair.encode(t, chat=False) for t in texts]
    out[2] = out[2][:3]
    return out


def strategies(pair):
    return {
        "slm": make_strategy("slm"),
        "llm": make_strategy("llm"),
        "random": make_strategy("random", llm_share=0.3),
        "entropy": make_strategy("entropy", threshold=0.93),
        "neural": make_strategy("neural", threshold=0.5, router=tiny_router(pair)),
    }


def reference(pair, prompt, strategy, seed, n=N):
    """Routing without caches: at every step the SLM re-reads the text, the strategy decides on
    its state, and a routed token is the LLM's argmax over the same text."""
    seq = list(prompt)
    by_llm = []
    for _ in range(n):
        with torch.no_grad():
            out = pair.slm.model(torch.tensor([seq]), output_hidden_states=True)
        logits, hidden = out.logits[0, -1:].float(), out.hidden_states[-1][0, -1:]
        tok = logits.argmax(-1)
        view = StepView(logits, hidden, tok, pair.slm.embed, torch.tensor([seed]), torch.tensor([len(seq)]))
        routed = not strategy.needs_slm or bool(strategy.decide(view)[0])
        seq.append(argmax_next(pair.llm.model, seq) if routed else int(tok))
        by_llm.append(routed)
    return seq[len(prompt):], by_llm


@pytest.fixture(scope="module")
def expected(pair, ragged):
    """The reference tokens (and routing) of prompt i, computed once per (strategy, verify, i)."""

    @functools.cache
    def get(name, i, verify):
        if verify == "all" or name == "llm":  # verified greedy at margin 0 is the LLM's greedy text
            return hf_greedy(pair.llm.model, ragged[i], N), None
        return reference(pair, ragged[i], strategies(pair)[name], seed=i)

    return get


@pytest.mark.parametrize("verify", ["none", "all"])
@pytest.mark.parametrize("name", ["slm", "llm", "random", "entropy", "neural"])
def test_static_runners_equal_the_no_cache_reference(pair, ragged, expected, name, verify, runner):
    strat = strategies(pair)[name]
    engine = Engine(pair, strat, max_batch=8, runner=runner)
    gens = [GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=i, verify=verify, max_draft=4) for i in range(8)]
    together, stats = engine.generate(ragged, gens)
    for i, r in enumerate(together):
        tokens, by_llm = expected(name, i, verify)
        assert r.token_ids == tokens, (name, verify, i)
        if by_llm is not None:
            assert r.by_llm == by_llm
    alone, _ = Engine(pair, strat, max_batch=1, runner=runner).generate([ragged[5]], gens[5])
    assert alone[0].token_ids == together[5].token_ids
    if verify == "none":  # verified rows ride along on batch-mates' checks, so who wrote what may move; the text may not
        assert alone[0].by_llm == together[5].by_llm
    if name == "random":  # rows wrote on past flagged tokens, and some of that was undone
        assert stats.rollbacks > 0 and stats.wasted_slm_tokens > 0


@pytest.mark.parametrize("verify", ["none", "all"])
def test_sampled_rows_repeat_at_any_batch_size(pair, ragged, runner, verify):
    strat = make_strategy("random", llm_share=0.3)
    gens = [GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=10 + i, temperature=0.9, top_p=0.95, verify=verify) for i in range(8)]
    together, _ = Engine(pair, strat, max_batch=8, runner=runner).generate(ragged, gens)
    alone, _ = Engine(pair, strat, max_batch=1, runner=runner).generate([ragged[3]], gens[3])
    again, _ = Engine(pair, strat, max_batch=8, runner=runner).generate(ragged, gens)
    eager, _ = Engine(pair, strat, max_batch=8, runner="eager").generate(ragged, gens)
    assert alone[0].token_ids == together[3].token_ids
    assert [r.token_ids for r in again] == [r.token_ids for r in together]
    assert [r.token_ids for r in eager] == [r.token_ids for r in together]  # the draws are the runners' common ground
    greedy, _ = Engine(pair, strat, max_batch=1, runner=runner).generate([ragged[3]], GenerationConfig(max_new_tokens=N, ignore_eos=True))
    assert greedy[0].token_ids != together[3].token_ids


def test_the_cache_is_allocated_once(pair, ragged):
    engine = Engine(pair, make_strategy("random", llm_share=0.3), max_batch=4, runner=STATIC)
    sess = engine.session(context=512)
    ptrs = [r.k.data_ptr() for r in (sess.slm, sess.llm)] + [r.v.data_ptr() for r in (sess.slm, sess.llm)]
    for i, p in enumerate(ragged[:6]):  # more requests than slots: slots are released and reused
        sess.submit(i, p, GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=i))
    while sess.busy:
        sess.step()
    assert len(sess.finished) == 6
    assert [r.k.data_ptr() for r in (sess.slm, sess.llm)] + [r.v.data_ptr() for r in (sess.slm, sess.llm)] == ptrs
    assert sess.slm.k.shape[2] == 512


def test_a_full_window_is_an_error_not_a_wrap(pair):
    runner = make_runner(pair.slm, 2, context=16, runner=STATIC)
    runner.catch_up([0], [list(range(3, 17))])
    with pytest.raises(R2RouteError, match="holds 16"):
        runner.catch_up([0], [list(range(3, 20))])


def test_the_engine_ends_a_row_at_the_static_window(pair, prompts):
    res, _ = Engine(pair, make_strategy("slm"), runner=STATIC).generate(
        [prompts[3]], GenerationConfig(max_new_tokens=5000, ignore_eos=True))
    sess = Engine(pair, make_strategy("slm"), runner=STATIC).session()
    assert res[0].finish_reason == "length"
    assert len(prompts[3]) + len(res[0].token_ids) == min(pair.context_window, sess.window)


@pytest.mark.parametrize("kind", ["eager", "static", "graph"])
def test_each_transformers_runner_honours_the_interface(pair, kind):
    check_runner(make_runner(pair.llm, 4, runner=kind, context=128), pair.llm.model, 4)


def test_the_compiled_graph_runner_honours_the_interface(pair):
    """torch.compile's kernels (fused, so rounded differently) within the same tolerance, and really
    compiled: dynamo traced graphs rather than leaving the forward eager."""
    from torch._dynamo.utils import counters

    graphs = counters["stats"]["unique_graphs"]
    check_runner(make_runner(pair.llm, 4, runner="graph-compiled", context=128), pair.llm.model, 4)
    assert counters["stats"]["unique_graphs"] > graphs


def test_compiled_decoding_gives_the_static_runners_tokens(pair, prompts):
    """The compiled SLM step (forward, head, router and draws) and the LLM's compiled catch-ups, in a
    routed batch with rollbacks: fused kernels round differently, but on fp32 tiny models no logit
    gap is small enough for that to change a greedy token."""
    strat = make_strategy("neural", threshold=0.5, router=tiny_router(pair))
    gens = [GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=i) for i in range(3)]
    static, _ = Engine(pair, strat, max_batch=3, runner=STATIC).generate(prompts[:3], gens)
    engine = Engine(pair, strat, max_batch=3, runner="graph-compiled")
    compiled, _ = engine.generate(prompts[:3], gens)
    assert [r.token_ids for r in compiled] == [r.token_ids for r in static]
    assert [r.by_llm for r in compiled] == [r.by_llm for r in static]
    assert any(any(r.by_llm) for r in static) and any(not all(r.by_llm) for r in static)


def test_a_compiled_forward_writes_the_cache_in_place(pair):
    """Inductor's code for the static forward allocates no buffer the size of a layer's cache: a
    write through a layer's view of the cache would make it copy the whole cache at every call."""
    from torch._inductor.utils import run_and_get_code

    runner = make_runner(pair.slm, 2, runner=STATIC, context=128)
    cache = tuple(runner.k.shape[1:])
    ids, rows, counts = torch.tensor([[5], [6]]), torch.tensor([0, 1]), torch.tensor([1, 1])
    with torch.inference_mode():
        _, code = run_and_get_code(torch.compile(runner._forward_rows), ids, rows, counts, slice(0, 2), 64)
    allocations = [line for c in code for line in c.splitlines() if "empty_strided" in line and "((" in line]
    assert allocations  # the check reads inductor's allocations
    assert not [a for a in allocations if str(cache)[1:-1] + ")" in a]  # a layer's cache, or all layers'


def test_warm_up_captures_nothing_without_a_gpu(pair):
    from r2route.engine import open_session

    assert open_session(pair, make_strategy("slm"), 2, runner="graph", context=256).warm_up() == (0, 0.0)


def test_runner_choice(pair):
    assert resolve_runner(pair.slm) == "static"  # a covered architecture
    assert resolve_runner(pair.slm, "eager") == "eager"
    assert resolve_runner(pair.slm, "static") == "static"
    assert set(RUNNERS) == {"eager", "static", "graph", "graph-compiled", "llama.cpp"}
    with pytest.raises(R2RouteError, match="unknown runner"):
        resolve_runner(pair.slm, "fast")
    with pytest.raises(R2RouteError, match="runs llama.cpp models"):
        resolve_runner(pair.slm, "llama.cpp")


def test_unsupported_architecture_is_named(pair):
    cfg = pair.slm.model.config
    kind = cfg.model_type
    try:
        cfg.model_type = "gpt_neox"
        with pytest.raises(R2RouteError, match="covers llama, qwen2, mistral models, not gpt_neox"):
            make_runner(pair.slm, 1, runner=STATIC)
        assert resolve_runner(pair.slm) == "eager"
    finally:
        cfg.model_type = kind


@pytest.mark.parametrize("agree", [1.0, 0.9, 0.5])
def test_shape_models_agree_at_the_asked_fraction(agree):
    """Echo models with --agree p: the LLM's next token is the SLM's at about a fraction p of the
    positions of the SLM's own text (a hash picks them), and verified decoding is still lossless."""
    from r2route.pair.shapes import build_shape_pair

    pair = build_shape_pair("test", "test", torch.device("cpu"), torch.float32, echo=True, agree=agree)
    prompt = pair.encode("Natalia sold clips.", chat=False)
    slm, _ = Engine(pair, make_strategy("slm"), runner=STATIC).generate([prompt], GenerationConfig(max_new_tokens=400, ignore_eos=True))
    seq = prompt + slm[0].token_ids
    with torch.no_grad():
        llm_next = pair.llm.model(torch.tensor([seq])).logits[0, len(prompt) - 1 : -1].argmax(-1).tolist()
        slm_next = pair.slm.model(torch.tensor([seq])).logits[0, len(prompt) - 1 : -1].argmax(-1).tolist()
    assert slm_next == slm[0].token_ids  # the SLM walks: each token the one after the last
    agreed = sum(a == b for a, b in zip(llm_next, slm_next)) / len(slm_next)
    assert abs(agreed - agree) < 0.06, agreed
    spec, _ = Engine(pair, make_strategy("slm"), runner=STATIC).generate(
        [prompt], GenerationConfig(max_new_tokens=40, ignore_eos=True, verify="all", max_draft=4))
    with torch.no_grad():
        ref = pair.llm.model.generate(torch.tensor([prompt]), max_new_tokens=40, do_sample=False, eos_token_id=None)
    assert spec[0].token_ids == ref[0, len(prompt):].tolist()
