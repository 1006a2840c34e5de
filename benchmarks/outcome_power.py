"""Could the end-to-end run see the router's token-level lead at all? A power check from measured rows.

    python benchmarks/outcome_power.py results/eval-gsm8k-outcome --router results/router-outcome --records 300

The router's goal end to end is a paired accuracy gain over SLM entropy whose 95% interval lies
above zero. Two measured quantities say how large a gain that takes, and how large a gain the
router's validation lead can buy:

1. **Smallest gain the run can show.** A paired difference per record is −1, 0 or +1; with a share
   d of discordant records (only one method right) and a true gain g its standard deviation is
   √(d − g²). The interval clears zero on average when g > 1.96·√((d − g²)/N), and four times in
   five when g > 2.80·√((d − g²)/N). d comes from the rows (every record both methods finished).
2. **Gain the lead can buy.** The accuracy that entropy routing gains per unit of validation recall
   of divergent tokens, measured twice: from the SLM alone (recall 0) to entropy at share 0.1, and
   from entropy at 0.1 to entropy at 0.2 (their recalls from ``metrics.json``'s baselines, their
   accuracies from the rows). Times the neural router's recall lead over entropy (the chosen
   router's, and the learning curve's mean over seeds on all the data, if ``learning_curve.jsonl``
   is there) that is the gain to expect if an extra divergent token caught is worth what entropy's
   are worth. It is an estimate, not a measurement of the neural router; the rows measure that.

Prints one table per share; ``--json`` writes the same figures as JSON lines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from common import parser, read_rows, write_jsonl

SHARES = (0.1, 0.2)
Z95, Z80 = 1.96, 1.96 + 0.84  # two-sided 95% interval; plus one-sided 80% power


def by_record(rows_path: Path) -> dict[tuple[str, float | None], dict[int, bool]]:
    """(method, target share) → record id → correct, the last row of each kept (reruns append)."""
    out: dict = {}
    for r in read_rows(rows_path):
        out.setdefault((r["method"], r["share"]), {})[r["id"]] = bool(r["correct"])
    return out


def smallest_gain(d: float, n: int, z: float) -> float:
    """Smallest true gain g whose paired interval clears zero at z: g = z·√((d − g²)/n), solved for g."""
    return z * math.sqrt(d / (n + z * z))


def main() -> None:
    ap = parser(__doc__, pair=None, device=None)
    ap.add_argument("run", type=Path, help="an `r2route eval` directory with slm, entropy and neural rows")
    ap.add_argument("--router", type=Path, required=True, help="the neural router's directory (metrics.json)")
    ap.add_argument("--records", type=int, default=300, help="the run's planned size, beside its current one")
    args = ap.parse_args()

    rows = by_record(args.run / "results.jsonl")
    metrics = json.loads((args.router / "metrics.json").read_text())
    neural_recall = metrics["router"]["recall_at_share"]
    entropy_recall = metrics["baselines"]["entropy"]["recall_at_share"]
    curve = args.router / "learning_curve.jsonl"
    curve_rows = read_rows(curve) if curve.exists() else []

    ids = set(rows[("slm", None)])
    for share in SHARES:
        ids &= set(rows[("entropy", share)]) & set(rows[("neural", share)])
    ids = sorted(ids)
    n = len(ids)
    acc = {k: float(np.mean([v[i] for i in ids])) for k, v in rows.items()}
    r1, r2 = entropy_recall[str(SHARES[0])], entropy_recall[str(SHARES[1])]
    slopes = {"slm→entropy@0.1": (acc[("entropy", SHARES[0])] - acc[("slm", None)]) / r1,
              "entropy@0.1→0.2": (acc[("entropy", SHARES[1])] - acc[("entropy", SHARES[0])]) / (r2 - r1)}
    print(f"{n} records finished by every method. Accuracy per unit of entropy's validation recall: "
          + ", ".join(f"{k} {v:.2f}" for k, v in slopes.items()))

    out = []
    for share in SHARES:
        a = np.array([rows[("neural", share)][i] for i in ids], dtype=float)
        b = np.array([rows[("entropy", share)][i] for i in ids], dtype=float)
        d = float((a != b).mean())
        leads = {"chosen router": neural_recall[str(share)] - entropy_recall[str(share)]}
        full = [r[f"lead@{share}"] for r in curve_rows if r["fraction"] == 1]
        if full:
            leads[f"learning curve, all data, mean of {len(full)} seeds"] = float(np.mean(full))
        rec = {"share": share, "records": n, "discordant": d, "observed_gain": float((a - b).mean()),
               "smallest_gain_now": {"even": smallest_gain(d, n, Z95), "4_in_5": smallest_gain(d, n, Z80)},
               "smallest_gain_planned": {"even": smallest_gain(d, args.records, Z95), "4_in_5": smallest_gain(d, args.records, Z80)},
               "accuracy_per_recall": slopes, "recall_lead": leads,
               "expected_gain": {k: [lead * s for s in slopes.values()] for k, lead in leads.items()},
               "recall_lead_needed_planned": [smallest_gain(d, args.records, Z95) / s for s in slopes.values()]}
        out.append(rec)
        print(f"\nshare {share}: discordant records {d:.3f}, observed gain {rec['observed_gain']:+.3f}")
        for label, key, size in (("now", "smallest_gain_now", n), ("planned", "smallest_gain_planned", args.records)):
            g = rec[key]
            print(f"  smallest gain an interval clears at {size} records ({label}): {g['even']:.3f} half the time, {g['4_in_5']:.3f} four times in five")
        for k, lead in leads.items():
            lo, hi = sorted(rec["expected_gain"][k])
            print(f"  recall lead {lead:+.3f} ({k}) → expected gain {lo:+.3f} to {hi:+.3f}")
        lo, hi = sorted(rec["recall_lead_needed_planned"])
        print(f"  recall lead needed for an even chance at {args.records} records: {lo:.3f} to {hi:.3f}")
    if args.json_out:
        write_jsonl(args.json_out, out)


if __name__ == "__main__":
    main()
