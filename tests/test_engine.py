"""Mixed decoding on the tiny pair: exact-token invariants of R2R's engine."""

import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.draws import ROUTE_DRAW, uniform_at
from r2route.router import RouterBundle, RouterConfig, RouterModel, make_strategy

N = 40


def hf_greedy(model, prompt, n=N):
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False, eos_token_id=None)
    return out[0, len(prompt):].tolist()


def argmax_next(model, seq):
    with torch.no_grad():
        return int(model(torch.tensor([seq])).logits[0, -1].argmax())


def reference_mixed(pair, prompt, p, seed, n=N):
    """R2R without caches and without provisional tokens: at every step both models re-read the
    whole text from scratch, and a routed token is the LLM's at once. The routing draw at a
    position is seeded by that position."""
    seq, by_llm = list(prompt), []
    for _ in range(n):
        tok = argmax_next(pair.slm.model, seq)
        routed = uniform_at(seed, len(seq), ROUTE_DRAW) < p
        if routed:
            tok = argmax_next(pair.llm.model, seq)
        seq.append(tok)
        by_llm.append(routed)
    return seq[len(prompt):], by_llm


def run(pair, strategy, prompts, **gen):
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, **gen)
    results, stats = Engine(pair, strategy).generate(prompts, cfg)
    return results, stats


def test_slm_strategy_equals_slm_greedy(pair, prompts):
    results, stats = run(pair, make_strategy("slm"), prompts)
    for p, r in zip(prompts, results):
        assert r.token_ids == hf_greedy(pair.slm.model, p)
        assert not any(r.by_llm)
    assert stats.llm_calls == 0


def test_llm_strategy_equals_llm_greedy(pair, prompts):
    results, stats = run(pair, make_strategy("llm"), prompts)
    for p, r in zip(prompts, results):
        assert r.token_ids == hf_greedy(pair.llm.model, p)
        assert all(r.by_llm)
    assert stats.slm_calls == 0  # LLM-only decoding does not pay for the SLM


def tiny_router(pair, seed=0):
    torch.manual_seed(seed)
    d = pair.slm.model.config.hidden_size
    return RouterBundle(RouterModel(RouterConfig(hidden_size=d, embed_size=d, width=32, depth=1)).eval(), pair=pair.identity())


def test_neural_threshold_zero_equals_llm(pair, prompts):
    results, _ = run(pair, make_strategy("neural", threshold=0.0, router=tiny_router(pair)), prompts)
    for p, r in zip(prompts, results):
        assert r.token_ids == hf_greedy(pair.llm.model, p)
        assert all(r.by_llm)


def reference_neural(pair, prompt, strategy, n=N):
    """R2R with a neural router, without caches: the SLM re-reads the text each step, the router
    scores its state, and a routed token is the LLM's argmax over the same text."""
    from r2route.router.strategies import StepView

    seq, by_llm = list(prompt), []
    for _ in range(n):
        with torch.no_grad():
            out = pair.slm.model(torch.tensor([seq]), output_hidden_states=True)
        logits, hidden = out.logits[0, -1:].float(), out.hidden_states[-1][0, -1:]
        tok = torch.tensor([int(logits.argmax())])
        routed = bool(strategy.decide(StepView(logits, hidden, tok, pair.slm.embed, torch.tensor([0]), torch.tensor([len(seq)])))[0])
        seq.append(argmax_next(pair.llm.model, seq) if routed else int(tok))
        by_llm.append(routed)
    return seq[len(prompt):], by_llm


def test_neural_routing_at_a_middle_threshold_equals_the_no_cache_reference(pair, prompts):
    """A threshold inside the router's score range routes some tokens and not others; where and
    what is written must be what recomputing everything at every step gives."""
    bundle = tiny_router(pair)
    seen: list[float] = []

    class Recorder:  # never routes; keeps the router's scores along the SLM's own text
        def decide(self, view):
            seen.extend(make_strategy("neural", threshold=0.0, router=bundle).scores(view).tolist())
            return [False]

    reference_neural(pair, prompts[0], Recorder())
    threshold = float(torch.tensor(seen).median())
    strat = make_strategy("neural", threshold=threshold, router=bundle)
    results, _ = run(pair, strat, prompts[:2])
    for p, r in zip(prompts[:2], results):
        ref_tokens, ref_routes = reference_neural(pair, p, strat)
        assert r.by_llm == ref_routes
        assert r.token_ids == ref_tokens
    assert 0 < sum(results[0].by_llm) < N


def test_routing_changes_the_text(pair, prompts):
    """Sanity for the test above: the tiny models disagree often enough that routing matters."""
    slm, _ = run(pair, make_strategy("slm"), prompts)
    mixed, _ = run(pair, make_strategy("random", llm_share=0.5), prompts, seed=1)
    assert any(a.token_ids != b.token_ids for a, b in zip(slm, mixed))


@pytest.mark.parametrize("strategy", ["random", "entropy", "llm"])
def test_batch_equals_each_prompt_alone(pair, prompts, strategy):
    kw = {"llm_share": 0.3} if strategy == "random" else ({"threshold": 0.95} if strategy == "entropy" else {})
    strat = make_strategy(strategy, **kw)
    batch, _ = run(pair, strat, prompts, seed=3)
    for p, r in zip(prompts, batch):
        alone, _ = run(pair, strat, [p], seed=3)
        assert alone[0].token_ids == r.token_ids
        assert alone[0].by_llm == r.by_llm


def test_more_prompts_than_slots_queue_and_match(pair, prompts):
    strat = make_strategy("random", llm_share=0.3)
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=3)
    wide, _ = Engine(pair, strat, max_batch=8).generate(prompts, cfg)
    narrow, _ = Engine(pair, strat, max_batch=2).generate(prompts, cfg)
    assert [r.token_ids for r in wide] == [r.token_ids for r in narrow]


def test_seeded_sampling_is_reproducible_and_batch_independent(pair, prompts):
    strat = make_strategy("random", llm_share=0.3)
    a, _ = run(pair, strat, prompts, temperature=1.0, top_p=0.9, seed=11)
    b, _ = run(pair, strat, prompts[1:2], temperature=1.0, top_p=0.9, seed=11)
    c, _ = run(pair, strat, prompts[1:2], temperature=1.0, top_p=0.9, seed=12)
    assert a[1].token_ids == b[0].token_ids
    assert b[0].token_ids != c[0].token_ids
    greedy, _ = run(pair, strat, prompts[1:2], seed=11)
    assert greedy[0].token_ids != b[0].token_ids


def test_stops_on_stop_ids_max_tokens_and_stop_strings(pair, prompts):
    strat = make_strategy("slm")
    free, _ = Engine(pair, strat).generate(prompts[:1], GenerationConfig(max_new_tokens=N, ignore_eos=True))
    toks = free[0].token_ids
    # The pair's EOS ids and stop_token_ids share one check; make the SLM's 5th token a stop id.
    stopped, _ = Engine(pair, strat).generate(prompts[:1], GenerationConfig(max_new_tokens=N, stop_token_ids=(toks[4],)))
    assert stopped[0].token_ids == toks[: toks.index(toks[4]) + 1]
    assert stopped[0].finish_reason == "stop"

    short, _ = Engine(pair, strat).generate(prompts[:1], GenerationConfig(max_new_tokens=3, ignore_eos=True))
    assert short[0].token_ids == toks[:3] and short[0].finish_reason == "length"

    text = free[0].text
    stop = text[10:13]
    cut, _ = Engine(pair, strat).generate(prompts[:1], GenerationConfig(max_new_tokens=N, stop=(stop,), ignore_eos=True))
    assert cut[0].finish_reason == "stop"
    assert cut[0].text == text[: text.index(stop)]


def test_eos_ends_a_request_unless_ignored(pair, prompts):
    """Make EOS the SLM's certain choice with a hook on its LM head, then check both behaviours."""
    eos = pair.tokenizer.eos_token_id
    assert eos in pair.eos_token_ids()

    def push_eos(module, inputs, output):
        output[..., eos] += 100.0
        return output

    hook = pair.slm.model.get_output_embeddings().register_forward_hook(push_eos)
    try:
        ended, _ = Engine(pair, make_strategy("slm")).generate(prompts[:1], GenerationConfig(max_new_tokens=N))
        ignored, _ = Engine(pair, make_strategy("slm")).generate(prompts[:1], GenerationConfig(max_new_tokens=5, ignore_eos=True))
    finally:
        hook.remove()
    assert ended[0].token_ids == [eos] and ended[0].finish_reason == "stop"
    assert ended[0].text == ""  # special tokens are not text
    assert ignored[0].token_ids == [eos] * 5 and ignored[0].finish_reason == "length"


def test_streamed_text_concatenates_to_result(pair, prompts):
    out = {}
    events = list(Engine(pair, make_strategy("random", llm_share=0.4)).stream(prompts, GenerationConfig(max_new_tokens=N), out))
    for i in range(len(prompts)):
        mine = [e for e in events if e.request == i]
        assert "".join(e.text for e in mine) == out[i].text
        assert [e.token for e in mine] == out[i].token_ids
        assert [e.by_llm for e in mine] == out[i].by_llm
        assert mine[-1].done and sum(e.done for e in mine) == 1


def test_stats_count_tokens_and_activated_params(pair, prompts):
    results, batch = run(pair, make_strategy("random", llm_share=0.25), prompts, seed=5)
    for r in results:
        st = r.stats
        assert st.tokens == len(r.token_ids) == N
        assert st.llm_tokens == sum(r.by_llm)
        # the mean, over generated tokens, of the parameter count of the model that wrote each one
        per_token = [pair.llm.params.total if b else pair.slm.params.total for b in r.by_llm]
        assert st.avg_params == pytest.approx(sum(per_token) / len(per_token))
        assert 0 < st.ttft <= st.seconds
    assert batch.tokens == N * len(prompts)
    assert batch.llm_tokens == sum(r.stats.llm_tokens for r in results)
    assert batch.tokens_per_s > 0


def test_avg_params_ends_are_each_models_whole_parameter_count(pair, prompts):
    """Activated parameters count every weight (embeddings and head too), never the prompt."""
    slm, _ = run(pair, make_strategy("slm"), prompts[:1])
    llm, _ = run(pair, make_strategy("llm"), prompts[:1])
    assert slm[0].stats.avg_params == sum(t.numel() for t in pair.slm.model.parameters())
    assert llm[0].stats.avg_params == sum(t.numel() for t in pair.llm.model.parameters())


def test_router_time_is_counted_per_call(pair, prompts, monkeypatch):
    """A second call on the same engine reports its own router time, not the running total. The
    timer's clock is replaced by one that ticks once per reading, so each timed router block
    lasts exactly one second and a call's router time must equal its count of SLM steps."""
    import itertools
    import types

    from r2route.engine import stats

    ticks = itertools.count()
    monkeypatch.setattr(stats, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    engine = Engine(pair, make_strategy("slm"), max_batch=2)
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True)
    for _ in range(3):
        _, batch = engine.generate(prompts[:2], cfg)
        assert batch.steps == N and batch.router_seconds == N


def test_context_window_ends_generation(pair, prompts):
    window = pair.context_window
    long_prompt = (prompts[3] * (window // len(prompts[3]) + 1))[: window - 5]
    res, _ = run(pair, make_strategy("slm"), [long_prompt])
    assert res[0].finish_reason == "length"
    assert len(long_prompt) + len(res[0].token_ids) == window


def test_prefix_cache_reuses_a_freed_slot_and_changes_nothing(pair, prompts):
    """A request whose prompt extends an earlier one's text reuses that slot's KV cache."""
    strat = make_strategy("random", llm_share=0.3)
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=8)
    engine = Engine(pair, strat)
    first, _ = engine.generate([prompts[0]], cfg)
    longer = first[0].prompt_ids + first[0].token_ids  # the text so far, sent again with its answer
    again, stats = engine.generate([longer], cfg)
    fresh, fresh_stats = Engine(pair, strat).generate([longer], cfg)
    assert again[0].token_ids == fresh[0].token_ids and again[0].by_llm == fresh[0].by_llm
    assert stats.slm_tokens_fed < fresh_stats.slm_tokens_fed - len(prompts[0])  # the shared prefix was not fed again
