"""R2R ÷ LLM accuracy and speedup ÷ ideal bound, on a fixed small slice, measured in one run.

    python benchmarks/eval_ratio.py --pair default --task gsm8k --n 16 --llm-share 0.15

One evaluation run (SLM only, LLM only, the neural router calibrated to --llm-share on the task's
calibration slice) over the first --n records, every method on the same records and machine:
- accuracy ratio = accuracy(neural) ÷ accuracy(LLM only);
- speedup = tokens/s(neural) ÷ tokens/s(LLM only);
- ideal = 1 / (c_s/c_l + r), with c_s/c_l = tokens/s(LLM) ÷ tokens/s(SLM) measured here and r the
  LLM share the neural run measured; the printed figure is speedup ÷ ideal.

    python benchmarks/eval_ratio.py --from-run results/eval-gsm8k --llm-share 0.2

reads the same figures from a finished (or growing) `r2route eval` run instead of decoding again:
its SLM, LLM and neural rows at that share, on the records all three have finished. Such a run
interleaves its methods record by record, so they too are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from r2route.evaluation import EvalConfig, Evaluation, summarize
from r2route.evaluation.runner import ResultsFile
from r2route.evaluation.tasks import load_task
from r2route.pair import PairConfig, load_pair
from r2route.router import load_router
from r2route.router.shipped import shipped_router


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", default="tiny")
    ap.add_argument("--task", default="gsm8k")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--llm-share", type=float, default=0.15)
    ap.add_argument("--router", default=None)
    ap.add_argument("--calibration-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=384)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", default=None, help="keep the run here (resumable) instead of a temporary directory")
    ap.add_argument("--from-run", default=None, help="read an existing `r2route eval` run's rows instead of decoding")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    if args.from_run:
        run = Path(args.from_run)
        cfg = json.loads((run / "eval-config.json").read_text())
        keep = {("slm", None), ("llm", None), ("neural", args.llm_share)}
        rows = [r for r in ResultsFile(run / "results.jsonl").rows if (r["method"], r["share"]) in keep]
        if {(r["method"], r["share"]) for r in rows} != keep:
            raise SystemExit(f"{run} has no finished slm, llm and neural@{args.llm_share} rows yet")
        args.pair, args.task = cfg["pair"]["slm"] + " → " + cfg["pair"]["llm"], cfg["task"]["name"]
        report(args, summarize(rows, cfg["params"]["slm"], cfg["params"]["llm"]))
        return
    pair = load_pair(PairConfig(pair=args.pair))
    path = args.router or shipped_router(args.pair)
    if not path:
        raise SystemExit(f"pair {args.pair} has no shipped router: pass --router")
    bundle = load_router(path, pair.device)
    bundle.check_pair(pair.identity())
    task = load_task(args.task, args.n, args.calibration_size)
    cfg = EvalConfig(methods=("slm", "llm", "neural"), shares=(args.llm_share,), max_new_tokens=args.max_new_tokens, batch=args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        rows = Evaluation(pair, task, cfg, args.out or tmp, bundle).run()
    report(args, summarize(rows, pair.slm.params.total, pair.llm_params))


def report(args, s: dict) -> None:
    p = {pt["method"]: pt for pt in s["points"]}
    slm, llm, r2r = p["slm"], p["llm"], p["neural"]
    cs_cl = llm["tokens_per_s"] / slm["tokens_per_s"]
    ideal = 1.0 / (cs_cl + r2r["llm_share"])
    speedup = r2r["tokens_per_s"] / llm["tokens_per_s"]
    acc_ratio = r2r["accuracy"] / llm["accuracy"] if llm["accuracy"] else float("nan")
    out = {"pair": args.pair, "task": args.task, "records": s["records"], "target_share": args.llm_share,
           "accuracy": {k: v["accuracy"] for k, v in p.items()}, "tokens_per_s": {k: v["tokens_per_s"] for k, v in p.items()},
           "llm_share": r2r["llm_share"], "c_s_over_c_l": cs_cl, "ideal_speedup": ideal, "speedup": speedup,
           "accuracy_ratio_r2r_over_llm": acc_ratio, "speedup_over_ideal": speedup / ideal}
    print(f"{args.pair} on {args.task}, {s['records']} records, target share {args.llm_share} (measured {r2r['llm_share']:.3f})")
    print(f"  accuracy: SLM {slm['accuracy']:.3f}, LLM {llm['accuracy']:.3f}, R2R {r2r['accuracy']:.3f}  ->  R2R ÷ LLM {acc_ratio:.3f}")
    print(f"  tok/s: SLM {slm['tokens_per_s']:.1f}, LLM {llm['tokens_per_s']:.1f}, R2R {r2r['tokens_per_s']:.1f}; c_s/c_l {cs_cl:.3f}")
    print(f"  speedup {speedup:.3f}×, ideal {ideal:.3f}×  ->  speedup ÷ ideal {speedup / ideal:.3f}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
