"""Why the router costs ~0.5 ms per decode step at batch 1 when its ops take ~0.1 ms alone.

    python benchmarks/router_cold_cost.py --router results/router-outcome [--pair default] [--batch 1] [--json PATH]

One routing decision (top-k logit gaps, then the folded MLP, as ``NeuralStrategy.decide`` runs them,
on one thread as the engine does), timed as medians over --steps greedy SLM steps of the pair's
llama.cpp runner, five ways:

- ``after_step``: right after the SLM's step, on its fresh logits and hidden states (the engine's case);
- ``repeated``: the same call again at once, on the same inputs;
- ``after_sleep``: after the step and a 10 ms sleep (llama.cpp's or torch's worker threads spinning
  on the other core would be asleep by then);
- ``after_evict``: the repeated call after a 64 MiB pass over memory (evicts the data caches
  without running llama.cpp);
- ``numpy_after_step``: right after the step, the same function written in NumPy (another dispatch
  path: is it torch's per-op overhead?).

The rows are router_overhead.py's prompts; tokens the run met before have their embedding term cached.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from r2route import defaults
from r2route.engine.runners import make_runner
from r2route.engine.sampling import greedy
from r2route.pair import PairConfig, load_pair
from r2route.router import load_router
from r2route.router.features import BLOCK, topk_logit_features
from r2route.router.strategies import NeuralStrategy, StepView
from router_overhead import PROMPTS  # the same prompts as the router's decode-time benchmark



def numpy_router(scorer, top_k: int):
    """The folded router of ``scorer`` (gap features, hidden ⊕ token ⊕ logits) in NumPy."""
    inp_w, inp_b = scorer.inp_w.numpy(), scorer.inp_b.numpy()
    blocks = [(uw.numpy(), ub.numpy(), eps, dw.numpy(), db.numpy()) for (uw, ub), eps, dw, db in scorer.blocks]
    out_w, out_b = scorer.out[0].numpy(), scorer.out[1].numpy()
    erf = np.frompyfunc(math.erf, 1, 1)

    def norm(x, eps):
        d = x - x.mean(-1, keepdims=True)
        return d / np.sqrt((d * d).mean(-1, keepdims=True) + eps)

    def gaps(x):
        n = x.shape[0]
        if x.shape[1] % BLOCK:  # Qwen's 151,936 = 1,187 blocks exactly
            x = np.pad(x, ((0, 0), (0, BLOCK - x.shape[1] % BLOCK)), constant_values=-np.inf)
        maxima = x.reshape(n, -1, BLOCK).max(-1)
        best = np.argpartition(-maxima, top_k, axis=1)[:, :top_k]
        out = np.empty((n, top_k), np.float32)
        for i in range(n):
            cand = np.concatenate([x[i, j * BLOCK : (j + 1) * BLOCK] for j in best[i]])
            out[i] = np.sort(np.partition(cand, cand.size - top_k)[-top_k:])[::-1] - maxima[i].max()
        return out

    def score(logits, hidden, token_terms):
        x = np.concatenate([norm(hidden, scorer.hidden_norm[1]), gaps(logits)], axis=1) @ inp_w + inp_b + token_terms
        for uw, ub, eps, dw, db in blocks:
            h = norm(x, eps) @ uw + ub
            x = x + (0.5 * h * (1.0 + erf(h / math.sqrt(2)).astype(np.float32))) @ dw + db
        return 1.0 / (1.0 + np.exp(-(norm(x, scorer.out_eps) @ out_w + out_b)[:, 0]))

    return score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--router", required=True)
    ap.add_argument("--pair", default="default")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    pair = load_pair(PairConfig(pair=args.pair))
    bundle = load_router(args.router, pair.device)
    cfg = bundle.model.cfg
    if cfg.logits_ref != "max" or set(cfg.features) != {"hidden", "token", "logits"}:
        raise SystemExit("this benchmark's NumPy form covers routers on hidden, token and logit gaps (--logits-ref max)")
    strategy = NeuralStrategy(bundle, threshold=2.0)
    score = numpy_router(strategy.scorer, cfg.top_k)
    n = args.batch
    runner = make_runner(pair.slm, n, defaults.CALL_COST_TOKENS_CPU, hidden=True)
    seqs = [pair.encode(p) for p in (PROMPTS * n)[:n]]
    evict = np.ones(64 * 2**20 // 8)
    times: dict[str, list[float]] = {k: [] for k in ("after_step", "repeated", "after_sleep", "after_evict", "numpy_after_step")}
    torch.set_num_threads(1)

    def decide(hidden, logits, tokens):
        return strategy.decide(StepView(logits, hidden, tokens, pair.slm.embed, [None] * n))

    def step():
        hidden, logits = runner.catch_up(list(range(n)), seqs)
        tokens = greedy(logits)
        for q, t in zip(seqs, tokens):
            q.append(t)
        return hidden, logits, torch.tensor(tokens)

    def timed(kind, f):
        t = time.perf_counter()
        f()
        times[kind].append(time.perf_counter() - t)

    prompts = [list(q) for q in seqs]
    for timed_pass in (False, True):  # the first pass meets every token once: only the second is timed
        for slot, q in enumerate(prompts):
            runner.truncate(slot, len(q) - 1)
            seqs[slot] = list(q)
        times = {k: [] for k in times}
        for i in range(args.steps):
            hidden, logits, tokens = step()
            terms = np.stack([strategy.scorer._token_terms.get(t, torch.zeros(cfg.width)).numpy() for t in tokens.tolist()])
            if i == 0 and not timed_pass:
                want = torch.sigmoid(strategy.scorer(hidden, tokens, pair.slm.embed, topk_logit_features(logits, cfg.top_k, "max"))).numpy()
                terms = np.stack([strategy.scorer._token_terms[t].numpy() for t in tokens.tolist()])
                assert np.allclose(score(logits.numpy(), hidden.numpy(), terms), want, atol=1e-4), "the NumPy form differs"
            if i % 3 == 0:
                timed("after_step", lambda: decide(hidden, logits, tokens))
                timed("repeated", lambda: decide(hidden, logits, tokens))
                evict += 1.0
                timed("after_evict", lambda: decide(hidden, logits, tokens))
            elif i % 3 == 1:
                time.sleep(0.01)
                timed("after_sleep", lambda: decide(hidden, logits, tokens))
            else:
                timed("numpy_after_step", lambda: score(logits.numpy(), hidden.numpy(), terms) >= 2.0)
                decide(hidden, logits, tokens)  # caches the token terms on the first pass
    med = {k: float(np.median(v)) * 1e6 for k, v in times.items()}
    out = {"pair": args.pair, "batch": n, "router_params": bundle.model.num_params(), "calls_each": len(times["after_step"]),
           **{f"{k}_us": round(v, 1) for k, v in med.items()}}
    print(f"router {args.router} ({out['router_params']:,} parameters), {args.pair} SLM, batch {n}, medians over {out['calls_each']} calls each:")
    print("  " + "   ".join(f"{k} {v:.0f} µs" for k, v in med.items()))
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
