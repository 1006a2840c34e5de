"""How well do the verifiers agree with each other and with hand labels? On one label run's mismatches.

    python benchmarks/verifier_agreement.py runs/labels-llm-sample [--prompts verifier_v2 --pair default] [--gold FILE]
    python benchmarks/verifier_agreement.py runs/outcome-sample --gold benchmarks/data/verifier_gold_gsm8k_train.jsonl \
        [--data ../shared/data/gsm8k/train.jsonl] [--no-cost]

The run's verifier picks what is measured.

A run labeled with `--verifier llm`: its continuations and `llm` verdicts, the same items judged
with the `rule` and `embedding` verifiers (and, with --prompts, the run's LLM with other prompt
versions). Prints, per verifier, agreement and Cohen's kappa with the run's LLM verdicts, and its
precision/recall at finding what the LLM called divergent. Items whose LLM verdict is unparseable
(-1) are left out. With --gold, every verifier is also scored against the hand labels.

A run labeled with `--verifier outcome` whose sampled mismatches include the hand-labeled ones
(`--limit 12 --chunk 4 --max-mismatches 8`, as the hand-labeled run); --gold is required. For the
hand-labeled items it prints, beside the `rule` verifier on the same items:
- ``outcome``: divergent when the branch's final answer differs from the reference's;
- ``outcome-gold`` (gold-aware): divergent when the branch ends wrong while the reference ends right
  (the GSM8K gold answer from --data);
and for every item of the run, the share each calls divergent. The cost per judged mismatch is
measured by continuing the hand-labeled items again here with --pair (one process, nothing else
running), which also checks that the run's branches are reproduced exactly; --no-cost skips it.

--gold is a JSONL of {query_id, position, reference, label}, labels written by a person. A hand
label counts only where the run's item is the same mismatch: the same position *and* the same
reference sentence (the LLM's answers can differ between runs whose batches differed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from common import GSM8K_TRAIN, load, parser, write_json
from r2route import defaults
from r2route.evaluation.graders import gsm8k_gold
from r2route.labeling import build_verifier, llm_writer
from r2route.labeling.contexts import Contexts
from r2route.labeling.continuations import continue_chunk
from r2route.labeling.data import read_jsonl
from r2route.labeling.outcome import same_answer
from r2route.labeling.sentences import cut_sentence
from r2route.labeling.verifiers import EmbeddingVerifier, OutcomeVerifier, RuleVerifier


def kappa(a: list[int], b: list[int]) -> float:
    """Cohen's kappa of two binary labelings of the same items."""
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return (po - pe) / (1 - pe) if pe < 1 else 1.0


def scores(got: list[int], ref: list[int]) -> dict:
    """``got`` against ``ref`` (1 = divergent): agreement, kappa, precision, recall, share called divergent."""
    if not got:
        return {"items": 0, **dict.fromkeys(("agreement", "kappa", "precision", "recall", "positive_rate"), float("nan"))}
    tp = sum(g == 1 and r == 1 for g, r in zip(got, ref))
    return {"items": len(got), "agreement": sum(g == r for g, r in zip(got, ref)) / len(got), "kappa": kappa(got, ref),
            "precision": tp / max(sum(got), 1), "recall": tp / max(sum(ref), 1), "positive_rate": sum(got) / len(got)}


def read_run(root: Path, verifier: str) -> tuple[dict, list[dict], list[int], dict[int, dict]]:
    """(label config, judged items, their verdicts, query id → LLM answer) of a run made with ``verifier``."""
    cfg = json.loads((root / "label-config.json").read_text())
    if cfg["verifier"]["verifier"] != verifier:
        raise SystemExit(f"{root} was labeled with the {cfg['verifier']['verifier']} verifier; this needs one made with "
                         f"--verifier {verifier}")
    items, verdicts, answers = [], [], {}
    for p in sorted((root / "continuations").glob("*.json")):
        v = root / "verdicts" / p.name
        if not v.is_file():
            continue
        items += json.loads(p.read_text())["items"]
        verdicts += json.loads(v.read_text())["verdicts"]
        a = root / "answers" / p.name
        if a.is_file():
            answers.update((x["id"], x) for x in json.loads(a.read_text())["answers"])
    return cfg, items, verdicts, answers


def gold_matches(items: list[dict], gold_path: str) -> tuple[list[int], list[int], int]:
    """(indices of ``items`` that are hand-labeled mismatches, their hand labels, hand labels in the file)."""
    gold = {(g["query_id"], g["position"]): g for _, g in read_jsonl(gold_path)}
    idx = [i for i, it in enumerate(items) if (g := gold.get((it["query_id"], it["position"])))
           and g["reference"].strip() == it["reference"].strip()]
    return idx, [gold[(items[i]["query_id"], items[i]["position"])]["label"] for i in idx], len(gold)


def print_scores(name: str, s: dict, against: str, extra: str = "") -> None:
    print(f"  {name:<22} vs {against}: agreement {s['agreement']:.3f}  kappa {s['kappa']:+.3f}  precision {s['precision']:.3f}  "
          f"recall {s['recall']:.3f}{extra}")


def llm_run(args, root: Path) -> dict:
    """The cheap verifiers (and other LLM prompts) against an `llm` run's verdicts, and against --gold."""
    cfg, all_items, all_verdicts, _ = read_run(root, "llm")
    items = [it for it, lab in zip(all_items, all_verdicts) if lab >= 0]
    llm = [lab for lab in all_verdicts if lab >= 0]
    print(f"{len(items)} items judged by the LLM verifier ({cfg['verifier'].get('model')}), {sum(llm)} divergent "
          f"({100 * sum(llm) / max(len(llm), 1):.1f}%), {len(all_verdicts) - len(llm)} unparseable left out")
    verifiers = [RuleVerifier(), EmbeddingVerifier()]
    if args.prompts:
        pair = load(args)
        writer = llm_writer(pair, 8)
        for version in args.prompts.split(","):
            v = build_verifier("llm", pair, writer, prompt=version)
            v.name = f"llm/{version}"
            verifiers.append(v)
    judged = {f"llm/{cfg['verifier'].get('prompt')} (run)": (llm, 0.0)}
    for ver in verifiers:
        if hasattr(ver, "writer"):
            ver.writer.reset()
        t = time.perf_counter()
        got, _ = ver.judge(items)
        judged[ver.name] = (got, time.perf_counter() - t)
    rows = {}
    for name, (got, secs) in judged.items():
        keep = [i for i, g in enumerate(got) if g >= 0]
        r = rows[name] = {**scores([got[i] for i in keep], [llm[i] for i in keep]), "ms_per_item": 1000 * secs / len(items)}
        print_scores(name, r, "run's LLM", f"  positive rate {r['positive_rate']:.3f}  {r['ms_per_item']:.1f} ms/item")
    if args.gold:
        idx, ref, _ = gold_matches(items, args.gold)
        print(f"against {len(idx)} hand labels ({sum(ref)} divergent):")
        for name, (got, _) in judged.items():
            pairs = [(got[i], r) for i, r in zip(idx, ref) if got[i] >= 0]
            rows[name]["gold"] = scores([p[0] for p in pairs], [p[1] for p in pairs])
            print_scores(name, rows[name]["gold"], "hand labels")
    return rows


def gold_aware(item: dict, gold: str) -> int:
    """Divergent when the branch ends wrong while the reference ends right."""
    ref_right = same_answer(item["reference_final"], gold)
    if item.get("rejoined"):
        return 0
    branch_right = item.get("ended", True) and same_answer(item["branch_final"], gold)
    return int(ref_right and not branch_right)


def outcome_run(args, root: Path) -> dict:
    """The outcome verifier, its gold-aware variant and `rule` against --gold; then the cost per mismatch."""
    if not args.gold:
        raise SystemExit("an outcome run is scored against hand labels: give --gold")
    cfg, items, verdicts, answers = read_run(root, "outcome")
    idx, ref, n_gold = gold_matches(items, args.gold)
    records = [r for _, r in read_jsonl(args.data)]
    golds = {q: gsm8k_gold(records[q]["answer"]) for q in {it["query_id"] for it in items}}
    variants = {
        "outcome": verdicts,
        "outcome-gold": [gold_aware(it, golds[it["query_id"]]) for it in items],
        "rule": RuleVerifier().judge([{**it, "candidate": cut_sentence(it["candidate"] or "")} for it in items])[0],
    }
    missing = n_gold - len(idx)
    print(f"{len(items)} judged mismatches in {root}; {len(idx)} of {n_gold} hand labels among them ({sum(ref)} divergent)"
          + (f"; {missing} hand-labeled items are not in this run (not sampled, or another answer)" if missing else ""))
    rows = {}
    for name, got in variants.items():
        r = rows[name] = {"all_items": {"n": len(got), "positive_rate": sum(got) / len(got)}, "gold": scores([got[i] for i in idx], ref)}
        print_scores(name, r["gold"], "hand labels", f"   divergent share of all {len(got)} mismatches: {r['all_items']['positive_rate']:.3f}")
    rejoined = sum(bool(it.get("rejoined")) for it in items)
    print(f"  branches that re-joined the reference: {rejoined} of {len(items)} ({rejoined / len(items):.1%})")
    rows["rejoined_share"] = rejoined / len(items)
    if idx and not args.no_cost:
        rows.update(outcome_cost(args, cfg, [items[i] for i in idx], [verdicts[i] for i in idx], answers))
    return rows


def outcome_cost(args, cfg: dict, items: list[dict], verdicts: list[int], answers: dict[int, dict]) -> dict:
    """Continue ``items`` again with the run's settings, timed; check they and their verdicts come out the same."""
    pair = load(args)
    ctx = Contexts(pair, cfg["settings"]["system"])
    writer = llm_writer(pair, cfg["settings"]["slots"])
    writer.reset()
    wanted: dict[int, list[tuple[int, int]]] = {}
    for it in items:
        wanted.setdefault(it["query_id"], []).append((it["position"], it["slm_token"]))
    t = time.perf_counter()
    again = continue_chunk(ctx, writer, [answers[q] for q in wanted], wanted, sorted(wanted), cfg["settings"]["continuation_tokens"],
                           None, 0, branch="answer", rejoin=cfg["verifier"].get("rejoin_tokens", defaults.LABEL_REJOIN_TOKENS))
    seconds = time.perf_counter() - t
    same = sum(a == b for a, b in zip(again["items"], items))
    ov = OutcomeVerifier().judge(again["items"])[0]
    print(f"  cost: {seconds / len(items):.2f} s per judged mismatch (LLM branches, {cfg['settings']['slots']} slots); "
          f"{same} of {len(items)} branches reproduced exactly, verdicts equal: {ov == verdicts}")
    return {"cost_s_per_item": seconds / len(items), "reproduced": same}


def main() -> None:
    ap = parser(__doc__, pair="default")
    ap.add_argument("run")
    ap.add_argument("--gold", help="hand labels: JSONL of {query_id, position, reference, label}")
    ap.add_argument("--prompts", default="", help="llm run: other LLM verifier prompt versions to judge with (on --pair)")
    ap.add_argument("--data", default=str(GSM8K_TRAIN), help="outcome run: the queries' JSONL, for the gold answers")
    ap.add_argument("--no-cost", action="store_true", help="outcome run: skip continuing the hand-labeled items again")
    args = ap.parse_args()
    root = Path(args.run)
    verifier = json.loads((root / "label-config.json").read_text())["verifier"]["verifier"]
    rows = outcome_run(args, root) if verifier == "outcome" else llm_run(args, root)
    if args.json_out:
        write_json(args.json_out, rows)


if __name__ == "__main__":
    main()
