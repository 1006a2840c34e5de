"""Load on `r2route serve` over loopback: throughput, latency, errors, and batch invariance.

    python benchmarks/serve_load.py --pair tiny --clients 16 --requests 4 [--json PATH]

Starts a server on a free loopback port (or uses --url), answers every prompt once alone (the solo
greedy reference), then sends the same prompts from --clients concurrent clients, each
--requests times. Prints requests/s, p50/p99 latency, the error count (goal 0) and the share of
responses identical to their solo run (goal 100%). Bounded in count and in time (--deadline).
"""

from __future__ import annotations

import sys
import threading
import time

import openai

from common import gsm8k_train, median, parser, percentile, write_json
from serving import concurrently, serve_args, served, solo_reference


def ask(client, model, text, max_tokens):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], max_tokens=max_tokens, temperature=0)
    return r.choices[0].message.content


def run(base: str, args) -> dict:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=args.api_key or "none", max_retries=0, timeout=args.deadline)
    model = client.models.list().data[0].id
    texts = gsm8k_train(args.clients)
    solo = solo_reference(texts, lambda t: ask(client, model, t, args.max_tokens))

    latencies: list[float] = []
    errors: list[str] = []
    same = total = 0
    lock = threading.Lock()
    stop_at = time.time() + args.deadline

    def client_loop(i: int) -> None:
        nonlocal same, total
        text = texts[i % len(texts)]
        for _ in range(args.requests):
            if time.time() > stop_at:
                return
            t = time.perf_counter()
            try:
                out = ask(client, model, text, args.max_tokens)
            except Exception as e:  # counted, not raised: the point is to count them
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                latencies.append(time.perf_counter() - t)
                total += 1
                same += out == solo[text]

    wall = concurrently(args.clients, client_loop)
    return {
        "requests": total, "errors": len(errors), "wall_s": wall, "requests_per_s": total / wall,
        "p50_s": median(latencies), "p99_s": percentile(latencies, 0.99),
        "identical_to_solo": same / total if total else 0.0, "first_error": errors[0] if errors else None,
    }


def main() -> int:
    ap = parser(__doc__, device=None)
    ap.add_argument("--url", help="an already running server (http://127.0.0.1:PORT)")
    ap.add_argument("--strategy", default="random")
    ap.add_argument("--llm-share", default="0.2")
    ap.add_argument("--max-batch", default="8")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=4, help="requests per client")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--deadline", type=float, default=600.0, help="seconds; clients stop sending after it")
    ap.add_argument("--api-key")
    args = ap.parse_args()
    if args.url:
        res = run(args.url, args)
    else:
        share = args.llm_share if args.strategy == "random" else None
        with served(serve_args(args.pair, args.max_batch, args.strategy, share)) as (_, base):
            res = run(base, args)
    print(f"{args.clients} clients × {args.requests} requests, {args.max_tokens} max tokens, strategy {args.strategy}")
    print(f"  requests/s         {res['requests_per_s']:.2f}  ({res['requests']} in {res['wall_s']:.1f} s)")
    print(f"  latency p50 / p99  {res['p50_s']:.2f} s / {res['p99_s']:.2f} s")
    print(f"  errors             {res['errors']}  (goal 0){'  first: ' + res['first_error'] if res['first_error'] else ''}")
    print(f"  identical to solo  {100 * res['identical_to_solo']:.1f}%  (goal 100%)")
    if args.json_out:
        write_json(args.json_out, res)
    return 0 if res["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
