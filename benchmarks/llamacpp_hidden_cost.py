"""What llama.cpp's embeddings mode costs a runner: prefill and catch-up time, side by side.

    python benchmarks/llamacpp_hidden_cost.py [--repeats 3] [--json PATH]

On the default pair's GGUF files, a 64-token prompt's prefill (logits at its last token only) and
four 8-token catch-ups (a routed row's LLM call), with three runner settings alternated:
  - always: embeddings mode on every call, as the runners were before (llama.cpp then runs the
    output head on every token fed, so calls must allow 64 outputs);
  - hidden: the SLM's runner now (the mode on only for calls that return something);
  - logits only: the LLM's runner now (the mode never on).
Prints the time of each and its ratio to "always"; with --json, one line per measurement.
"""

import argparse
import json
import statistics
import time

from r2route.engine.llamacpp_runner import CallShape, LlamaCppRunner
from r2route.pair import PairConfig, load_pair


class AlwaysEmbeddings(LlamaCppRunner):
    def _wants_embeddings(self, chunk) -> bool:
        return True


SETTINGS = {
    "always": lambda lm: AlwaysEmbeddings(lm, 1, 256, CallShape(64, 64), hidden=True),
    "hidden": lambda lm: LlamaCppRunner(lm, 1, 256, hidden=True),
    "logits only": lambda lm: LlamaCppRunner(lm, 1, 256, hidden=False),
}


def measure(runner) -> tuple[float, float]:
    seq = list(range(1000, 1064))
    t = time.perf_counter()
    runner.catch_up([0], [seq])
    prefill = time.perf_counter() - t
    t = time.perf_counter()
    for k in range(4):
        seq += list(range(3000 + 8 * k, 3008 + 8 * k))
        runner.catch_up([0], [seq])
    return prefill, (time.perf_counter() - t) / 4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    pair = load_pair(PairConfig(pair="default"))
    for name, lm in (("Qwen2.5-Coder-0.5B", pair.slm), ("Qwen2.5-Coder-1.5B", pair.llm)):
        got = {s: [] for s in SETTINGS}
        for _ in range(args.repeats):
            for s, make in SETTINGS.items():
                runner = make(lm)
                got[s].append(measure(runner))
                del runner
        base = [statistics.median(x[i] for x in got["always"]) for i in (0, 1)]
        for s, xs in got.items():
            med = [statistics.median(x[i] for x in xs) for i in (0, 1)]
            print(f"{name} {s:>12}: prefill 64 {med[0] * 1e3:7.1f} ms ({med[0] / base[0]:.2f}×), "
                  f"catch-up 8 {med[1] * 1e3:6.1f} ms ({med[1] / base[1]:.2f}×)", flush=True)
            if args.json_out:
                with open(args.json_out, "a") as f:
                    f.write(json.dumps({"model": name, "setting": s, "prefill_64_s": med[0], "catch_up_8_s": med[1],
                                        "prefill_ratio": med[0] / base[0], "catch_up_ratio": med[1] / base[1]}) + "\n")


if __name__ == "__main__":
    main()
