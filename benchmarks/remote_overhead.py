"""Per-call overhead of a remote LLM (OpenAI-compatible completions over HTTP) on loopback.

    python benchmarks/remote_overhead.py --calls 50

Starts `r2route serve --strategy llm` with the tiny pair and times one-token completions three
ways, side by side: the same model's step in-process (catch up one token, read the logits);
remote calls whose prompt grows by the previous answer (what the mixed decoder sends; the
server's prefix cache keeps the shared part); and remote calls with unrelated prompts of the
same length (no cache hits). Overhead = remote − in-process.
"""

from __future__ import annotations

import argparse
import statistics
import time

from r2route.engine import GenerationConfig
from r2route.engine.runners import make_runner
from r2route.pair import PairConfig, load_pair
from r2route.server.launch import running_server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()
    with running_server(["--pair", "tiny", "--device", "cpu", "--strategy", "llm", "--model-name", "tiny-llm"]) as base:
        pair = load_pair(PairConfig(pair="tiny", device="cpu", llm_url=f"{base}/v1"))
        local = load_pair(PairConfig(pair="tiny", device="cpu"))
        remote, gen = pair.llm, GenerationConfig(max_new_tokens=1)
        prompt = pair.encode("Natalia sold clips to 48 of her friends in April.").llm

        runner = make_runner(local.llm, 1, 32.0)
        ids = local.encode("Natalia sold clips to 48 of her friends in April.")
        runner.catch_up([0], [ids])
        in_process = []
        for _ in range(args.calls):
            ids = ids + [int(ids[-1] % 900) + 3]
            t = time.perf_counter()
            runner.catch_up([0], [ids])
            in_process.append(time.perf_counter() - t)

        growing, text = [], ""
        remote.complete([prompt], [gen])  # warm-up
        for _ in range(args.calls):
            t = time.perf_counter()
            (piece, _), = remote.complete([prompt + text], [gen])
            growing.append(time.perf_counter() - t)
            text += piece or "x"

        cold = []
        for i in range(args.calls):
            t = time.perf_counter()
            remote.complete([f"{i} " + prompt + text[: len(text) // 2]], [gen])
            cold.append(time.perf_counter() - t)

    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    print(f"one-token LLM step, median of {args.calls} (tiny pair, CPU, loopback)")
    print(f"  in-process step                      {ms(in_process):7.2f} ms")
    print(f"  remote, growing prompt (prefix hits) {ms(growing):7.2f} ms   overhead {ms(growing) - ms(in_process):6.2f} ms/call")
    print(f"  remote, unrelated prompts (no hits)  {ms(cold):7.2f} ms")


if __name__ == "__main__":
    main()
