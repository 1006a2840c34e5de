"""Where the pair's memory goes beyond its weights: RSS after each step of loading and decoding.

    python benchmarks/memory_breakdown.py [--pair default] [--batch 1] [--new-tokens 32] [--json PATH]

Prints anonymous and file-backed RSS (Linux /proc/self/status) after the imports, after the pair's
load and after one generation (random routing at 0.2), and peak RSS beyond the imports ÷ weight
bytes (goal: ≤ 1.2). File-backed pages are mostly the mmapped weights;
anonymous ones are everything else. Run one generation per process: the peak is the process's.
"""

from common import load, parser, proc_status, write_json
from r2route.engine import Engine, GenerationConfig
from r2route.router import make_strategy

PROMPT = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
          "How many clips did Natalia sell altogether in April and May?")


def rss_mib(*extra: str) -> dict[str, int]:
    """RSS, anonymous and file-backed, and ``extra`` fields of /proc/self/status, in MiB."""
    return {k: v // 1024 for k, v in proc_status("VmRSS", "RssAnon", "RssFile", *extra).items()}


def main() -> None:
    ap = parser(__doc__, pair="default")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--new-tokens", type=int, default=32)
    args = ap.parse_args()
    steps = {"imports": rss_mib()}
    pair = load(args)
    steps["pair loaded"] = rss_mib()
    engine = Engine(pair, make_strategy("random", llm_share=0.2), max_batch=args.batch)
    engine.generate([pair.encode(PROMPT)] * args.batch, GenerationConfig(max_new_tokens=args.new_tokens, ignore_eos=True))
    steps["generated"] = rss_mib("VmHWM")
    weights = (pair.slm.weight_bytes + pair.llm.weight_bytes) / 2**20
    ratio = (steps["generated"]["VmHWM"] - steps["imports"]["VmRSS"]) / weights
    for name, s in steps.items():
        print(f"{name:>12}: RSS {s['VmRSS']:>5} MiB (anonymous {s['RssAnon']:>4}, file {s['RssFile']:>5})")
    print(f"weights {weights:.0f} MiB; batch {args.batch}, {args.new_tokens} new tokens: "
          f"peak RSS beyond imports ÷ weights = {ratio:.3f} (goal ≤ 1.2)")
    if args.json_out:
        write_json(args.json_out, {"steps": steps, "weights_mib": weights, "batch": args.batch, "mem_ratio": ratio})


if __name__ == "__main__":
    main()
