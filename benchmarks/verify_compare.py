"""R2R, verified R2R and speculative decoding from `scripts/eval_verify.sh`'s two run directories, on
the records every method of both has finished (docs/results.md, "GSM8K: R2R, verified R2R and speculative decoding").

    python benchmarks/verify_compare.py [results/eval-gsm8k-verify results/eval-gsm8k-verify-lenient] [--from-id N] [--json]

Per method (a lenient run's methods are named with their margin): LLM share, correct answers,
tok/s and its ratio to the LLM alone's, correct answers per hour of decoding (eval's wall time per
record, a batch's time split over its rows), the median over eval's batches of a method's speed
÷ the LLM alone's on the same records (robust to a batch slowed by the shared machine; quartiles
beside it), average activated parameters, LLM forwards and SLM
tokens dropped by rollbacks per output token, and completions identical to the LLM alone's. Then
paired accuracy differences (95% bootstrap over records; records only one of the two got right):
every method against the LLM alone, spec against each plain R2R row (the two ran at about the same
tok/s in docs/speed.md), each verified method against its plain R2R row, and each lenient row
against the same method at δ = 0.

--from-id N keeps records N and later: rows decoded in different sessions are not side by side,
so speeds compare only over records whose rows ran back to back (eval_verify.sh's rounds).

Reads the rows read-only and skips a torn last line, so it is safe beside a running evaluation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import numpy as np

from common import parser, read_rows
from r2route.evaluation.summary import bootstrap_ci, point, same_as_llm, tokens_per_s


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def method_rows(runs: list[Path]) -> tuple[dict[str, list[dict]], dict]:
    """name → rows, over every run; a run with a nonzero accept margin names its methods `m δ=x`."""
    by: dict[str, list[dict]] = {}
    params = None
    for run in runs:
        cfg = json.loads((run / "eval-config.json").read_text())
        if params is not None and cfg["params"] != params:
            fail(f"{run} was made with another pair than {runs[0]}")
        params = cfg["params"]
        margin = cfg["settings"].get("accept_margin") or 0.0
        for r in read_rows(run / "results.jsonl"):  # skips the row a running evaluation is writing
            name = r["method"] + (f" δ={margin:g}" if margin and "+verify" in r["method"] else "")
            if name in by and any(o["id"] == r["id"] for o in by[name]):
                fail(f"method {name!r} appears in two runs")
            by.setdefault(name, []).append(r)
    return by, params


def paired(a: dict[int, bool], b: dict[int, bool], ids: list[int]) -> dict:
    x = np.array([a[i] for i in ids], dtype=float)
    y = np.array([b[i] for i in ids], dtype=float)
    lo, hi = bootstrap_ci(x - y)
    return {"difference": float((x - y).mean()), "ci95": [lo, hi],
            "only_first_right": int(((x == 1) & (y == 0)).sum()), "only_second_right": int(((x == 0) & (y == 1)).sum())}


def batch_speed_ratios(rs: list[dict], llm_by_id: dict[int, dict]) -> dict:
    """Median and quartiles over eval's batches of (method tok/s ÷ LLM-alone tok/s on the batch's records).

    A batch's rows share one `wall` (its time split over its rows), which is how they are told apart."""
    batches: dict[float, list[dict]] = {}
    for r in rs:
        batches.setdefault(r["wall"], []).append(r)
    ratios = [tokens_per_s(b) / tokens_per_s([llm_by_id[r["id"]] for r in b]) for b in batches.values()]
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    return {"median": float(med), "quartiles": [float(q1), float(q3)], "batches": len(ratios)}


def compare(runs: list[Path], from_id: int = 0) -> dict:
    by, params = method_rows(runs)
    by = {m: [r for r in rs if r["id"] >= from_id] for m, rs in by.items()}
    if "llm" not in by:
        fail(f"no LLM-alone rows in {', '.join(map(str, runs))}")
    ids = sorted(set.intersection(*({r["id"] for r in rs} for rs in by.values())))
    if not ids:
        fail("no record that every method has finished")
    keep = set(ids)
    by = {m: [r for r in rs if r["id"] in keep] for m, rs in by.items()}
    llm_text = {r["id"]: r.get("completion") for r in by["llm"]}
    rows = []
    for m, rs in by.items():
        p = point(rs, params["slm"], params["llm"])
        rows.append({"method": m, **p, "correct": sum(bool(r["correct"]) for r in rs),
                     "correct_per_hour": 3600 * sum(bool(r["correct"]) for r in rs) / sum(r["wall"] for r in rs),
                     "same_as_llm": same_as_llm(rs, llm_text)})
    llm_speed = next(r["tokens_per_s"] for r in rows if r["method"] == "llm")
    llm_by_id = {r["id"]: r for r in by["llm"]}
    for r in rows:
        r["speed_vs_llm"] = r["tokens_per_s"] / llm_speed
        r["batch_speed_vs_llm"] = batch_speed_ratios(by[r["method"]], llm_by_id)
    correct = {m: {r["id"]: bool(r["correct"]) for r in rs} for m, rs in by.items()}
    pairs = [(m, "llm") for m in by if m != "llm"]
    plain_r2r = [m for m in by if m not in ("slm", "llm", "spec") and "+" not in m and " δ=" not in m]
    pairs += [("spec", m) for m in plain_r2r if "spec" in by]
    pairs += [(m, m.split("+")[0]) for m in by if m.endswith("+verify") and m.split("+")[0] in by]
    pairs += [(m, m.split(" ")[0]) for m in by if " δ=" in m and m.split(" ")[0] in by]
    comparisons = [{"first": a, "second": b, **paired(correct[a], correct[b], ids)} for a, b in pairs]
    return {"records": len(ids), "ids": ids, "rows": rows, "paired": comparisons}


def print_markdown(out: dict) -> None:
    n = out["records"]
    print(f"{n} records (ids {out['ids'][0]}–{out['ids'][-1]}), every method on the same records\n")
    print("| method | LLM share | correct / %d | tok/s | ÷ LLM alone | median ÷ LLM alone per batch [quartiles] | "
          "correct / hour | avg params | LLM forwards / token | SLM tokens wasted / token | completions = LLM alone's |" % n)
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in out["rows"]:
        b = r["batch_speed_vs_llm"]
        print(f"| {r['method']} | {r['llm_share']:.3f} | {r['correct']} | {r['tokens_per_s']:.1f} | {r['speed_vs_llm']:.2f}× | "
              f"{b['median']:.2f}× [{b['quartiles'][0]:.2f}–{b['quartiles'][1]:.2f}] | {r['correct_per_hour']:.1f} | {r['avg_params'] / 1e9:.2f}B | {r.get('llm_calls_per_token', float('nan')):.3f} | "
              f"{r.get('wasted_per_token', float('nan')):.3f} | {r['same_as_llm']}/{n} |")
    print("\n| first − second | accuracy difference | 95% CI | only first right | only second right |")
    print("|---|---|---|---|---|")
    for c in out["paired"]:
        print(f"| {c['first']} − {c['second']} | {c['difference']:+.3f} | [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}] | "
              f"{c['only_first_right']} | {c['only_second_right']} |")


def main() -> None:
    ap = parser(__doc__, pair=None, device=None, json_out=False)
    ap.add_argument("runs", nargs="*", type=Path,
                    default=[Path("results/eval-gsm8k-verify"), Path("results/eval-gsm8k-verify-lenient")])
    ap.add_argument("--from-id", type=int, default=0, help="only records with this id or later")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of markdown tables")
    args = ap.parse_args()
    for run in args.runs:
        if not (run / "results.jsonl").is_file() or not (run / "eval-config.json").is_file():
            fail(f"{run} is not an `r2route eval` run directory")
    out = compare(args.runs, args.from_id)
    if args.json:
        print(json.dumps(out))
    else:
        print_markdown(out)


if __name__ == "__main__":
    main()
