"""How well do the cheap verifiers agree with the LLM verifier? On one label run's mismatches.

    python benchmarks/verifier_agreement.py runs/labels-llm-sample [--prompts verifier_v2 --pair default] [--gold FILE]

Reads the continuations and the `llm` verdicts a run made (`r2route label --verifier llm`),
judges the same items with the `rule` and `embedding` verifiers (and, with --prompts, the run's
LLM with other prompt versions), and prints, per verifier, agreement and Cohen's kappa with the
run's LLM verdicts, and its precision/recall at finding what the LLM called divergent. Items whose
LLM verdict is unparseable (-1) are left out. With --gold (a JSONL of {query_id, position, label},
labels written by a person), every verifier is also scored against those labels.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from r2route.labeling.verifiers import EmbeddingVerifier, RuleVerifier


def kappa(a: list[int], b: list[int]) -> float:
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return (po - pe) / (1 - pe) if pe < 1 else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--prompts", default="", help="other LLM verifier prompt versions to judge with")
    ap.add_argument("--pair", default="default", help="the pair whose LLM judges with --prompts")
    ap.add_argument("--gold", help="hand labels: JSONL of {query_id, position, label}")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    root = Path(args.run)
    cfg = json.loads((root / "label-config.json").read_text())
    if cfg["verifier"]["verifier"] != "llm":
        raise SystemExit(f"{root} was labeled with the {cfg['verifier']['verifier']} verifier; run one with --verifier llm")
    items, llm = [], []
    for p in sorted((root / "continuations").glob("*.json")):
        v = root / "verdicts" / p.name
        if not v.is_file():
            continue
        cont, ver = json.loads(p.read_text()), json.loads(v.read_text())
        for it, lab in zip(cont["items"], ver["verdicts"]):
            if lab >= 0:
                items.append(it)
                llm.append(lab)
    unparse = sum(len(json.loads(v.read_text())["verdicts"]) for v in (root / "verdicts").glob("*.json")) - len(llm)
    print(f"{len(items)} items judged by the LLM verifier ({cfg['verifier'].get('model')}), {sum(llm)} divergent "
          f"({100 * sum(llm) / max(len(llm), 1):.1f}%), {unparse} unparseable left out")
    verifiers = [RuleVerifier(), EmbeddingVerifier()]
    if args.prompts:
        from r2route.labeling import build_verifier, llm_writer
        from r2route.pair import PairConfig, load_pair

        pair = load_pair(PairConfig(pair=args.pair))
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
        g2, l2 = [got[i] for i in keep], [llm[i] for i in keep]
        tp = sum(g == 1 and v == 1 for g, v in zip(g2, l2))
        r = rows[name] = {"items": len(keep), "agreement": sum(g == v for g, v in zip(g2, l2)) / len(keep), "kappa": kappa(g2, l2),
                          "precision": tp / max(sum(g2), 1), "recall": tp / max(sum(l2), 1), "positive_rate": sum(g2) / len(g2),
                          "ms_per_item": 1000 * secs / len(items)}
        print(f"  {name:<22} vs run's LLM: agreement {r['agreement']:.3f}  kappa {r['kappa']:+.3f}  precision {r['precision']:.3f}  "
              f"recall {r['recall']:.3f}  positive rate {r['positive_rate']:.3f}  {r['ms_per_item']:.1f} ms/item")
    if args.gold:
        gold = {}
        for line in Path(args.gold).read_text().splitlines():
            if line.strip():
                g = json.loads(line)
                gold[(g["query_id"], g["position"])] = g["label"]
        idx = [i for i, it in enumerate(items) if (it["query_id"], it["position"]) in gold]
        ref = [gold[(items[i]["query_id"], items[i]["position"])] for i in idx]
        print(f"against {len(idx)} hand labels ({sum(ref)} divergent):")
        for name, (got, _) in judged.items():
            pairs = [(got[i], r) for i, r in zip(idx, ref) if got[i] >= 0]
            g2, r2 = [p[0] for p in pairs], [p[1] for p in pairs]
            tp = sum(g == 1 and r == 1 for g, r in pairs)
            rows[name]["gold"] = {"agreement": sum(g == r for g, r in pairs) / len(pairs), "kappa": kappa(g2, r2),
                                  "precision": tp / max(sum(g2), 1), "recall": tp / max(sum(r2), 1)}
            x = rows[name]["gold"]
            print(f"  {name:<22} agreement {x['agreement']:.3f}  kappa {x['kappa']:+.3f}  precision {x['precision']:.3f}  recall {x['recall']:.3f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
