"""Calibrate engine v2's schedule: tokens/s of mixed decoding for each (max_age, rows_fraction).

    python benchmarks/schedule_sweep.py --pair default --batch 8 --shares 0.1,0.2 [--json PATH]

The schedule (engine/schedule.py) calls the LLM once ``rows_fraction`` of the running rows have
pending positions or the oldest is ``max_age`` steps old. Later calls serve more rows per call but
throw away more SLM tokens on a rollback; the best point depends on the hardware's cost ratios, so
it is measured here, once per configuration, and written into defaults.py by hand, never measured
during a run. Random routing at each share; the tokens are the same at every point (a test pins
that), only the cost moves. Configurations are interleaved, median of --repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from r2route.engine import Engine, GenerationConfig
from r2route.engine.schedule import Schedule
from r2route.pair import PairConfig, load_pair
from r2route.router import make_strategy

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k" / "train.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", default="tiny")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--shares", default="0.1,0.2")
    ap.add_argument("--ages", default="0,2,4,8,16")
    ap.add_argument("--fractions", default="0.25,0.5,1.0")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    pair = load_pair(PairConfig(pair=args.pair))
    with open(DATA) as f:
        prompts = [pair.encode(json.loads(next(f))["question"]) for _ in range(args.batch)]
    gen = [GenerationConfig(max_new_tokens=args.new_tokens, ignore_eos=True, seed=i) for i in range(args.batch)]
    points = [(a, f) for a in (int(x) for x in args.ages.split(",")) for f in (float(x) for x in args.fractions.split(","))]
    engines = {pt: Engine(pair, make_strategy("slm"), max_batch=args.batch, schedule=Schedule(*pt)) for pt in points}
    rows = []
    for share in (float(s) for s in args.shares.split(",")):
        strat = make_strategy("random", llm_share=share)
        for e in engines.values():  # warm-up
            e.generate(prompts, [GenerationConfig(max_new_tokens=4, ignore_eos=True)] * args.batch, strat)
        tps = {pt: [] for pt in points}
        stats = {}
        for _ in range(args.repeats):
            for pt, e in engines.items():
                t = time.perf_counter()
                _, st = e.generate(prompts, gen, strat)
                tps[pt].append(st.tokens / (time.perf_counter() - t))
                stats[pt] = st
        print(f"\nshare {share}, batch {args.batch}: tokens/s (LLM calls, SLM tokens wasted per generated token)")
        for pt in points:
            st = stats[pt]
            row = {"share": share, "batch": args.batch, "max_age": pt[0], "rows_fraction": pt[1], "tokens_per_s": statistics.median(tps[pt]),
                   "llm_calls": st.llm_calls, "wasted_per_token": st.wasted_slm_tokens / st.tokens}
            rows.append(row)
            print(f"  max_age {pt[0]:>2}  rows_fraction {pt[1]:<5} {row['tokens_per_s']:8.1f} tok/s  ({st.llm_calls} LLM calls, "
                  f"{row['wasted_per_token']:.3f} wasted/token)")
        best = max((r for r in rows if r["share"] == share), key=lambda r: r["tokens_per_s"])
        print(f"  best: max_age {best['max_age']}, rows_fraction {best['rows_fraction']}")
    if args.json_out:
        Path(args.json_out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
