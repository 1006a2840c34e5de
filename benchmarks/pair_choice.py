"""Which registry SLM gives more accuracy per cost? Accuracy, LLM share and speed side by side.

    python benchmarks/pair_choice.py --n 20 --pairs default,smollm2 --thresholds 0.05,0.1

Runs GSM8K *train* questions (never test ones) through each pair with entropy routing at each
threshold, plus the LLM and each SLM alone, and prints accuracy (last number in the answer vs
the gold `#### N`), measured LLM share and tokens/s. A quick check for choosing the default pair;
`r2route eval` is the full harness.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from r2route.engine import Engine, GenerationConfig
from r2route.pair import PairConfig, load_pair
from r2route.router import make_strategy

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k" / "train.jsonl"
SYSTEM = "Solve the math problem step by step. End with: The answer is N."


def last_number(text: str) -> str | None:
    nums = re.findall(r"-?\d[\d,]*\.?\d*", text)
    return nums[-1].replace(",", "").rstrip(".") if nums else None


def run(pair, strategy, records, max_new, batch, piece="token") -> dict:
    prompts = [pair.encode(r["question"], system=SYSTEM) for r in records]
    gold = [r["answer"].split("####")[-1].strip().replace(",", "") for r in records]
    t = time.perf_counter()
    results, stats = Engine(pair, strategy, max_batch=batch, piece=piece).generate(prompts, GenerationConfig(max_new_tokens=max_new))
    secs = time.perf_counter() - t
    correct = sum(last_number(r.text) == g for r, g in zip(results, gold))
    return {"accuracy": correct / len(records), "correct": correct, "llm_share": stats.llm_share, "tokens_per_s": stats.tokens / secs, "tokens": stats.tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--pairs", default="default,smollm2")
    ap.add_argument("--thresholds", default="0.05,0.1")
    ap.add_argument("--max-new-tokens", type=int, default=320)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--piece", default="token", help="text handoff: what the LLM writes when routed (token or word)")
    ap.add_argument("--no-baselines", action="store_true", help="skip the SLM-alone and LLM-alone rows")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    with open(DATA) as f:
        records = [json.loads(next(f)) for _ in range(args.n)]
    rows = []
    llm_done = False
    for name in args.pairs.split(","):
        pair = load_pair(PairConfig(pair=name))
        configs = [] if args.no_baselines else [("slm", make_strategy("slm"))]
        configs += [(f"entropy≥{t}", make_strategy("entropy", threshold=float(t))) for t in args.thresholds.split(",")]
        if not llm_done and not args.no_baselines:
            configs.append(("llm", make_strategy("llm")))
            llm_done = True
        for label, strat in configs:
            r = run(pair, strat, records, args.max_new_tokens, args.batch, args.piece)
            r.update(pair=name, method=label, slm=pair.slm.name, llm=pair.llm.name, handoff=pair.handoff, piece=args.piece)
            rows.append(r)
            print(f"{name:<9}{label:<14}{args.piece:<6}acc {r['correct']:>2}/{args.n}  LLM share {r['llm_share']:.3f}  {r['tokens_per_s']:.1f} tok/s", flush=True)
        del pair
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
