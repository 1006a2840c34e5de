"""Speed of mixed decoding, measured side by side in one run.

    python benchmarks/speed.py --pair tiny --runners eager,static --batch 1,8 --repeats 5
    python benchmarks/speed.py --shapes 1.5b,14b --device cuda --runners eager,static --batch 1,8 --spec 4
    python benchmarks/speed.py --pair default --workloads synthetic,eval --batch 4 --shares 0.2

Workloads (--workloads):
- synthetic: GSM8K train questions through the chat template, fixed-length answers (--new-tokens,
  EOS ignored), random routing at each --shares: the engine's cost per token, the ideal bounds.
- eval: what `r2route eval` decodes: the same questions with eval's system instruction, answers up
  to --eval-tokens with EOS honoured, the pair's router at each --shares (its validation
  calibration; the share a run measures is printed), random routing at the share the router
  measured, and SLM entropy at each --shares where the pair ships an entropy calibration (what
  `generate` routes with by default), on eval's engine (llama.cpp's batch-invariant calls, no
  prefix cache).
- eval-fast: the eval workload on generate's engine (llama.cpp's fast calls, prefix cache on), which
  separates what the workload costs from what eval's engine settings cost.

Per runner (--runners), workload and batch size: tok/s of the SLM alone, the LLM alone, each routed
method and speculative decoding (--spec K); c_s/c_l (SLM ÷ LLM cost per token) and c_p/c_l (the
LLM's catch-up cost per token ÷ its decode cost); speedup over the LLM alone, and its ratio to the
ideal bound 1/(c_s/c_l + r) (catch-up free, as nearly on a GPU) and to the bound with catch-up
1/(c_s/c_l + r + (1−r)·c_p/c_l). Routed rows also report what explains the two workloads' gap: LLM
calls per token, tokens per LLM call (catch-up size), SLM tokens wasted by rollbacks per token, and
the mean context length.

Step cost (transformers runners): the SLM's routed step (the router scoring every row, never
routing, so no LLM call) ÷ a bare forward of the same runner at the same batch and context: what the
host adds to a step (goal ≤ 1.3). On CUDA, host synchronisations per routed step (goal 1), counted
with torch's sync debug mode. Memory: peak RSS beyond the imports ÷ weights on the CPU; on CUDA peak
GPU memory ÷ (weights + KV caches).

Warm-up: the seconds of the first 8 tokens of every method, before timing (first kernels, graph
captures and, on the graph-compiled runner, torch.compile's compiling): what a runner costs before
its first timed token; on a GPU graph runners also report captures and their seconds.

Methods are interleaved round-robin and the median of --repeats is reported, so drift on a shared
machine hits all methods alike. Every JSON row names its runner, workload, batch and method.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

import torch

import common
from r2route import defaults
from r2route.engine import Engine, GenerationConfig
from r2route.engine.engine import context_for
from r2route.pair.loading import resolve_device, resolve_dtype
from r2route.pair.shapes import build_shape_pair
from r2route.router import load_calibration, make_strategy, shipped_calibration
from r2route.router.strategies import NeuralStrategy


@dataclass
class Cell:
    """One engine configuration whose methods are measured side by side."""

    runner: str
    workload: str
    engine: Engine
    prompts: list
    gens: list[GenerationConfig]
    methods: dict  # name → (strategy, GenerationConfig fields to override)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(cell: Cell, name: str, device: torch.device) -> dict:
    strategy, over = cell.methods[name]
    gens = [dataclasses.replace(g, **over) for g in cell.gens]
    sync(device)
    t = time.perf_counter()
    results, st = cell.engine.generate(cell.prompts, gens, strategy)
    sync(device)
    seconds = time.perf_counter() - t
    return {"tps": st.tokens / seconds, "share": st.llm_share, "wasted": st.wasted_slm_tokens / max(st.tokens, 1),
            "llm_calls_per_token": st.llm_calls / max(st.tokens, 1), "tokens_per_llm_call": st.llm_tokens_fed / max(st.llm_calls, 1),
            "context": statistics.mean(len(r.prompt_ids) + len(r.token_ids) for r in results),
            "latency": [r.stats.seconds for r in results], "ttft": [r.stats.ttft for r in results]}


def catch_up_cost(engine: Engine, prompt_ids: list[int], n: int = 256) -> float:
    """The LLM's seconds per token when it catches up on n tokens in one call (slot 0, emptied after),
    timed at the second such call: the first may compile or capture that shape."""
    runner = engine.runner("llm")
    n = min(n, engine._idle_session().window - 1)
    ids = (list(prompt_ids) * (n // len(prompt_ids) + 1))[:n]
    runner.reset(0)
    runner.catch_up([0], [ids])
    runner.reset(0)
    sync(engine.pair.device)
    t = time.perf_counter()
    runner.catch_up([0], [ids])
    sync(engine.pair.device)
    runner.reset(0)
    return (time.perf_counter() - t) / n


def step_cost(cell: Cell, never_routes, device: torch.device, steps: int = 24) -> dict:
    """Median seconds of the SLM's routed step and of a bare forward of the same runner, batch and
    context; on CUDA also host synchronisations per routed step."""
    sess = cell.engine.session(context_for(cell.prompts, cell.gens))
    for i, p in enumerate(cell.prompts):
        sess.submit(i, p, GenerationConfig(max_new_tokens=3 * steps + 8, ignore_eos=True, seed=i), never_routes)
    sess.step()  # prefill
    routed = []
    for _ in range(steps):
        sync(device)
        t = time.perf_counter()
        sess.step()
        sync(device)
        routed.append(time.perf_counter() - t)
    out = {}
    if device.type == "cuda":
        torch.cuda.set_sync_debug_mode("warn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(steps):
                sess.step()
        torch.cuda.set_sync_debug_mode(0)
        out["syncs_per_step"] = sum("synchroniz" in str(w.message) for w in caught) / steps
    slots = sorted(sess.rows)
    seqs = [list(sess.rows[s].tokens) for s in slots]
    bare = []
    for _ in range(steps):
        for q in seqs:
            q.append(q[-1])
        sync(device)
        t = time.perf_counter()
        sess.slm.catch_up(slots, seqs)
        sync(device)
        bare.append(time.perf_counter() - t)
    return out | {"routed_step_s": statistics.median(routed), "bare_forward_s": statistics.median(bare),
                  "step_per_forward": statistics.median(routed) / statistics.median(bare)}


def build_cells(pair, args, batch: int, bundle) -> list[Cell]:
    shipped = None if args.shapes else shipped_calibration(args.pair)
    calibration = load_calibration(shipped) if shipped else None
    cells = []
    for runner in args.runners:
        for workload in args.workloads:
            eval_like = workload.startswith("eval")
            eval_engine = workload == "eval"
            questions = common.gsm8k_train(batch)
            prompts = [pair.encode(q, system=defaults.MATH_SYSTEM if eval_like else None) for q in questions]
            tokens = args.eval_tokens if eval_like else args.new_tokens
            gens = [GenerationConfig(max_new_tokens=tokens, ignore_eos=not eval_like, seed=i) for i in range(batch)]
            methods = {"slm": (make_strategy("slm"), {}), "llm": (make_strategy("llm"), {})}
            for s in args.shares:
                if eval_like:
                    methods[f"neural@{s:g}"] = (make_strategy("neural", llm_share=s, router=bundle), {})
                    methods[f"random@{s:g}"] = (make_strategy("random", llm_share=s), {})  # share reset to the router's below
                    if calibration is not None:
                        methods[f"entropy@{s:g}"] = (make_strategy("entropy", llm_share=s, calibration=calibration), {})
                else:
                    methods[f"mixed@{s:g}"] = (make_strategy("random", llm_share=s), {})
            for k in args.spec:
                methods[f"spec@K={k}"] = (make_strategy("slm"), {"verify": "all", "max_draft": k})
            engine = Engine(pair, methods["slm"][0], max_batch=batch, runner=runner, prefix_cache=not eval_engine, invariant=eval_engine)
            cells.append(Cell(runner, workload, engine, prompts, gens, methods))
    return cells


def report_cell(cell: Cell, batch: int, runs: dict, cost: dict | None, warm_s: float) -> list[dict]:
    med = {n: statistics.median(x["tps"] for x in runs[n]) for n in cell.methods}
    cs_cl = med["llm"] / med["slm"]
    first = cell.prompts[0] if isinstance(cell.prompts[0], list) else cell.prompts[0].llm
    cp_cl = catch_up_cost(cell.engine, first) * med["llm"]
    print(f"\n{cell.runner} runner, {cell.workload} workload, batch {batch}: c_s/c_l = {cs_cl:.3f}, c_p/c_l = {cp_cl:.3f}")
    print(f"  {'method':<14}{'tok/s':>9}{'share':>7}{'speedup':>9}{'ideal':>7}{'÷ it':>6}{'w/ c_p':>8}{'÷ it':>6}"
          f"{'calls/tok':>10}{'tok/call':>9}{'wasted':>8}{'context':>8}{'p50 s':>7}{'TTFT':>7}")
    rows = []
    for name in cell.methods:
        rs = runs[name]
        r = statistics.mean(x["share"] for x in rs)
        row = {"runner": cell.runner, "workload": cell.workload, "batch": batch, "method": name, "tokens_per_s": med[name], "llm_share": r,
               "cs_cl": cs_cl, "cp_cl": cp_cl, **{k: statistics.mean(x[k] for x in rs) for k in
                                                   ("wasted", "llm_calls_per_token", "tokens_per_llm_call", "context")},
               "latency_p50": common.percentile([v for x in rs for v in x["latency"]], 0.5),
               "ttft_p50": common.percentile([v for x in rs for v in x["ttft"]], 0.5)}
        line = f"  {name:<14}{med[name]:>9.1f}{r:>7.3f}"
        if name not in ("slm", "llm"):
            speedup, ideal, bound = med[name] / med["llm"], 1 / (cs_cl + r), 1 / (cs_cl + r + (1 - r) * cp_cl)
            row.update(speedup=speedup, ideal=ideal, ratio=speedup / ideal, bound_catchup=bound, ratio_catchup=speedup / bound)
            line += f"{speedup:>8.2f}×{ideal:>6.2f}×{speedup / ideal:>6.2f}{bound:>7.2f}×{speedup / bound:>6.2f}"
        else:
            line += " " * 42
        line += (f"{row['llm_calls_per_token']:>10.3f}{row['tokens_per_llm_call']:>9.1f}{row['wasted']:>8.3f}{row['context']:>8.0f}"
                 f"{row['latency_p50']:>7.2f}{row['ttft_p50']:>7.3f}")
        print(line)
        rows.append(row)
    print(f"  warm-up (8 tokens of each method: first kernels, graphs, compiling) {warm_s:.1f} s")
    rows.append({"runner": cell.runner, "workload": cell.workload, "batch": batch, "method": "warm-up", "seconds": warm_s})
    sess = cell.engine._idle_session()
    captures = [getattr(r, "captures", None) for r in (sess.slm, sess.llm)]
    if any(c is not None for c in captures):
        seconds = sum(getattr(r, "capture_seconds", 0.0) for r in (sess.slm, sess.llm))
        print(f"  graphs captured: {sum(c or 0 for c in captures)} in {seconds:.1f} s")
        rows.append({"runner": cell.runner, "workload": cell.workload, "batch": batch, "method": "graph-capture",
                     "captures": sum(c or 0 for c in captures), "capture_seconds": seconds})
    if cost:
        print(f"  routed step {cost['routed_step_s'] * 1e3:.2f} ms ÷ bare forward {cost['bare_forward_s'] * 1e3:.2f} ms "
              f"= {cost['step_per_forward']:.2f} (goal ≤ 1.3)" +
              (f"; host syncs per routed step {cost['syncs_per_step']:.2f} (goal 1)" if "syncs_per_step" in cost else ""))
        rows.append({"runner": cell.runner, "workload": cell.workload, "batch": batch, "method": "step-cost", **cost})
    return rows


def reset_peak_rss() -> None:
    """Start VmHWM (peak RSS) afresh, so each batch size reports its own peak (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def kv_bytes(engine: Engine) -> int:
    sess = engine._idle_session()
    total = 0
    for r in (sess.slm, sess.llm):
        if hasattr(r, "k"):
            total += r.k.nbytes + r.v.nbytes
        elif hasattr(r, "cache"):
            total += r.cache.nbytes()
    return total


def main() -> None:
    ap = common.parser(__doc__, batch="1", router=True)
    ap.add_argument("--shapes", help="SLM,LLM random-weight shapes, e.g. 1.5b,14b (instead of --pair)")
    ap.add_argument("--echo", action="store_true", help="with --shapes: models whose layers add nothing, so both predict their "
                    "input token and agree everywhere (no rollbacks: provisional routing's best case; plain random weights are its worst)")
    ap.add_argument("--agree", type=float, help="with --shapes --echo: the LLM agrees with the SLM's token at this fraction of "
                    "positions (a seeded hash picks them; the default pair agrees at ~0.93), instead of everywhere")
    ap.add_argument("--runners", default="auto", help="comma-separated: auto, eager, static, graph, graph-compiled, llama.cpp")
    ap.add_argument("--workloads", default="synthetic", help="comma-separated: synthetic, eval, eval-fast")
    ap.add_argument("--spec", type=common.int_list, default=[], help="comma-separated draft lengths K: also speculative decoding")
    ap.add_argument("--shares", default="0.1,0.2")
    ap.add_argument("--new-tokens", type=int, default=128, help="synthetic workload: tokens per answer")
    ap.add_argument("--eval-tokens", type=int, default=512, help="eval workload: most tokens per answer")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-step-cost", action="store_true", help="skip the routed-step ÷ bare-forward measurement")
    args = ap.parse_args()
    args.runners, args.workloads = args.runners.split(","), args.workloads.split(",")
    args.shares = [float(s) for s in args.shares.split(",")]
    if args.echo and not args.shapes:
        ap.error("--echo builds random-weight models: give --shapes too")
    if args.agree is not None and not args.echo:
        ap.error("--agree sets how often echo models agree: give --shapes and --echo too")
    if not set(args.workloads) <= {"synthetic", "eval", "eval-fast"}:
        ap.error("--workloads takes synthetic, eval and eval-fast")
    if args.threads:
        torch.set_num_threads(args.threads)

    base_rss = common.proc_status("VmRSS")["VmRSS"] * 1024
    device = resolve_device(args.device)
    if args.shapes:
        slm_shape, llm_shape = args.shapes.split(",")
        pair = build_shape_pair(slm_shape, llm_shape, device, resolve_dtype(args.dtype, device), echo=args.echo, agree=args.agree)
        kind = "random" if not args.echo else "echo" if args.agree is None else f"echo, agreeing at {args.agree:g}"
        label = f"shapes {slm_shape} → {llm_shape} ({kind} weights)"
    else:
        pair = common.load(args)
        label = f"pair {args.pair}: {pair.slm.name} → {pair.llm.name}"
    needs_router = any(w.startswith("eval") for w in args.workloads) or not args.no_step_cost
    bundle, router_label = common.router_for(args, pair) if needs_router else (None, "")
    weights = pair.slm.weight_bytes + pair.llm.weight_bytes
    print(f"{label} | {device} {str(pair.slm.dtype).replace('torch.', '')} | threads {torch.get_num_threads()} | "
          f"SLM {pair.slm.params.total / 1e6:.1f}M, LLM {pair.llm.params.total / 1e6:.1f}M params | router: {router_label or 'none'}")

    report = {"label": label, "device": str(device), "router": router_label, "rows": []}
    for batch in args.batch:
        gc.collect()  # the last batch size's engines and caches are gone before this one's peak is read
        reset_peak_rss()
        cells = build_cells(pair, args, batch, bundle)
        warm = {}
        for cell in cells:  # warm-up: kernels, allocator, caches, graphs (and compiling, for graph-compiled)
            sync(device)
            t = time.perf_counter()
            for strat, over in cell.methods.values():
                cell.engine.generate(cell.prompts, [dataclasses.replace(g, max_new_tokens=8, **over) for g in cell.gens], strat)
            sync(device)
            warm[id(cell)] = time.perf_counter() - t
        runs = {(id(c), n): [] for c in cells for n in c.methods}
        for _ in range(args.repeats):  # round-robin: drift on a shared machine hits every method alike
            for cell in cells:
                for name in cell.methods:
                    res = timed(cell, name, device)
                    runs[(id(cell), name)].append(res)
                    if name.startswith("neural@"):  # random routing at the share the router measured
                        s = name.split("@")[1]
                        cell.methods[f"random@{s}"] = (make_strategy("random", llm_share=res["share"]), {})
        for cell in cells:
            cost = None
            if not args.no_step_cost and pair.slm.backend == "transformers":  # a bare forward of llama.cpp is not ours to time
                cost = step_cost(cell, NeuralStrategy(bundle, threshold=2.0), device)  # scores are ≤ 1: never routes
            report["rows"] += report_cell(cell, batch, {n: runs[(id(cell), n)] for n in cell.methods}, cost, warm[id(cell)])
        if device.type == "cpu":
            mem = (common.proc_status("VmHWM")["VmHWM"] * 1024 - base_rss) / weights
            print(f"  peak RSS beyond imports ÷ weights at batch {batch} = {mem:.3f} (goal ≤ 1.2)")
            report.setdefault("mem_ratio_by_batch", {})[batch] = mem
        else:
            kv = max(kv_bytes(c.engine) for c in cells)
            ratio = torch.cuda.max_memory_allocated() / (weights + kv)
            print(f"  peak GPU memory ÷ (weights + KV caches) at batch {batch} = {ratio:.2f} (weights {weights / 2**30:.1f} GiB, "
                  f"KV {kv / 2**30:.2f} GiB; goal ≤ 1.2)")
            report.setdefault("mem_ratio_by_batch", {})[batch] = ratio
        del cells
    if args.json_out:
        common.write_json(args.json_out, report)


if __name__ == "__main__":
    sys.exit(main())
