"""How well do the cheap verifiers agree with the LLM verifier? On one label run's mismatches.

    python benchmarks/verifier_agreement.py runs/labels-llm-sample

Reads the continuations and the `llm` verdicts a run made (`r2route label --verifier llm`),
judges the same items with the `rule` and `embedding` verifiers, and prints, per cheap verifier,
agreement, Cohen's kappa, and its precision/recall at finding what the LLM called divergent.
Unparseable LLM verdicts (-1) are left out. Also prints each verifier's judging time per item.
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
    rows = {}
    for ver in (RuleVerifier(), EmbeddingVerifier()):
        t = time.perf_counter()
        got, _ = ver.judge(items)
        secs = time.perf_counter() - t
        tp = sum(g == 1 and l == 1 for g, l in zip(got, llm))
        prec = tp / max(sum(got), 1)
        rec = tp / max(sum(llm), 1)
        agree = sum(g == l for g, l in zip(got, llm)) / len(llm)
        rows[ver.name] = {"agreement": agree, "kappa": kappa(got, llm), "precision": prec, "recall": rec, "positive_rate": sum(got) / len(got), "ms_per_item": 1000 * secs / len(items)}
        r = rows[ver.name]
        print(f"  {ver.name:<10} agreement {r['agreement']:.3f}  kappa {r['kappa']:.3f}  precision {r['precision']:.3f}  recall {r['recall']:.3f}  "
              f"positive rate {r['positive_rate']:.3f}  {r['ms_per_item']:.2f} ms/item")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
