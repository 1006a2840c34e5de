"""Speed of mixed decoding, measured side by side in one run.

    python benchmarks/speed.py --pair tiny --batch 1,4,8,16
    python benchmarks/speed.py --shapes 1.5b,14b --device cuda --batch 1,8,32

Prints, per batch size: SLM-only, LLM-only and mixed (random routing at each --shares) tokens/s;
the per-token cost ratio c_s/c_l; the speedup of mixed over LLM-only; and that speedup divided by
the ideal bound 1/(c_s/c_l + r), with r the LLM share measured in the same run (goal ≥ 0.75).
The ideal bound takes the LLM's KV catch-up as free, as it nearly is on a GPU. Every token must
enter the LLM's cache before the LLM can write, so the run also measures the LLM's prefill cost
per token c_p and prints the bound with catch-up, 1/(c_s/c_l + r + (1−r)·c_p/c_l).
Mixed rows also report the SLM tokens that rollbacks wasted per generated token (provisional
routing: no row waits for the LLM). Per request: p50/p99 latency and p50 time to first token.
Also the memory overhead: peak memory beyond the imports ÷ weight bytes (goal ≤ 1.2).
Methods are interleaved round-robin and the median of --repeats is reported, so drift on a shared
machine hits all methods alike. Outputs are fixed-length (EOS ignored). One engine serves all
methods, so after the warm-up its prefix cache holds every prompt: the figures are decode speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from r2route.engine import Engine, GenerationConfig
from r2route.pair import PairConfig, load_pair
from r2route.pair.loading import resolve_device, resolve_dtype
from r2route.pair.shapes import build_shape_pair
from r2route.router import make_strategy

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k" / "train.jsonl"
FALLBACK = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?"


def status_bytes(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> None:
    """Start VmHWM (peak RSS) afresh, so each batch size reports its own peak (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def questions(n: int) -> list[str]:
    """Training questions (never test ones) as prompts; a fixed question where the data is absent."""
    if DATA.is_file():
        with open(DATA) as f:
            return [json.loads(next(f))["question"] for _ in range(n)]
    return [FALLBACK] * n


def prefill_seconds_per_token(engine: Engine, prompt_ids, n: int = 256) -> float:
    """The LLM's cost per token when it catches up on n tokens in one call (slot 0, emptied after)."""
    ids = (list(prompt_ids) * (n // len(prompt_ids) + 1))[:n]
    runner = engine.runner("llm")
    runner.reset(0)
    t = time.perf_counter()
    runner.catch_up([0], [ids])
    if engine.pair.device.type == "cuda":
        torch.cuda.synchronize()
    runner.reset(0)
    return (time.perf_counter() - t) / n


def timed(engine: Engine, strategy, prompts, gen, device) -> dict:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    results, st = engine.generate(prompts, gen, strategy)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"tps": st.tokens / (time.perf_counter() - t), "share": st.llm_share, "wasted": st.wasted_slm_tokens / max(st.tokens, 1),
            "latency": [r.stats.seconds for r in results], "ttft": [r.stats.ttft for r in results]}


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", default="tiny")
    ap.add_argument("--shapes", help="SLM,LLM random-weight shapes, e.g. 1.5b,14b")
    ap.add_argument("--echo", action="store_true", help="with --shapes: models whose layers add nothing, so both predict their "
                    "input token and agree everywhere (no rollbacks: provisional routing's best case; plain random weights are its worst)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--batch", default="1", help="comma-separated batch sizes")
    ap.add_argument("--spec", default="", help="comma-separated draft lengths K: also speculative decoding (SLM drafts, the LLM "
                    "checks every token, lossless)")
    ap.add_argument("--shares", default="0.1,0.2")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    ap.add_argument("--json", dest="json_out", help="also write the figures here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.echo and not args.shapes:
        ap.error("--echo builds random-weight models: give --shapes too")
    base_rss = status_bytes()
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.shapes:
        slm_shape, llm_shape = args.shapes.split(",")
        pair = build_shape_pair(slm_shape, llm_shape, device, dtype, echo=args.echo)
        label = f"shapes {slm_shape} → {llm_shape} ({'echo' if args.echo else 'random'} weights)"
    else:
        pair = load_pair(PairConfig(pair=args.pair, device=str(device), dtype=args.dtype))
        label = f"pair {args.pair}: {pair.slm.name} → {pair.llm.name}"
    weights = pair.slm.weight_bytes + pair.llm.weight_bytes
    shares = [float(s) for s in args.shares.split(",")]
    methods = [("slm", make_strategy("slm")), ("llm", make_strategy("llm"))] + [
        (f"mixed@{s:g}", make_strategy("random", llm_share=s)) for s in shares
    ]
    drafts = [int(k) for k in args.spec.split(",") if k]
    verified = {f"spec@K={k}": k for k in drafts}  # method name → max_draft; run with verify all
    print(f"{label} | {device} {str(dtype).replace('torch.', '')} | threads {torch.get_num_threads()} | "
          f"{args.new_tokens} new tokens | SLM {pair.slm.params.total / 1e6:.1f}M, LLM {pair.llm.params.total / 1e6:.1f}M params")

    report = {"label": label, "device": str(device), "rows": []}
    engines = ["v2"]  # the label the JSON rows keep (the first engine, whose routed rows waited, is gone)
    for batch in (int(b) for b in args.batch.split(",")):
        prompts = [pair.encode(q) for q in questions(batch)]
        gen = [GenerationConfig(max_new_tokens=args.new_tokens, ignore_eos=True, seed=i) for i in range(batch)]
        # One engine of each kind (one set of KV caches / llama.cpp contexts) serves every method, as it would a user.
        built = {}
        gc.collect()  # the last batch size's engine and its caches are gone before this one's peak is read
        reset_peak_rss()
        built = {e: Engine(pair, methods[0][1], max_batch=batch) for e in engines}
        strategies = dict(methods) | {name: make_strategy("slm") for name in verified}
        for engine in built.values():
            for strat in strategies.values():  # warm-up: kernels, allocator, caches
                engine.generate(prompts, [GenerationConfig(max_new_tokens=8, ignore_eos=True)] * batch, strat)
        runs: dict[tuple[str, str], list[dict]] = {(e, n): [] for e in engines for n in strategies}
        for _ in range(args.repeats):  # round-robin over engines and methods: drift hits all alike
            for e, engine in built.items():
                for name, strat in strategies.items():
                    g = [dataclasses.replace(x, verify="all", max_draft=verified[name]) for x in gen] if name in verified else gen
                    runs[(e, name)].append(timed(engine, strat, prompts, g, device))
        first = prompts[0] if isinstance(prompts[0], list) else prompts[0].llm
        print(f"\nbatch {batch}")
        print(f"  {'engine':<7}{'method':<12}{'tok/s':>9}{'LLM share':>10}{'speedup':>9}{'ideal':>8}{'÷ ideal':>9}{'w/ catch-up':>12}{'÷ it':>7}"
              f"{'wasted/tok':>11}{'p50 s':>8}{'p99 s':>8}{'TTFT p50':>10}")
        for e, engine in built.items():
            med = {n: statistics.median(x["tps"] for x in runs[(e, n)]) for n in strategies if runs[(e, n)]}
            cs_cl = med["llm"] / med["slm"]
            cp_cl = prefill_seconds_per_token(engine, first) * med["llm"]
            for name in strategies:
                rs = runs[(e, name)]
                if not rs:
                    continue
                r = statistics.mean(x["share"] for x in rs)
                lat = [v for x in rs for v in x["latency"]]
                ttft = [v for x in rs for v in x["ttft"]]
                wasted = statistics.mean(x["wasted"] for x in rs)
                row = {"engine": e, "batch": batch, "method": name, "tokens_per_s": med[name], "llm_share": r, "wasted_per_token": wasted,
                       "latency_p50": pct(lat, 0.5), "latency_p99": pct(lat, 0.99), "ttft_p50": pct(ttft, 0.5)}
                line = f"  {e:<7}{name:<12}{med[name]:>9.1f}{r:>10.3f}"
                if name.startswith("spec"):
                    row.update(speedup=med[name] / med["llm"])
                    line += f"{med[name] / med['llm']:>8.2f}×" + " " * 44
                elif name.startswith("mixed"):
                    speedup = med[name] / med["llm"]
                    ideal = 1.0 / (cs_cl + r)
                    bound = 1.0 / (cs_cl + r + (1 - r) * cp_cl)
                    row.update(speedup=speedup, ideal=ideal, ratio=speedup / ideal, bound_catchup=bound, ratio_catchup=speedup / bound)
                    line += f"{speedup:>8.2f}×{ideal:>7.2f}×{speedup / ideal:>9.2f}{bound:>11.2f}×{speedup / bound:>7.2f}"
                else:
                    line += " " * 52
                line += f"{wasted:>11.3f}{row['latency_p50']:>8.2f}{row['latency_p99']:>8.2f}{row['ttft_p50']:>10.3f}"
                print(line)
                report["rows"].append(row)
            print(f"  {e}: c_s/c_l = {cs_cl:.3f}   c_p/c_l = {cp_cl:.3f} (LLM prefill ÷ decode cost per token)")
            if device.type == "cpu":  # caches sized to these requests (prompt + new tokens per slot)
                mem = (status_bytes("VmHWM") - base_rss) / weights
                print(f"  peak RSS beyond imports ÷ weights at batch {batch} = {mem:.3f} (goal ≤ 1.2)")
                report.setdefault("mem_ratio_by_batch", {})[batch] = mem
            report.setdefault("cs_cl", {}).setdefault(e, {})[batch] = cs_cl
            report.setdefault("cp_cl", {}).setdefault(e, {})[batch] = cp_cl

    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
        print(f"\npeak GPU memory ÷ weights = {peak / weights:.2f} (weights {weights / 2**20:.0f} MiB; goal ≤ 1.2)")
        report["mem_ratio"] = peak / weights
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        ratio = (peak - base_rss) / weights
        note = " — weights this small are dwarfed by allocator and framework overhead" if weights < 64 * 2**20 else ""
        print(f"\npeak RSS beyond imports ÷ weights = {ratio:.2f} (weights {weights / 2**20:.1f} MiB; goal ≤ 1.2){note}")
        report["mem_ratio"] = ratio
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.exit(main())
