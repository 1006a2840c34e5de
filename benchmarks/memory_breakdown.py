"""Where the default pair's memory goes beyond its weights: RSS after each step of loading and decoding.

    python benchmarks/memory_breakdown.py [--batch 1] [--new-tokens 32]

Prints anonymous and file-backed RSS (Linux /proc/self/status) after the imports, the pair's load
(tokenizer, then each llama.cpp model), the first session and one generation, and peak RSS beyond
the imports ÷ weight bytes (issue 16's goal: ≤ 1.2). File-backed pages are mostly the mmapped
weights; anonymous ones are everything else.
"""

import argparse
import json

from r2route.engine import Engine, GenerationConfig
from r2route.pair import PairConfig, load_pair
from r2route.router import make_strategy


def status(*fields: str) -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            name = line.split(":")[0]
            if name in fields:
                out[name] = int(line.split()[1]) // 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    steps = {"imports": status("VmRSS", "RssAnon", "RssFile")}
    pair = load_pair(PairConfig(pair="default"))
    steps["pair loaded"] = status("VmRSS", "RssAnon", "RssFile")
    engine = Engine(pair, make_strategy("random", llm_share=0.2), max_batch=args.batch)
    prompts = [pair.encode("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                           "How many clips did Natalia sell altogether in April and May?")] * args.batch
    engine.generate(prompts, GenerationConfig(max_new_tokens=args.new_tokens, ignore_eos=True))
    steps["generated"] = status("VmRSS", "RssAnon", "RssFile", "VmHWM")
    weights = (pair.slm.weight_bytes + pair.llm.weight_bytes) / 2**20
    ratio = (steps["generated"]["VmHWM"] - steps["imports"]["VmRSS"]) / weights
    if args.json:
        print(json.dumps({"steps": steps, "weights_mib": weights, "batch": args.batch, "mem_ratio": ratio}))
        return
    for name, s in steps.items():
        print(f"{name:>12}: RSS {s['VmRSS']:>5} MiB (anonymous {s['RssAnon']:>4}, file {s['RssFile']:>5})")
    print(f"weights {weights:.0f} MiB; batch {args.batch}, {args.new_tokens} new tokens: "
          f"peak RSS beyond imports ÷ weights = {ratio:.3f} (goal ≤ 1.2)")


if __name__ == "__main__":
    main()
