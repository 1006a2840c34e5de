"""Calibrate the engine's schedule: tokens/s of mixed decoding for each (max_age, rows_fraction).

    python benchmarks/schedule_sweep.py --pair default --batch 8 --shares 0.1,0.2 [--json PATH]

The schedule (engine/schedule.py) calls the LLM once ``rows_fraction`` of the running rows have
pending positions or the oldest is ``max_age`` steps old. Later calls serve more rows per call but
throw away more SLM tokens on a rollback; the best point depends on the hardware's cost ratios, so
it is measured here, once per machine, and written into defaults.py by hand, never measured
during a run. Random routing at each share; the tokens are the same at every point (a test pins
that), only the cost moves. Configurations are interleaved, median of --repeats; with several
--batch sizes, one sweep per size.
"""

from __future__ import annotations

import time

from common import gsm8k_train, int_list, load, median, parser, write_jsonl
from r2route.engine import Engine, GenerationConfig
from r2route.engine.schedule import Schedule
from r2route.router import make_strategy


def sweep(engines: dict, prompts: list, share: float, args) -> dict:
    """Per schedule point: (median tokens/s over --repeats, the last run's stats)."""
    batch = len(prompts)
    gen = [GenerationConfig(max_new_tokens=args.new_tokens, ignore_eos=True, seed=i) for i in range(batch)]
    strat = make_strategy("random", llm_share=share)
    for e in engines.values():  # warm-up
        e.generate(prompts, [GenerationConfig(max_new_tokens=4, ignore_eos=True)] * batch, strat)
    tps = {pt: [] for pt in engines}
    stats = {}
    for _ in range(args.repeats):  # round-robin: drift on a shared machine hits every point alike
        for pt, e in engines.items():
            t = time.perf_counter()
            _, stats[pt] = e.generate(prompts, gen, strat)
            tps[pt].append(stats[pt].tokens / (time.perf_counter() - t))
    return {pt: (median(tps[pt]), stats[pt]) for pt in engines}


def report(share: float, batch: int, measured: dict) -> list[dict]:
    """Print one share's sweep and return its rows."""
    print(f"\nshare {share}, batch {batch}: tokens/s (LLM calls, SLM tokens wasted per generated token)")
    rows = []
    for (age, fraction), (tps, st) in measured.items():
        row = {"share": share, "batch": batch, "max_age": age, "rows_fraction": fraction, "tokens_per_s": tps,
               "llm_calls": st.llm_calls, "wasted_per_token": st.wasted_slm_tokens / st.tokens}
        rows.append(row)
        print(f"  max_age {age:>2}  rows_fraction {fraction:<5} {tps:8.1f} tok/s  ({st.llm_calls} LLM calls, "
              f"{row['wasted_per_token']:.3f} wasted/token)")
    best = max(rows, key=lambda r: r["tokens_per_s"])
    print(f"  best: max_age {best['max_age']}, rows_fraction {best['rows_fraction']}")
    return rows


def main() -> None:
    ap = parser(__doc__, batch="8")
    ap.add_argument("--shares", default="0.1,0.2")
    ap.add_argument("--ages", type=int_list, default="0,2,4,8,16")
    ap.add_argument("--fractions", default="0.25,0.5,1.0")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    pair = load(args)
    points = [(a, float(f)) for a in args.ages for f in args.fractions.split(",")]
    rows = []
    for batch in args.batch:
        prompts = [pair.encode(q) for q in gsm8k_train(batch)]
        engines = {pt: Engine(pair, make_strategy("slm"), max_batch=batch, schedule=Schedule(*pt)) for pt in points}
        for share in (float(x) for x in args.shares.split(",")):
            rows += report(share, batch, sweep(engines, prompts, share, args))
    if args.json_out:
        write_jsonl(args.json_out, rows)


if __name__ == "__main__":
    main()
