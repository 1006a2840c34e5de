"""Does a row's SLM-only decoding depend on anything but its prompt? On the default pair (llama.cpp).

    python benchmarks/engine_determinism.py [--records 16] [--tokens 128] [--batch 4] [--prefix-cache] [--fast]

Decodes the first --records GSM8K test prompts in batches of --batch (greedy, SLM only, as `eval`
runs them: prefix cache off unless --prefix-cache, batch-invariant llama.cpp sums unless --fast,
the setting of generate and serve) and prints, per repeat, how many completions
equal the first run's: the same batches again in the same engine, after other batches, in a fresh
engine, one prompt at a time, and in batches where half the rows are LLM-only (the query-level
router's waves: the SLM then runs on fewer rows). With --spec, also speculative decoding (verify all,
drafts of 4, margin 0) against the LLM alone: lossless means the same text. With --json, one line per
comparison.
"""

import argparse
import json

from r2route.engine import Engine, GenerationConfig
from r2route.evaluation.tasks import load_task
from r2route.pair import PairConfig, load_pair
from r2route.router.strategies import LLMOnly, SLMOnly


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--prefix-cache", action="store_true")
    ap.add_argument("--fast", action="store_true", help="llama.cpp without batch-invariant sums (generate/serve's setting)")
    ap.add_argument("--spec", action="store_true", help="also: speculative decoding against the LLM alone")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    pair = load_pair(PairConfig(pair="default"))
    task = load_task("gsm8k", limit=args.records)
    prompts = [pair.encode(r.prompt, system=task.system) for r in task.records]
    gen = GenerationConfig(max_new_tokens=args.tokens)
    B = args.batch

    def engine():
        return Engine(pair, SLMOnly(), max_batch=B, prefix_cache=args.prefix_cache, invariant=not args.fast)

    def batched(eng, strategies=None):
        out = []
        for i in range(0, len(prompts), B):
            part = prompts[i : i + B]
            res, _ = eng.generate(part, gen, strategies(len(part)) if strategies else None)
            out += [r.text for r in res]
        return out

    eng = engine()
    first = batched(eng)
    again = batched(eng)
    other = batched(eng, lambda n: [LLMOnly()] * n)  # the LLM-only rows of another method, in between
    after_other = batched(eng)
    fresh = batched(engine())
    solo_engine = engine()
    solo = [solo_engine.generate([p], gen)[0][0].text for p in prompts]
    # the query-level router's waves: every other row goes to the LLM, so the SLM runs on half the rows
    mixed_eng = engine()
    mixed = []
    for i in range(0, len(prompts), B):
        part = prompts[i : i + B]
        strats = [SLMOnly() if j % 2 == 0 else LLMOnly() for j in range(len(part))]
        res, _ = mixed_eng.generate(part, gen, strats)
        mixed += [r.text if j % 2 == 0 else None for j, r in enumerate(res)]
    lines = []
    if args.spec:
        import dataclasses

        spec_gen = dataclasses.replace(gen, verify="all", max_draft=4)
        llm_texts, spec_texts = [], []
        eng = engine()
        for i in range(0, len(prompts), B):
            part = prompts[i : i + B]
            llm_texts += [r.text for r in eng.generate(part, gen, [LLMOnly()] * len(part))[0]]
            spec_texts += [r.text for r in eng.generate(part, spec_gen)[0]]
        same = sum(a == b for a, b in zip(llm_texts, spec_texts))
        print(f"{'speculative decoding vs LLM alone':>36}: same text {same}/{len(prompts)}")
        lines.append({"comparison": "speculative decoding vs LLM alone", "same": same, "of": len(prompts),
                      "prefix_cache": args.prefix_cache, "invariant": not args.fast, "batch": B, "tokens": args.tokens})
    for name, texts in [("same batches again", again), ("after another method's batches", after_other), ("fresh engine", fresh),
                        ("one prompt at a time", solo), ("beside LLM-only rows (query waves)", mixed)]:
        pairs = [(a, b) for a, b in zip(first, texts) if b is not None]
        same = sum(a == b for a, b in pairs)
        print(f"{name:>36}: same as the first run {same}/{len(pairs)}")
        lines.append({"comparison": name, "same": same, "of": len(pairs), "prefix_cache": args.prefix_cache, "invariant": not args.fast, "batch": B,
                      "tokens": args.tokens})
    del other
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write("".join(json.dumps(x) + "\n" for x in lines))


if __name__ == "__main__":
    main()
