"""The outcome verifier against the hand labels: agreement, kappa, share called divergent, cost.

    python benchmarks/outcome_agreement.py runs/outcome-sample --gold benchmarks/data/verifier_gold_gsm8k_train.jsonl \
        --data ../shared/data/gsm8k/train.jsonl [--json PATH]

RUN is a label run made with ``--verifier outcome`` whose sampled mismatches include the
hand-labeled ones (``--limit 12 --chunk 4 --max-mismatches 8``, as the hand-labeled run). For the
hand-labeled items this prints, beside the `rule` verifier on the same items:
- ``outcome``: divergent when the branch's final answer differs from the reference's;
- ``outcome-gold`` (gold-aware): divergent when the branch ends wrong while the reference ends right
  (the GSM8K gold answer from --data);
and for every item of the run, the share each calls divergent. The cost per judged mismatch is
measured by continuing the hand-labeled items again here (one process, nothing else running), which
also checks that the run's branches are reproduced exactly.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from r2route import defaults
from r2route.evaluation.graders import gsm8k_gold
from r2route.labeling.contexts import Contexts
from r2route.labeling.continuations import continue_chunk
from r2route.labeling.outcome import same_answer
from r2route.labeling.sentences import cut_sentence
from r2route.labeling.verifiers import OutcomeVerifier, RuleVerifier
from r2route.labeling.pipeline import llm_writer
from r2route.pair import PairConfig, load_pair
from verifier_agreement import kappa  # the sibling script's (benchmarks/ is on the path when run)


def scores(got: list[int], ref: list[int]) -> dict:
    tp = sum(g == 1 and r == 1 for g, r in zip(got, ref))
    return {"n": len(got), "agreement": sum(g == r for g, r in zip(got, ref)) / len(got), "kappa": kappa(got, ref),
            "precision": tp / max(sum(got), 1), "recall": tp / max(sum(ref), 1), "positive_rate": sum(got) / len(got)}


def gold_aware(item: dict, gold: str) -> int:
    ref_right = same_answer(item["reference_final"], gold)
    if item.get("rejoined"):
        return 0
    branch_right = item.get("ended", True) and same_answer(item["branch_final"], gold)
    return int(ref_right and not branch_right)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--gold", required=True, help="hand labels: JSONL of {query_id, position, label}")
    ap.add_argument("--data", required=True, help="the queries' JSONL (GSM8K train), for the gold answers")
    ap.add_argument("--pair", default="default")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    root = Path(args.run)
    cfg = json.loads((root / "label-config.json").read_text())
    if cfg["verifier"]["verifier"] != "outcome":
        raise SystemExit(f"{root} was labeled with the {cfg['verifier']['verifier']} verifier; run one with --verifier outcome")
    records = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    items, verdicts, answers = [], [], {}
    for p in sorted((root / "continuations").glob("*.json")):
        v = root / "verdicts" / p.name
        if v.is_file():
            items += json.loads(p.read_text())["items"]
            verdicts += json.loads(v.read_text())["verdicts"]
            for a in json.loads((root / "answers" / p.name).read_text())["answers"]:
                answers[a["id"]] = a
    gold = {}
    for line in Path(args.gold).read_text().splitlines():
        if line.strip():
            g = json.loads(line)
            gold[(g["query_id"], g["position"])] = g
    # A hand label counts only where this run's item is the same mismatch: the same position *and* the
    # same reference sentence (the LLM's answers can differ between runs whose batches differed).
    idx = [i for i, it in enumerate(items) if (it["query_id"], it["position"]) in gold
           and gold[(it["query_id"], it["position"])]["reference"].strip() == it["reference"].strip()]
    missing = len(gold) - len(idx)
    ref = [gold[(items[i]["query_id"], items[i]["position"])]["label"] for i in idx]
    golds = {q: gsm8k_gold(records[q]["answer"]) for q in {it["query_id"] for it in items}}
    variants = {
        "outcome": verdicts,
        "outcome-gold": [gold_aware(it, golds[it["query_id"]]) for it in items],
        "rule": RuleVerifier().judge([{**it, "candidate": cut_sentence(it["candidate"] or "")} for it in items])[0],
    }
    rows = {}
    print(f"{len(items)} judged mismatches in {root}; {len(idx)} of {len(gold)} hand labels among them ({sum(ref)} divergent)"
          + (f"; {missing} hand-labeled items are not in this run (not sampled, or another answer)" if missing else ""))
    for name, got in variants.items():
        r = rows[name] = {"all_items": {"n": len(got), "positive_rate": sum(got) / len(got)}, "gold": scores([got[i] for i in idx], ref)}
        g = r["gold"]
        print(f"  {name:<13} vs hand labels: agreement {g['agreement']:.3f}  kappa {g['kappa']:+.3f}  precision {g['precision']:.3f}  "
              f"recall {g['recall']:.3f}   divergent share of all {len(got)} mismatches: {r['all_items']['positive_rate']:.3f}")
    rejoined = sum(bool(it.get("rejoined")) for it in items)
    print(f"  branches that re-joined the reference: {rejoined} of {len(items)} ({rejoined / len(items):.1%})")

    # cost: continue the hand-labeled items again, timed, and check they come out the same
    pair = load_pair(PairConfig(pair=args.pair))
    ctx = Contexts(pair, cfg["settings"]["system"])
    writer = llm_writer(pair, cfg["settings"]["slots"])
    writer.reset()
    wanted: dict[int, list[tuple[int, int]]] = {}
    for i in idx:
        it = items[i]
        wanted.setdefault(it["query_id"], []).append((it["position"], it["slm_token"]))
    t = time.perf_counter()
    again = continue_chunk(ctx, writer, [answers[q] for q in wanted], wanted, sorted(wanted), cfg["settings"]["continuation_tokens"],
                           None, 0, branch="answer", rejoin=cfg["verifier"].get("rejoin_tokens", defaults.LABEL_REJOIN_TOKENS))
    seconds = time.perf_counter() - t
    same = sum(a == items[i] for a, i in zip(again["items"], idx))
    ov = OutcomeVerifier().judge(again["items"])[0]
    print(f"  cost: {seconds / len(idx):.2f} s per judged mismatch (LLM branches, {cfg['settings']['slots']} slots); "
          f"{same} of {len(idx)} branches reproduced exactly, verdicts equal: {ov == [verdicts[i] for i in idx]}")
    rows["cost_s_per_item"] = seconds / len(idx)
    rows["reproduced"] = same
    rows["rejoined_share"] = rejoined / len(items)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
