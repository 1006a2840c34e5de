"""What one llama.cpp call costs by the number of tokens in it, and what halving mid-size calls buys.

    python benchmarks/llamacpp_call_sizes.py [--repeats 3] [--json PATH]

On each of the default pair's GGUF files: 16 rows with a 40-token prompt each, then decode calls
of n = 1..16 tokens (one new token for each of n rows, logits for each), timed with whole calls
(no halving) and with generate's call shape (calls of defaults.LLAMACPP_HALVE_CALLS tokens cut in
two), alternated. Prints the median ms per catch-up and tok/s; with --json, one line per size.
"""

import argparse
import json
import statistics
import time
from dataclasses import replace

from r2route.engine.llamacpp_runner import CallShape, LlamaCppRunner
from r2route.pair import PairConfig, load_pair

ROWS = 16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    pair = load_pair(PairConfig(pair="default"))
    shapes = {"whole": replace(CallShape.default(invariant=False), halve=None), "halved": CallShape.default(invariant=False)}
    for name, lm in (("Qwen2.5-Coder-0.5B", pair.slm), ("Qwen2.5-Coder-1.5B", pair.llm)):
        runners, seqs = {}, {}
        for s, shape in shapes.items():
            runners[s] = LlamaCppRunner(lm, ROWS, 256, shape, hidden=False)
            seqs[s] = [list(range(1000 + 50 * i, 1040 + 50 * i)) for i in range(ROWS)]
            runners[s].catch_up(list(range(ROWS)), seqs[s])
        times = {}
        for _ in range(args.repeats):
            for n in range(1, ROWS + 1):
                for s in shapes:
                    slots = list(range(n))
                    for i in slots:
                        seqs[s][i].append(5000 + len(seqs[s][i]))
                    t = time.perf_counter()
                    runners[s].catch_up(slots, [seqs[s][i] for i in slots])
                    times.setdefault((n, s), []).append(time.perf_counter() - t)
        print(name)
        for n in range(1, ROWS + 1):
            m = {s: statistics.median(times[(n, s)]) for s in shapes}
            print(f"  {n:2d} tokens: whole {m['whole'] * 1e3:6.1f} ms ({n / m['whole']:5.1f} tok/s), "
                  f"halved {m['halved'] * 1e3:6.1f} ms ({n / m['halved']:5.1f} tok/s)", flush=True)
            if args.json_out:
                with open(args.json_out, "a") as f:
                    f.write(json.dumps({"model": name, "tokens": n, "whole_s": m["whole"], "halved_s": m["halved"]}) + "\n")


if __name__ == "__main__":
    main()
