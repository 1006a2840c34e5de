"""Speed of mixed decoding, measured side by side in one run.

    python benchmarks/speed.py --pair tiny
    python benchmarks/speed.py --shapes 1.5b,14b --device cuda --batch 1,8

Prints, per batch size: SLM-only, LLM-only and mixed (random routing at each --shares) tokens/s;
the per-token cost ratio c_s/c_l; the speedup of mixed over LLM-only; and that speedup divided by
the ideal bound 1/(c_s/c_l + r), with r the LLM share measured in the same run (goal ≥ 0.75).
The ideal bound takes the LLM's KV catch-up as free, as it nearly is on a GPU. Every token must
enter the LLM's cache before the LLM can write, so the run also measures the LLM's prefill cost
per token c_p and prints the bound with catch-up, 1/(c_s/c_l + r + (1−r)·c_p/c_l).
Also the memory overhead: peak memory beyond the imports ÷ weight bytes (goal ≤ 1.2).
Methods are interleaved round-robin and the median of --repeats is reported, so drift on a shared
machine hits all methods alike. Outputs are fixed-length (EOS ignored). One engine serves all
methods, so after the warm-up its prefix cache holds every prompt: the figures are decode speed.
"""

from __future__ import annotations

import argparse
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


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


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


def timed(engine: Engine, strategy, prompts, gen, device) -> tuple[float, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    _, st = engine.generate(prompts, gen, strategy)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return st.tokens / (time.perf_counter() - t), st.llm_share


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", default="tiny")
    ap.add_argument("--shapes", help="SLM,LLM random-weight shapes, e.g. 1.5b,14b")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--batch", default="1", help="comma-separated batch sizes")
    ap.add_argument("--shares", default="0.1,0.2")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    ap.add_argument("--json", dest="json_out", help="also write the figures here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    base_rss = rss_bytes()
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.shapes:
        slm_shape, llm_shape = args.shapes.split(",")
        pair = build_shape_pair(slm_shape, llm_shape, device, dtype)
        label = f"shapes {slm_shape} → {llm_shape} (random weights)"
    else:
        pair = load_pair(PairConfig(pair=args.pair, device=str(device), dtype=args.dtype))
        label = f"pair {args.pair}: {pair.slm.name} → {pair.llm.name}"
    weights = pair.slm.weight_bytes + pair.llm.weight_bytes
    shares = [float(s) for s in args.shares.split(",")]
    methods = [("slm", make_strategy("slm")), ("llm", make_strategy("llm"))] + [
        (f"mixed@{s:g}", make_strategy("random", llm_share=s)) for s in shares
    ]
    print(f"{label} | {device} {str(dtype).replace('torch.', '')} | threads {torch.get_num_threads()} | "
          f"{args.new_tokens} new tokens | SLM {pair.slm.params.total / 1e6:.1f}M, LLM {pair.llm.params.total / 1e6:.1f}M params")

    report = {"label": label, "device": str(device), "rows": []}
    for batch in (int(b) for b in args.batch.split(",")):
        prompts = [pair.encode(q) for q in questions(batch)]
        gen = [GenerationConfig(max_new_tokens=args.new_tokens, ignore_eos=True, seed=i) for i in range(batch)]
        # One engine (one set of KV caches / llama.cpp contexts) serves every method, as it would a user.
        engine = Engine(pair, methods[0][1], max_batch=batch)
        strategies = dict(methods)
        for strat in strategies.values():  # warm-up: kernels, allocator, caches
            engine.generate(prompts, [GenerationConfig(max_new_tokens=8, ignore_eos=True)] * batch, strat)
        tps: dict[str, list[float]] = {n: [] for n in strategies}
        share: dict[str, list[float]] = {n: [] for n in strategies}
        for _ in range(args.repeats):
            for name, strat in strategies.items():
                t, r = timed(engine, strat, prompts, gen, device)
                tps[name].append(t)
                share[name].append(r)
        med = {n: statistics.median(v) for n, v in tps.items()}
        cs_cl = med["llm"] / med["slm"]
        first = prompts[0] if isinstance(prompts[0], list) else prompts[0].llm
        cp_cl = prefill_seconds_per_token(engine, first) * med["llm"]
        print(f"\nbatch {batch}")
        print(f"  {'method':<12}{'tok/s':>10}{'LLM share':>11}{'speedup':>9}{'ideal':>8}{'÷ ideal':>9}{'w/ catch-up':>13}{'÷ it':>7}")
        for name in strategies:
            r = statistics.mean(share[name])
            row = {"batch": batch, "method": name, "tokens_per_s": med[name], "llm_share": r}
            line = f"  {name:<12}{med[name]:>10.1f}{r:>11.3f}"
            if name.startswith("mixed"):
                speedup = med[name] / med["llm"]
                ideal = 1.0 / (cs_cl + r)
                bound = 1.0 / (cs_cl + r + (1 - r) * cp_cl)
                row.update(speedup=speedup, ideal=ideal, ratio=speedup / ideal, bound_catchup=bound, ratio_catchup=speedup / bound)
                line += f"{speedup:>8.2f}×{ideal:>7.2f}×{speedup / ideal:>9.2f}{bound:>12.2f}×{speedup / bound:>7.2f}"
            print(line)
            report["rows"].append(row)
        print(f"  c_s/c_l = {cs_cl:.3f}   c_p/c_l = {cp_cl:.3f} (LLM prefill ÷ decode cost per token)")
        report.setdefault("cs_cl", {})[batch] = cs_cl
        report.setdefault("cp_cl", {})[batch] = cp_cl

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
