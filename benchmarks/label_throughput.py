"""Labeling throughput ÷ plain LLM greedy throughput, on the same machine and data (goal ≥ 0.5).

    python benchmarks/label_throughput.py --pair default --n 8 --verifier rule

Plain: the LLM alone answers the queries greedily (the engine's LLM-only path, same batch size).
Labeling: the whole pipeline on the same queries — LLM answers, SLM prefill, continuations at
every mismatch, verdicts, tables — into a fresh directory. Both count answer tokens; the ratio is
labeled answer tokens/s ÷ plain LLM tokens/s. The plain run goes before and after the labeling
run and their mean is used, so drift on a shared machine hits both sides.
"""

from __future__ import annotations

import tempfile
import time

from common import GSM8K_TRAIN, load, parser, write_json
from r2route import defaults
from r2route.engine import Engine, GenerationConfig
from r2route.labeling import LabelConfig, build_verifier, llm_writer, run_labeling
from r2route.labeling.data import read_queries
from r2route.router import make_strategy


def plain(pair, queries, max_tokens, slots, system) -> tuple[int, float]:
    prompts = [pair.encode(q.text, system=system) for q in queries]
    engine = Engine(pair, make_strategy("llm"), max_batch=slots)
    t = time.perf_counter()
    results, stats = engine.generate(prompts, GenerationConfig(max_new_tokens=max_tokens))
    return stats.tokens, time.perf_counter() - t


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data", default=str(GSM8K_TRAIN))
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--verifier", default="rule")
    ap.add_argument("--max-answer-tokens", type=int, default=defaults.LABEL_MAX_ANSWER_TOKENS)
    ap.add_argument("--max-mismatches", type=int, default=None)
    ap.add_argument("--slots", type=int, default=defaults.LABEL_SLOTS)
    ap.add_argument("--system", default=None)
    args = ap.parse_args()
    pair = load(args)
    queries = read_queries(args.data, "question", args.n)
    tiny = args.pair.startswith("tiny")
    n1, s1 = plain(pair, queries, args.max_answer_tokens, args.slots, args.system)
    cfg = LabelConfig(data=args.data, limit=args.n, max_answer_tokens=args.max_answer_tokens, max_mismatches=args.max_mismatches,
                      slots=args.slots, system=args.system, keep_truncated=tiny, chunk=args.n)
    with tempfile.TemporaryDirectory() as tmp:
        writer = llm_writer(pair, args.slots)
        ver = build_verifier(args.verifier, pair, writer)
        t = time.perf_counter()
        stats = run_labeling(pair, cfg, tmp, ver, writer=writer, progress=False)
        label_s = time.perf_counter() - t
    n2, s2 = plain(pair, queries, args.max_answer_tokens, args.slots, args.system)
    plain_tps = (n1 + n2) / (s1 + s2)
    label_tps = stats["tokens"] / label_s
    print(f"pair {args.pair}: {pair.slm.name} → {pair.llm.name} | {args.n} queries | verifier {args.verifier} | slots {args.slots}")
    print(f"  plain LLM greedy   {plain_tps:8.2f} answer tok/s  ({n1 + n2} tokens in {s1 + s2:.1f} s, two runs)")
    print(f"  labeling           {label_tps:8.2f} answer tok/s  ({stats['tokens']} tokens in {label_s:.1f} s; "
          f"{stats['mismatch_pct']:.1f}% mismatch, {stats['judged']} judged, {stats['answers_dropped']} answers dropped)")
    print(f"  ratio              {label_tps / plain_tps:8.3f}  (goal ≥ 0.5)")
    if args.json_out:
        write_json(args.json_out, {"plain_tps": plain_tps, "label_tps": label_tps, "ratio": label_tps / plain_tps, "stats": stats})


if __name__ == "__main__":
    main()
