"""Does the default pair's SLM-only decoding of one batch depend on what the engine ran before?

Decodes the first 4 GSM8K test prompts (batch 4, greedy) and prints, per prompt, whether these
repeats gave the same text as the first run: the same batch again, after another batch, in a fresh
engine, and one prompt at a time. ``--no-prefix-cache`` makes every request recompute its prompt
(the engine otherwise keeps a slot's cached prefix, computed in a batch of another shape).

    python benchmarks/engine_determinism.py [--tokens 128] [--no-prefix-cache]
"""

import argparse

from r2route.engine import Engine, GenerationConfig
from r2route.evaluation.tasks import load_task
from r2route.pair import PairConfig, load_pair
from r2route.router.strategies import SLMOnly


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--no-prefix-cache", action="store_true")
    args = ap.parse_args()
    pair = load_pair(PairConfig(pair="default"))
    task = load_task("gsm8k", limit=8)
    a, b = ([pair.encode(r.prompt, system=task.system) for r in task.records[i : i + 4]] for i in (0, 4))
    gen = GenerationConfig(max_new_tokens=args.tokens)

    def texts(engine, prompts):
        return [r.text for r in engine.generate(prompts, gen)[0]]

    eng = Engine(pair, SLMOnly(), max_batch=4, prefix_cache=not args.no_prefix_cache)
    first = texts(eng, a)
    again = texts(eng, a)
    texts(eng, b)
    after_other = texts(eng, a)
    fresh_engine = Engine(pair, SLMOnly(), max_batch=4, prefix_cache=not args.no_prefix_cache)
    fresh = texts(fresh_engine, a)
    solo = [texts(fresh_engine, [p])[0] for p in a]
    for name, t in [("same batch again", again), ("after another batch", after_other), ("fresh engine", fresh),
                    ("one prompt at a time", solo)]:
        print(f"{name:>22}: same as first {sum(x == y for x, y in zip(first, t))}/4  {[x == y for x, y in zip(first, t)]}")


if __name__ == "__main__":
    main()
