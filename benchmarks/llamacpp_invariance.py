"""Which llama.cpp call shapes keep a row's logits bitwise the same, and what each setting costs.

    python benchmarks/llamacpp_invariance.py [--model 1.5b|0.5b] [--json PATH]

On one of the default pair's GGUF files (Qwen2.5-Coder, Q4_K_M): a 70-token prompt's next-token
logits, read after feeding the prompt in calls of other sizes, and a row's logits over 6 greedy
steps beside batch-mates against alone, for three settings side by side:
  - fast: generate/serve's (calls of up to LLAMACPP_BATCH tokens, nothing padded);
  - invariant: eval's (calls of 2-7 tokens and outputs, see defaults.LLAMACPP_INVARIANT_*);
  - min 8: calls of 8-32 tokens and outputs (the other regime that measured invariant).
Then prefill and decode tok/s of each setting at 1, 4, 8 and 16 rows. Prints max |difference| of
logits (0.0 = bitwise equal) and tok/s; with --json, one line per measurement.
"""

import argparse
import json
import time
from dataclasses import dataclass

import torch

from r2route.engine.llamacpp_runner import CallShape
from r2route.engine.runners import make_runner
from r2route.pair.llamacpp import LlamaCppModel
from r2route.pair.registry import resolve


@dataclass(frozen=True)
class Setting:
    name: str
    shape: CallShape


SETTINGS = [Setting("fast", CallShape.default(invariant=False)), Setting("invariant", CallShape.default(invariant=True)),
            Setting("min 8", CallShape(32, 32, 8))]


def runner(lm, s: Setting, rows: int):
    return make_runner(lm, rows, context=512, call_shape=s.shape)


def next_logits(lm, s, prompt, feeds):
    r = runner(lm, s, 1)
    for end in feeds:  # the prompt's first tokens in calls ending at these lengths
        r.forward([0], [prompt], [end], [[end - 1]])
    return r.catch_up([0], [prompt])[1][0]


def decode(lm, s, seqs, target, steps=6):
    r = runner(lm, s, len(seqs))
    seqs, out = [list(q) for q in seqs], []
    for _ in range(steps):
        _, logits = r.catch_up(list(range(len(seqs))), seqs)
        out.append(logits[target].clone())
        for i, row in enumerate(logits):
            seqs[i].append(int(row.argmax()))
    return torch.stack(out)


def speed(lm, s, rows, prompt, steps=12):
    r = runner(lm, s, rows)
    seqs = [list(prompt) for _ in range(rows)]
    t = time.perf_counter()
    _, logits = r.catch_up(list(range(rows)), seqs)
    prefill = rows * len(prompt) / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(steps):
        for i in range(rows):
            seqs[i].append(int(logits[i].argmax()))
        _, logits = r.catch_up(list(range(rows)), seqs)
    return prefill, rows * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="1.5b", choices=["0.5b", "1.5b"])
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    lm = LlamaCppModel.load(resolve(f"qwen2.5-coder-{args.model}-instruct"))
    prompt, other = list(range(1000, 1070)), list(range(3000, 3045))
    lines = []

    def emit(line):
        lines.append(line)
        print("  ".join(f"{k} {v}" for k, v in line.items()), flush=True)

    for s in SETTINGS:
        whole = next_logits(lm, s, prompt, [])
        for size in (2, 3, 5, 8, 12):
            diff = float((next_logits(lm, s, prompt, range(size, len(prompt), size)) - whole).abs().max())
            emit({"model": args.model, "setting": s.name, "check": f"prompt fed in calls of {size}", "max_diff": diff})
        alone = decode(lm, s, [prompt], 0)
        for label, seqs, target in [("second beside 1 row", [other, prompt], 1),
                                    ("third beside 4 rows", [other, other[:20], prompt, other[5:], other[3:9]], 2)]:
            emit({"model": args.model, "setting": s.name, "check": label, "max_diff": float((decode(lm, s, seqs, target) - alone).abs().max())})
    for rows in (1, 4, 8, 16):
        for s in SETTINGS:
            prefill, dec = speed(lm, s, rows, list(range(1000, 1150)))
            emit({"model": args.model, "setting": s.name, "rows": rows, "prefill_tok_s": round(prefill, 2), "decode_tok_s": round(dec, 2)})
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write("".join(json.dumps(x) + "\n" for x in lines))


if __name__ == "__main__":
    main()
