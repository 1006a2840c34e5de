"""Router time ÷ SLM decode-step time, measured side by side in one run (goal ≤ 0.03).

    python benchmarks/router_overhead.py --pair default --tokens 128 --batch 1

The engine decodes with the neural router scoring every SLM proposal but a threshold no score
reaches, so every step is an SLM step plus one router call on real inputs (the SLM's full-vocabulary
logits → top-k log-probabilities, its hidden state, the token's embedding → MLP). The engine times
the router calls itself; the ratio is router seconds ÷ the rest of the decode. A plain SLM-only run
of the same prompts before and after gives the end-to-end slowdown as a second ratio. The routed
decode then runs a second time, every token's embedding term cached (a long-running process's state).
The router is the pair's shipped one (or --router); a pair without one gets a fresh router of the
default shape (its cost depends on the shape, not the weights).
"""

from __future__ import annotations

import time

from common import load, parser, router_for, write_json
from r2route.engine import Engine, GenerationConfig
from r2route.router import make_strategy
from r2route.router.strategies import NeuralStrategy

PROMPTS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
    "Write a Python function that returns the n-th Fibonacci number.",
    "Explain in two sentences why the sky is blue.",
]


def run(engine: Engine, prompts, tokens: int):
    t = time.perf_counter()
    _, stats = engine.generate(prompts, GenerationConfig(max_new_tokens=tokens, ignore_eos=True))
    return stats, time.perf_counter() - t


def main() -> None:
    ap = parser(__doc__, router=True)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    pair = load(args)
    bundle, router = router_for(args, pair)
    prompts = [pair.encode(p) for p in (PROMPTS * args.batch)[: args.batch]]
    slm_only = Engine(pair, make_strategy("slm"), max_batch=args.batch)
    routed = Engine(pair, NeuralStrategy(bundle, threshold=2.0), max_batch=args.batch)  # scores are ≤ 1: never routes
    run(slm_only, prompts, 8)  # warm-up: caches, threads, the embedding table
    run(routed, prompts, 8)
    base1, t_base1 = run(slm_only, prompts, args.tokens)
    st, t_routed = run(routed, prompts, args.tokens)
    base2, t_base2 = run(slm_only, prompts, args.tokens)
    # The same decode again: every token's embedding term is cached now, as in a long-running server
    # or eval, which has met most tokens it will write. The first pass pays a GGUF row
    # dequantization and a small matmul for each token it meets first.
    warm, t_warm = run(routed, prompts, args.tokens)
    assert st.llm_tokens == 0 and warm.llm_tokens == 0
    per_step_router = st.router_seconds / st.steps
    per_step_slm = (t_routed - st.router_seconds) / st.steps
    per_step_warm = warm.router_seconds / warm.steps
    per_step_slm_warm = (t_warm - warm.router_seconds) / warm.steps
    t_base = (t_base1 + t_base2) / 2
    out = {
        "pair": args.pair, "device": str(pair.device), "batch": args.batch, "steps": st.steps,
        "router": router,
        "router_params": bundle.model.num_params(),
        "router_ms_per_step": per_step_router * 1e3,
        "slm_ms_per_step": per_step_slm * 1e3,
        "router_over_slm_step": per_step_router / per_step_slm,
        "routed_over_slm_only_time": t_routed / t_base,
        "warm_router_ms_per_step": per_step_warm * 1e3,
        "warm_router_over_slm_step": per_step_warm / per_step_slm_warm,
    }
    print(f"{args.pair} on {pair.device}, batch {args.batch}, {st.steps} steps; router {out['router']}")
    print(f"  SLM step {out['slm_ms_per_step']:.2f} ms, router {out['router_ms_per_step']:.3f} ms per step")
    print(f"  router ÷ SLM step: {out['router_over_slm_step']:.4f} (goal ≤ 0.03)")
    print(f"  decode with router ÷ SLM-only decode: {out['routed_over_slm_only_time']:.3f}")
    print(f"  again, every token met before: router {out['warm_router_ms_per_step']:.3f} ms per step, "
          f"÷ SLM step {out['warm_router_over_slm_step']:.4f}")
    if args.json_out:
        write_json(args.json_out, out)


if __name__ == "__main__":
    main()
