"""The llama.cpp backend against the transformers reference, on the tiny pair written as GGUF files."""

import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.engine.runners import make_runner
from r2route.pair import ModelPair, PairConfig, load_pair
from r2route.pair.tokenizers import tokenizer_fingerprint
from r2route.router import make_strategy

pytest.importorskip("llama_cpp")
from r2route.pair.llamacpp import LlamaCppModel  # noqa: E402

from .gguf_tiny import write_gguf  # noqa: E402
from .invariance import invariant_decode  # noqa: E402

N = 32


@pytest.fixture(scope="module")
def ggufs(pair, tmp_path_factory):
    d = tmp_path_factory.mktemp("gguf")
    write_gguf(pair.slm.model, pair.tokenizer, d / "slm.gguf")
    write_gguf(pair.llm.model, pair.tokenizer, d / "llm.gguf")
    return d


@pytest.fixture(scope="module")
def cpp_pair(ggufs, tmp_path_factory):
    import os

    os.environ["R2ROUTE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    slm = LlamaCppModel.load(ggufs / "slm.gguf", kv_type="f32")
    llm = LlamaCppModel.load(ggufs / "llm.gguf", kv_type="f32")
    return ModelPair(slm=slm, llm=llm, handoff="token")


def test_gguf_model_has_the_same_tokenizer_size_and_eos(cpp_pair, pair):
    assert tokenizer_fingerprint(cpp_pair.slm.tokenizer) == tokenizer_fingerprint(pair.tokenizer)
    assert cpp_pair.slm.params.total == pair.slm.params.total
    assert cpp_pair.slm.params.non_embedding == pair.slm.params.non_embedding
    assert cpp_pair.eos_token_ids() == pair.eos_token_ids()


def test_ragged_catch_up_matches_transformers(cpp_pair, pair):
    runner = make_runner(cpp_pair.llm, 3, 32.0)
    seqs = [[5, 6, 7, 8, 9], [10, 11], list(range(20, 60))]
    for _ in range(2):
        hidden, logits = runner.catch_up([0, 1, 2], seqs)
        with torch.no_grad():
            for i, s in enumerate(seqs):
                out = pair.llm.model(torch.tensor([s]), output_hidden_states=True)
                torch.testing.assert_close(logits[i], out.logits[0, -1], atol=2e-4, rtol=1e-4)
                torch.testing.assert_close(hidden[i], out.hidden_states[-1][0, -1], atol=2e-4, rtol=1e-4)
        runner.truncate(2, 7)  # roll one slot back, extend the others unevenly
        seqs = [seqs[0] + [70], seqs[1] + [71, 72, 73], seqs[2][:7] + [74, 75]]


def test_calls_keep_within_the_shapes_tokens_and_outputs(cpp_pair, pair):
    """Logits at every fed position (verification's request) with a cap of 3 outputs and 8 tokens
    a call: split so llama.cpp is never asked for more rows than it reserved (it would abort), and
    the same logits as the transformers reference."""
    from r2route.engine.llamacpp_runner import CallShape

    runner = make_runner(cpp_pair.llm, 2, call_shape=CallShape(tokens=8, outputs=3), hidden=False)
    seqs = [list(range(5, 17)), list(range(30, 37))]
    outs = [list(range(4, 12)), list(range(0, 7))]  # 15 outputs in 19 tokens
    _, logits = runner.forward([0, 1], seqs, [len(q) for q in seqs], outs)
    assert runner.calls == 5  # 15 outputs, at most 3 a call
    with torch.no_grad():
        ref = [pair.llm.model(torch.tensor([q])).logits[0] for q in seqs]
    want = torch.stack([ref[0][j] for j in outs[0]] + [ref[1][j] for j in outs[1]])
    torch.testing.assert_close(logits, want, atol=2e-4, rtol=1e-4)
    # a runner that returns hidden states has llama.cpp output every token of a call that asks for
    # any: 4 tokens without an output, then calls of at most 3 tokens
    runner = make_runner(cpp_pair.llm, 2, call_shape=CallShape(tokens=8, outputs=3))
    hidden, again = runner.forward([0, 1], seqs, [len(q) for q in seqs], outs)
    assert runner.calls == 6 and hidden.shape == (15, cpp_pair.llm.hidden_size)
    torch.testing.assert_close(again, want, atol=2e-4, rtol=1e-4)
    # generate's shape cuts calls of 8 to 13 tokens in two (a slow kernel path on Q4_K weights)
    runner = make_runner(cpp_pair.llm, 1, call_shape=CallShape(tokens=64, outputs=16, halve=(8, 13)), hidden=False)
    full = list(range(5, 36))
    for end, calls in ((10, 2), (24, 3), (31, 4)):  # feeds of 10 tokens (halved), 14 and 7 (whole)
        _, last = runner.catch_up([0], [full[:end]])
        assert runner.calls == calls
    with torch.no_grad():
        torch.testing.assert_close(last[0], pair.llm.model(torch.tensor([full])).logits[0, -1], atol=2e-4, rtol=1e-4)


def test_positions_give_every_answer_positions_logits_and_hidden_state(cpp_pair, pair):
    """The labeling prefill: a prompt read without outputs, then logits and hidden states at every
    later position, in calls of the shape's size (here 8 tokens, 5 outputs)."""
    from r2route.engine.llamacpp_runner import CallShape

    runner = make_runner(cpp_pair.slm, 1, call_shape=CallShape(tokens=8, outputs=5))
    seq, start = list(range(10, 41)), 13
    parts = list(runner.positions(seq, start))
    hidden, logits = torch.cat([h for h, _ in parts]), torch.cat([lg for _, lg in parts])
    with torch.no_grad():
        out = pair.slm.model(torch.tensor([seq]), output_hidden_states=True)
    torch.testing.assert_close(logits, out.logits[0, start:], atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(hidden, out.hidden_states[-1][0, start:], atol=2e-4, rtol=1e-4)
    assert len(parts) == 4 and runner.calls == 6  # 8 + 5 prompt tokens, then 18 outputs in calls of ≤ 5


def test_token_embedding_is_dequantized_from_the_file(cpp_pair, pair):
    ids = torch.tensor([3, 500, 1000])
    torch.testing.assert_close(cpp_pair.slm.embed(ids), pair.slm.embed(ids), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("strategy", ["slm", "llm", "random"])
def test_engine_tokens_match_the_transformers_backend(cpp_pair, pair, prompts, strategy):
    strat = make_strategy(strategy, llm_share=0.3) if strategy == "random" else make_strategy(strategy)
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=4)
    ref, _ = Engine(pair, strat).generate(prompts, cfg)
    got, _ = Engine(cpp_pair, strat).generate(prompts, cfg)
    for a, b in zip(ref, got):
        assert a.token_ids == b.token_ids and a.by_llm == b.by_llm


def test_backend_choice_for_gguf_files(ggufs, tmp_path):
    via_tf = load_pair(PairConfig(pair=None, slm=str(ggufs / "slm.gguf"), llm=str(ggufs / "llm.gguf"), device="cpu", backend="transformers"))
    assert via_tf.slm.backend == "transformers" and via_tf.handoff == "token"
    via_cpp = load_pair(PairConfig(pair=None, slm=str(ggufs / "slm.gguf"), llm=str(ggufs / "llm.gguf"), device="cpu"))
    assert via_cpp.slm.backend == "llama.cpp"


def test_labeling_writer_copies_prefixes_between_sequences(cpp_pair, pair):
    from .test_labeling import assert_writer_shares_prefixes_exactly

    assert_writer_shares_prefixes_exactly(cpp_pair, cpp_pair.llm)


@pytest.mark.parametrize("batch", [1, 4])
def test_verify_all_is_the_llms_greedy_output_on_llamacpp(cpp_pair, prompts, batch):
    """Lossless speculative decoding on the llama.cpp backend: the same tokens as the LLM alone,
    with rollbacks inside one llama.cpp context (``llama_memory_seq_rm``) and provisional R2R beside."""
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True)
    llm_only, _ = Engine(cpp_pair, make_strategy("llm"), max_batch=batch).generate(prompts[:batch], cfg)
    spec_cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, verify="all", max_draft=4)
    spec, stats = Engine(cpp_pair, make_strategy("slm"), max_batch=batch).generate(prompts[:batch], spec_cfg)
    assert [r.token_ids for r in spec] == [r.token_ids for r in llm_only]
    assert stats.llm_calls < stats.tokens


@pytest.fixture(scope="module")
def f16_pair(ggufs):
    """The tiny pair with llama.cpp's own settings (an f16 cache, flash attention), as the default pair runs."""
    return ModelPair(slm=LlamaCppModel.load(ggufs / "slm.gguf"), llm=LlamaCppModel.load(ggufs / "llm.gguf"), handoff="token")


@pytest.mark.parametrize("hidden", [True, False], ids=["slm-runner", "llm-runner"])
def test_a_rows_logits_are_bitwise_the_same_alone_and_in_any_batch(f16_pair, hidden):
    """llama.cpp picks kernels by counts in a call (tokens, logits requested, query tokens), so a row
    would sum differently alone than beside others; an invariant runner keeps every call in one
    regime, so a row's logits do not depend on its batch-mates, the length of their prompts, the
    order they came in or how its own prompt was split into calls."""
    long_prompt = list(range(3, 120))  # > one llama.cpp call: the chunks fall differently beside other rows
    others = [list(range(200, 290)), [7, 8, 9], list(range(400, 470))]
    lm = f16_pair.slm
    alone = invariant_decode(lm, [long_prompt], 0, hidden=hidden)
    assert torch.equal(alone, invariant_decode(lm, [long_prompt] + others, 0, hidden=hidden))
    assert torch.equal(alone, invariant_decode(lm, others[:1] + [long_prompt] + others[1:], 1, hidden=hidden))
    assert torch.equal(alone, invariant_decode(lm, [others[1], long_prompt], 1, hidden=hidden))
    assert torch.equal(alone, invariant_decode(lm, [long_prompt], 0, first_feeds=range(2, 117, 3), hidden=hidden))
    # without the invariant settings the same comparison fails: the test can tell
    runner = make_runner(lm, 2)
    _, both = runner.catch_up([0, 1], [others[1], long_prompt])
    _, lone = make_runner(lm, 1).catch_up([0], [long_prompt])
    assert not torch.equal(both[1], lone[0])


def test_a_rows_logits_do_not_depend_on_batch_mates_rolling_back_or_finishing(f16_pair):
    """Flash attention sums a row's cache cells in buffer order, and llama.cpp puts a new token in
    the lowest free cell: when a batch-mate rolls back or finishes, the row's next tokens would
    land in the freed cells below its earlier ones and sum in another order. The invariant runner
    keeps freed cells occupied and, when the buffer is full, feeds its rows afresh in order."""
    lm = f16_pair.llm
    prompt, mates = list(range(3, 60)), [list(range(200, 240)), list(range(400, 430))]
    runners = []

    def churn(step, runner, seqs):
        runners.append(runner)
        if step % 2 == 1:  # a mate's rollback: its last 3 cached tokens go, one is written again
            del seqs[1][-2:]
            runner.truncate(1, len(seqs[1]) - 1)
        if step % 2 == 0:  # a mate finishes and a new request takes its slot
            seqs[2] = list(range(500 + step, 580 + step))
            runner.truncate(2, 0)

    alone = invariant_decode(lm, [prompt], 0, steps=40, hidden=False, context=128)
    assert torch.equal(alone, invariant_decode(lm, [prompt] + mates, 0, steps=40, hidden=False, context=128, between=churn))
    assert runners[-1].collections > 0  # the buffer filled up and was rebuilt at least once
    # without kept cells the same churn changes the row's logits: the test can tell
    loose = invariant_decode(lm, [prompt] + mates, 0, steps=40, hidden=False, context=128,
                             between=lambda step, runner, seqs: (setattr(runner, "ordered", False), churn(step, runner, seqs)))
    assert not torch.equal(alone, loose)


def test_mixed_decoding_on_llamacpp_is_independent_of_batch_mates(f16_pair, prompts):
    strat = make_strategy("random", llm_share=0.3)
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, seed=6)
    together, _ = Engine(f16_pair, strat, max_batch=4, invariant=True).generate(prompts[:4], cfg)
    for p, r in zip(prompts[:4], together):
        alone, _ = Engine(f16_pair, strat, max_batch=1, invariant=True).generate([p], cfg)
        assert alone[0].token_ids == r.token_ids and alone[0].by_llm == r.by_llm


def test_eval_on_llamacpp_reruns_to_the_same_rows(f16_pair, tmp_path):
    """`eval` on llama.cpp (its own settings): a rerun into a fresh directory repeats every row's
    completion, grade and LLM tokens, and query rows sent wholly to the SLM repeat the SLM rows
    though their batch-mates went to the LLM."""
    import json

    from r2route.evaluation import EvalConfig, Evaluation
    from r2route.evaluation.tasks import load_task

    from .conftest import QUESTIONS

    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"q": f"{q} ({i})", "a": str(i)}) + "\n" for i in range(4) for q in QUESTIONS[:3]))
    task = load_task(str(data), limit=8, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    cfg = EvalConfig(methods=("slm", "random", "query"), shares=(0.5,), max_new_tokens=16, batch=3)
    keep = ("method", "share", "id", "completion", "correct", "llm_tokens")
    runs = [[{k: r[k] for k in keep if k in r} for r in Evaluation(f16_pair, task, cfg, tmp_path / f"run{i}", None, progress=False).run()]
            for i in range(2)]
    assert runs[0] == runs[1]
    slm = {r["id"]: r["completion"] for r in runs[0] if r["method"] == "slm"}
    to_slm = [r for r in runs[0] if r["method"] == "query" and r["llm_tokens"] == 0]
    assert 0 < len(to_slm) < 8
    assert all(r["completion"] == slm[r["id"]] for r in to_slm)


def test_llamacpp_caches_are_sized_to_the_requests(f16_pair, prompts):
    """Engine.generate allocates llama.cpp slots for the longest prompt + max_new_tokens (in steps of
    256), not the whole window, grows them when a call needs more, and decodes the same tokens as
    a session with whole-window slots (an invariant runner: times LLAMACPP_INVARIANT_ROOM)."""
    from r2route import defaults
    from r2route.engine.engine import context_for

    room = defaults.LLAMACPP_INVARIANT_ROOM

    strat = make_strategy("random", llm_share=0.3)
    short = GenerationConfig(max_new_tokens=8, ignore_eos=True, seed=2)
    engine = Engine(f16_pair, strat, max_batch=4, invariant=True)
    got, _ = engine.generate(prompts[:4], short)
    lc = engine.runner("llm").lc
    assert context_for(prompts[:4], [short] * 4) == 256 < f16_pair.context_window
    assert lc.llama_n_ctx(engine.runner("llm").ctx) == 256 * 4 * room
    whole = Engine(f16_pair, strat, max_batch=4, invariant=True).session()
    assert lc.llama_n_ctx(whole.llm.ctx) == f16_pair.context_window * 4 * room
    for i, p in enumerate(prompts[:4]):
        whole.submit(i, p, short)
    while whole.busy:
        whole.step()
    assert [whole.finished[i].token_ids for i in range(4)] == [r.token_ids for r in got]
    longer = GenerationConfig(max_new_tokens=300, ignore_eos=True)
    engine.generate(prompts[:1], longer)
    assert lc.llama_n_ctx(engine.runner("llm").ctx) == context_for(prompts[:1], [longer]) * 4 * room > 256 * 4 * room


def test_verify_all_is_the_llms_greedy_output_bitwise_with_llamacpps_own_settings(f16_pair, prompts):
    """With an f16 cache and flash attention (the default pair's settings) the LLM's logits of a token
    depend on nothing but its prefix once sums are batch-invariant, so speculative decoding (drafts
    checked in one call of several tokens) gives the LLM-alone tokens exactly, rollbacks and all."""
    cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True)
    llm_only, _ = Engine(f16_pair, make_strategy("llm"), max_batch=4, invariant=True).generate(prompts[:4], cfg)
    spec_cfg = GenerationConfig(max_new_tokens=N, ignore_eos=True, verify="all", max_draft=5)
    spec, stats = Engine(f16_pair, make_strategy("slm"), max_batch=4, invariant=True).generate(prompts[:4], spec_cfg)
    assert [r.token_ids for r in spec] == [r.token_ids for r in llm_only]
    assert stats.llm_calls < stats.tokens and stats.rollbacks > 0


def test_verified_routing_matches_the_llm_alone_through_buffer_rebuilds(f16_pair, prompts):
    """Many requests through 4 slots, with rollbacks and rows finishing at different lengths, fill
    an invariant runner's buffer (freed cells are kept): it is rebuilt on the way, and router-timed
    verification still writes the LLM alone's tokens (each row alone, max_new_tokens cut short)."""
    reqs = [p + [7 + i] for i in range(4) for p in prompts[:4]]  # slots of 256 positions: 3,072 cells
    gens = [GenerationConfig(max_new_tokens=150 + 7 * (i % 4), ignore_eos=True, verify="all", max_draft=4, seed=i) for i in range(len(reqs))]
    got, stats = Engine(f16_pair, make_strategy("random", llm_share=0.1), max_batch=4, invariant=True).generate(reqs, gens)
    assert stats.refed_tokens > 0 and stats.rollbacks > 0
    llm = Engine(f16_pair, make_strategy("llm"), max_batch=1, invariant=True)
    for i in (0, 7, 13, 15):
        alone, _ = llm.generate([reqs[i]], GenerationConfig(max_new_tokens=gens[i].max_new_tokens, ignore_eos=True))
        assert alone[0].token_ids == got[i].token_ids


def test_llamacpp_runner_honours_the_interface(cpp_pair, pair):
    from .runner_checks import check_runner

    check_runner(make_runner(cpp_pair.llm, 4, context=128, hidden=False), pair.llm.model, 4, atol=2e-4)


def test_one_calibration_pass_gives_a_router_its_own_thresholds_on_llama_cpp(f16_pair, pair, tmp_path):
    """The default pair's path: llama.cpp with its own settings, runner auto (llama.cpp), batch 4."""
    import json

    from r2route.evaluation import EvalConfig, Evaluation
    from r2route.evaluation.runner import eval_engine
    from r2route.evaluation.shared_calibration import SharedCalibration, calibration_key
    from r2route.evaluation.tasks import Record, Task
    from r2route.router import RouterBundle, RouterConfig, RouterModel

    from .conftest import QUESTIONS

    recs = [Record(i, f"{q} ({i})", {"gold": str(i)}) for i, q in enumerate(QUESTIONS * 2)]
    task = Task(name="qa", grader="exact", records=recs[:2], calibration=recs[2:8])
    torch.manual_seed(0)
    router = RouterBundle(model=RouterModel(RouterConfig(hidden_size=64, embed_size=64)).eval(), pair=f16_pair.identity())
    cfg = EvalConfig(methods=("entropy", "neural"), shares=(0.2, 0.5), max_new_tokens=N)
    Evaluation(f16_pair, task, cfg, tmp_path / "own", router, progress=False).run()
    key = calibration_key(f16_pair, task, N, "auto")
    assert key["runner"] == "llama.cpp"
    shared = SharedCalibration(tmp_path / "cal.json", key)
    prompts = [f16_pair.encode(r.prompt) for r in task.calibration]
    shared.record(eval_engine(f16_pair, cfg.batch, "auto"), prompts, {"r": router}, list(cfg.shares), N, progress=False)
    Evaluation(f16_pair, task, cfg, tmp_path / "shared", router, progress=False, calibration=tmp_path / "cal.json").run()
    own, got = (json.loads((tmp_path / d / "calibration.json").read_text()) for d in ("own", "shared"))
    assert got["entropy"] == own["entropy"] and got["neural"] == own["neural"] and got["from"]
