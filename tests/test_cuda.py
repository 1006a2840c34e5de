"""The device step on a GPU (marked ``cuda``: skipped where none is): the static runner's tokens equal
the no-cache reference on the device, and a step copies to the host once per model call."""

import warnings

import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.pair import PairConfig, load_pair
from r2route.router import make_strategy

from .conftest import QUESTIONS
from .test_static_runner import N, reference

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def gpu_pair():
    return load_pair(PairConfig(pair="tiny", device="cuda", dtype="float32"))


@pytest.fixture(scope="module")
def gpu_prompts(gpu_pair):
    texts = [QUESTIONS[i % len(QUESTIONS)] * (1 + 4 * (i == 5)) + f" ({i})" for i in range(8)]
    return [gpu_pair.encode(t, chat=False) for t in texts]


def gpu_strategies(pair):
    from .test_engine import tiny_router

    bundle = tiny_router(pair)  # folded on the CPU, then moved, as the CLI loads and attaches a router
    strategies = {"neural": make_strategy("neural", threshold=0.5, router=bundle)}
    bundle.model.to("cuda")
    return strategies | {"slm": make_strategy("slm"), "random": make_strategy("random", llm_share=0.3),
            "entropy": make_strategy("entropy", threshold=0.93)}


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("name", ["slm", "random", "entropy", "neural"])
def test_static_runner_on_the_device_equals_the_reference(gpu_pair, gpu_prompts, name, batch):
    strat = gpu_strategies(gpu_pair)[name]
    gens = [GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=i) for i in range(batch)]
    results, _ = Engine(gpu_pair, strat, max_batch=batch, runner="static").generate(gpu_prompts[:batch], gens)
    for i, r in enumerate(results):
        tokens, by_llm = reference(gpu_pair, gpu_prompts[i], strat, seed=i)
        assert r.token_ids == tokens and r.by_llm == by_llm


@pytest.mark.parametrize("batch", [1, 8])
def test_verified_decoding_on_the_device_is_the_llms_greedy_text(gpu_pair, gpu_prompts, batch):
    gens = [GenerationConfig(max_new_tokens=N, ignore_eos=True, verify="all", max_draft=4) for _ in range(batch)]
    results, _ = Engine(gpu_pair, make_strategy("slm"), max_batch=batch, runner="static").generate(gpu_prompts[:batch], gens)
    for p, r in zip(gpu_prompts, results):
        with torch.no_grad():
            out = gpu_pair.llm.model.generate(torch.tensor([p], device="cuda"), max_new_tokens=N, do_sample=False, eos_token_id=None)
        assert r.token_ids == out[0, len(p):].tolist()


def test_sampled_rows_repeat_on_the_device(gpu_pair, gpu_prompts):
    strat = make_strategy("random", llm_share=0.3)
    gens = [GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=20 + i, temperature=0.9, top_p=0.9) for i in range(8)]
    together, _ = Engine(gpu_pair, strat, max_batch=8, runner="static").generate(gpu_prompts, gens)
    alone, _ = Engine(gpu_pair, strat, max_batch=1, runner="static").generate([gpu_prompts[2]], gens[2])
    assert alone[0].token_ids == together[2].token_ids


def count_syncs(fn) -> int:
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(w.message) for w in caught)


@pytest.mark.parametrize("name", ["slm", "entropy", "neural"])
def test_an_slm_step_copies_to_the_host_once(gpu_pair, gpu_prompts, name):
    """A step in which the LLM does not run (the strategy routes nothing here) synchronises once:
    the copy of the tokens and decisions."""
    strat = gpu_strategies(gpu_pair)[name]
    if name != "slm":
        strat.threshold = 2.0  # scores are ≤ 1: nothing is routed
    sess = Engine(gpu_pair, strat, max_batch=4, runner="static").session(context=512)
    for i, p in enumerate(gpu_prompts[:4]):
        sess.submit(i, p, GenerationConfig(max_new_tokens=64, ignore_eos=True))
    sess.step()  # prefill
    sess.step()
    assert count_syncs(lambda: [sess.step() for _ in range(10)]) == 10


# --- the graph runner: CUDA graphs replay what the static runner computes -------------------------

GRAPH_CASES = {  # name → (strategy kwargs, GenerationConfig fields)
    "slm": ({"name": "slm"}, {}),
    "llm": ({"name": "llm"}, {}),
    "random": ({"name": "random", "llm_share": 0.3}, {}),
    "neural": ({"name": "neural"}, {}),
    "verify": ({"name": "random", "llm_share": 0.2}, {"verify": "all", "max_draft": 4}),
    "spec": ({"name": "slm"}, {"verify": "all", "max_draft": 4}),
    "sampled": ({"name": "random", "llm_share": 0.3}, {"temperature": 0.8, "top_p": 0.9}),
}


def graph_strategy(pair, kw):
    kw = dict(kw)
    name = kw.pop("name")
    if name == "neural":
        return gpu_strategies(pair)["neural"]
    return make_strategy(name, **kw)


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def typed_pair(request):
    return load_pair(PairConfig(pair="tiny", device="cuda", dtype=request.param))


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("case", list(GRAPH_CASES))
def test_graph_replay_equals_the_static_runner(typed_pair, case, batch):
    kw, over = GRAPH_CASES[case]
    texts = [QUESTIONS[i % len(QUESTIONS)] + f" ({i})" for i in range(batch)]
    prompts = [typed_pair.encode(t, chat=False) for t in texts]
    gens = [GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=i, **over) for i in range(batch)]
    strat = graph_strategy(typed_pair, kw)
    static, _ = Engine(typed_pair, strat, max_batch=batch, runner="static").generate(prompts, gens)
    engine = Engine(typed_pair, strat, max_batch=batch, runner="graph")
    graph, _ = engine.generate(prompts, gens)
    assert [r.token_ids for r in graph] == [r.token_ids for r in static]
    assert [r.by_llm for r in graph] == [r.by_llm for r in static]
    assert engine.runner("slm").captures + engine.runner("llm").captures > 0  # graphs did run


def test_a_graph_step_copies_to_the_host_once(gpu_pair, gpu_prompts):
    strat = make_strategy("slm")
    sess = Engine(gpu_pair, strat, max_batch=5, runner="graph").session(context=512)
    for i, p in enumerate(gpu_prompts[:5]):
        sess.submit(i, p, GenerationConfig(max_new_tokens=64, ignore_eos=True))
    for _ in range(3):  # prefill, then capture
        sess.step()
    assert sess.slm.captures >= 1
    assert count_syncs(lambda: [sess.step() for _ in range(10)]) == 10


@pytest.mark.parametrize("runner,batch", [("graph", 4), ("graph-compiled", 5)])
def test_warm_up_captures_the_steps_that_decoding_replays(gpu_pair, gpu_prompts, runner, batch):
    """Warm-up captures (and with graph-compiled first compiles) the SLM's steps; a routed batch then
    replays them and gives the static runner's tokens (batch 5: a bucket with padding; fp32, where no
    greedy token is near enough a tie for compiled kernels' rounding to change it)."""
    from r2route.engine import open_session

    strat = make_strategy("random", llm_share=0.3)
    sess = open_session(gpu_pair, strat, batch, runner=runner, context=512)
    graphs, seconds = sess.warm_up()
    assert graphs > 0 and seconds > 0
    before = sess.slm.captures
    gens = [GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=i) for i in range(batch)]
    for i, (p, g) in enumerate(zip(gpu_prompts[:batch], gens)):
        sess.submit(i, p, g)
    while sess.busy:
        sess.step()
    static, _ = Engine(gpu_pair, strat, max_batch=batch, runner="static").generate(gpu_prompts[:batch], gens)
    assert [sess.finished[i].token_ids for i in range(batch)] == [r.token_ids for r in static]
    assert sess.slm.captures == before  # the SLM's greedy steps replayed what warm-up captured


def test_compiled_graphs_honour_the_runner_interface(gpu_pair):
    """torch.compile's kernels captured in graphs: every runner verb within the CPU check's tolerance
    of a full forward from scratch (fused kernels round differently, so not token for token)."""
    from r2route.engine.runners import make_runner

    from .runner_checks import check_runner

    runner = make_runner(gpu_pair.llm, 4, runner="graph-compiled", context=512)
    check_runner(runner, gpu_pair.llm.model, 4)
    assert runner.captures > 0
