"""Does a row's SLM-only decoding depend on anything but its prompt? On the default pair (llama.cpp).

    python benchmarks/engine_determinism.py [--records 16] [--tokens 128] [--batch 4] [--prefix-cache] [--fast] [--json PATH]

Decodes the first --records GSM8K test prompts in batches of --batch (greedy, SLM only, as `eval`
runs them: prefix cache off unless --prefix-cache, batch-invariant llama.cpp sums unless --fast,
the setting of generate and serve) and prints, per repeat, how many completions
equal the first run's: the same batches again in the same engine, after other batches, in a fresh
engine, one prompt at a time, and in batches where half the rows are LLM-only (the query-level
router's waves: the SLM then runs on fewer rows), and all prompts in one call as `eval` runs them (a
finished row's slot takes the next prompt). With --spec, also speculative decoding (verify all,
drafts of 4, margin 0) against the LLM alone, by batches and, with random routing deciding when to
check, through the slots: lossless means the same text. With --json, one line per comparison, added
to the file as soon as it is measured.
"""

import dataclasses

from common import append_jsonl, load, parser
from r2route.engine import Engine, GenerationConfig
from r2route.evaluation.tasks import load_task
from r2route.router.strategies import LLMOnly, RandomStrategy, SLMOnly


def main() -> None:
    ap = parser(__doc__, pair="default")
    ap.add_argument("--records", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--prefix-cache", action="store_true")
    ap.add_argument("--fast", action="store_true", help="llama.cpp without batch-invariant sums (generate/serve's setting)")
    ap.add_argument("--spec", action="store_true", help="also: speculative decoding against the LLM alone")
    args = ap.parse_args()
    pair = load(args)
    task = load_task("gsm8k", limit=args.records)
    prompts = [pair.encode(r.prompt, system=task.system) for r in task.records]
    gen = GenerationConfig(max_new_tokens=args.tokens)
    B = args.batch

    def engine():
        return Engine(pair, SLMOnly(), max_batch=B, prefix_cache=args.prefix_cache, invariant=not args.fast)

    def batched(eng, strategies=None, g=gen):
        out = []
        for i in range(0, len(prompts), B):
            part = prompts[i : i + B]
            res, _ = eng.generate(part, g, strategies(len(part)) if strategies else None)
            out += [r.text for r in res]
        return out

    def report(name: str, texts: list, reference: list) -> None:
        """Print one comparison as soon as it is measured (and append it to --json)."""
        pairs = [(a, b) for a, b in zip(reference, texts) if b is not None]
        same = sum(a == b for a, b in pairs)
        print(f"{name:>36}: same text {same}/{len(pairs)}", flush=True)
        if args.json_out:
            append_jsonl(args.json_out, [{"comparison": name, "same": same, "of": len(pairs), "prefix_cache": args.prefix_cache,
                                          "invariant": not args.fast, "batch": B, "tokens": args.tokens}])

    eng = engine()
    first = batched(eng)
    report("same batches again", batched(eng), first)
    llm_alone = batched(eng, lambda n: [LLMOnly()] * n)  # the LLM-only rows of another method, in between
    report("after another method's batches", batched(eng), first)
    if args.spec:
        report("speculative decoding vs LLM alone", batched(eng, g=dataclasses.replace(gen, verify="all", max_draft=4)), llm_alone)
    report("fresh engine", batched(engine()), first)
    # eval's way: every prompt in one call, a finished row's slot taking the next prompt, so rows
    # run beside batch-mates that finish, roll back and start at other times
    report("every prompt through the slots (eval)", [r.text for r in engine().generate(prompts, gen)[0]], first)
    if args.spec:
        spec = engine().generate(prompts, dataclasses.replace(gen, verify="all", max_draft=4), RandomStrategy(0.2))[0]
        report("random routing + verify, through the slots, vs LLM alone", [r.text for r in spec], llm_alone)
    solo_engine = engine()
    report("one prompt at a time", [solo_engine.generate([p], gen)[0][0].text for p in prompts], first)
    # the query-level router's waves: every other row goes to the LLM, so the SLM runs on half the rows
    mixed_eng = engine()
    mixed = []
    for i in range(0, len(prompts), B):
        part = prompts[i : i + B]
        strats = [SLMOnly() if j % 2 == 0 else LLMOnly() for j in range(len(part))]
        res, _ = mixed_eng.generate(part, gen, strats)
        mixed += [r.text if j % 2 == 0 else None for j, r in enumerate(res)]
    report("beside LLM-only rows (query waves)", mixed, first)


if __name__ == "__main__":
    main()
