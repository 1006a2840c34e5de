"""Does the router's lead over SLM entropy grow with labeled data? A learning curve on one label run.

    python benchmarks/router_learning_curve.py results/labels-outcome --fractions 0.25,0.5,1 --seeds 0,1,2 \
        --logits-ref max --width 64 --depth 1 --top-k 20 --json runs/learning-curve.jsonl

The validation split (by query, --val-percent) stays fixed; the router trains on a seeded random
subset of the training queries at each fraction, once per seed; or, with ``--queries 600,1200,1800``,
on the training queries among the first N labeled queries (the labels as they stood when N queries
were done), with the validation split of the whole run. For each run: recall of divergent
validation tokens at LLM shares 0.1 and 0.2 and PR-AUC, beside SLM entropy's on the same tokens,
and the router's recall lead over entropy with a 95% interval from a bootstrap over validation
queries (tokens of one answer are not independent). A lead that grows with the fraction says more
labels would pay; a flat one says the labels or the features limit the router, not their number.
Writes learning_curve.png beside --json (or into the working directory).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from common import parser, write_jsonl
from r2route.pair import PairConfig, load_slm
from r2route.training import TrainConfig, read_labels
from r2route.training.curves import pr_auc, threshold_for_share
from r2route.training.run import eval_rows, fit

SHARES = (0.1, 0.2)


def recall_by_query(scores: np.ndarray, y: np.ndarray, qid: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Per validation query: (divergent tokens routed at ``share``, divergent tokens)."""
    routed = scores >= threshold_for_share(scores, share)
    uq, inv = np.unique(qid, return_inverse=True)
    hit = np.bincount(inv, weights=(routed & y).astype(float), minlength=len(uq))
    pos = np.bincount(inv, weights=y.astype(float), minlength=len(uq))
    return hit, pos


def lead_ci(a: tuple, b: tuple, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Recall difference a − b (pooled over queries) with a 95% bootstrap interval over queries."""
    (ha, pa), (hb, _) = a, b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pa), size=(n, len(pa)))
    tot = pa[idx].sum(1)
    diffs = (ha[idx].sum(1) - hb[idx].sum(1)) / np.maximum(tot, 1)
    return float((ha.sum() - hb.sum()) / pa.sum()), float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def main() -> None:
    ap = parser(__doc__, pair="default", device=None)
    ap.add_argument("labels")
    ap.add_argument("--fractions", default="0.25,0.5,1")
    ap.add_argument("--queries", default="", help="first-N-queries points instead of --fractions, e.g. 600,1200,1800")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--val-percent", type=int, default=20)
    ap.add_argument("--features", default="hidden,token,logits")
    ap.add_argument("--logits-ref", default="max")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--top-k", type=int, default=20)
    args = ap.parse_args()
    labels = read_labels(args.labels, args.val_percent)
    feats = tuple(args.features.split(","))
    embed, embed_size = None, 0
    if "token" in feats:  # on the CPU in float32, as train-router embeds tokens
        slm = load_slm(PairConfig(pair=args.pair, device="cpu", dtype="float32"))
        embed = slm.embed
        embed_size = int(embed(labels.slm_token[:1]).shape[-1])
    rows, y = eval_rows(labels)
    qid = labels.query_id[rows]
    ent = labels.entropy[rows]
    ent_by = {s: recall_by_query(ent, y, qid, s) for s in SHARES}
    train_q = np.unique(labels.query_id[~labels.is_val])
    out = []
    print(f"validation: {int(rows.sum()):,} tokens, {int(y.sum())} divergent, {len(np.unique(qid))} queries; "
          f"entropy recall@0.1 {ent_by[0.1][0].sum() / y.sum():.3f}, @0.2 {ent_by[0.2][0].sum() / y.sum():.3f}, PR-AUC {pr_auc(ent, y):.3f}")
    points = ([("queries", int(n)) for n in args.queries.split(",")] if args.queries
              else [("fraction", float(f)) for f in args.fractions.split(",")])
    labeled = int(labels.query_id.max()) + 1
    if any(kind == "queries" and point > labeled for kind, point in points):
        raise SystemExit(f"error: --queries asks for more than the {labeled} queries labeled in {args.labels}")
    for kind, point in points:
        for seed in (int(s) for s in args.seeds.split(",")):
            if kind == "queries":
                keep = train_q[train_q < point]
            else:
                keep = np.random.default_rng(seed).permutation(train_q)[: max(1, round(point * len(train_q)))]
            drop = ~labels.is_val & ~np.isin(labels.query_id, keep)
            sub = dataclasses.replace(labels, divergent=np.where(drop, -2, labels.divergent).astype(np.int8))
            cfg = TrainConfig(features=feats, logits_ref=args.logits_ref, width=args.width, depth=args.depth, top_k=args.top_k, seed=seed)
            _, scores = fit(sub, cfg, embed, embed_size, progress=False)
            rec = {kind: point, "seed": seed, "train_queries": len(keep),
                   "train_positives": int(((sub.divergent == 1) & ~sub.is_val).sum()), "pr_auc": pr_auc(scores, y),
                   "entropy_pr_auc": pr_auc(ent, y)}
            for s in SHARES:
                mine = recall_by_query(scores, y, qid, s)
                lead, lo, hi = lead_ci(mine, ent_by[s], seed=seed)
                rec.update({f"recall@{s}": float(mine[0].sum() / y.sum()), f"entropy_recall@{s}": float(ent_by[s][0].sum() / y.sum()),
                            f"lead@{s}": lead, f"lead@{s}_ci95": [lo, hi]})
            out.append(rec)
            line = (f"{kind} {point} seed {seed}: {rec['train_queries']} queries, {rec['train_positives']} positives | "
                    f"PR-AUC {rec['pr_auc']:.3f} | " + " | ".join(
                        f"recall@{s} {rec[f'recall@{s}']:.3f}, lead {rec[f'lead@{s}']:+.3f} [{rec[f'lead@{s}_ci95'][0]:+.3f}, {rec[f'lead@{s}_ci95'][1]:+.3f}]"
                        for s in SHARES))
            print(line, flush=True)
    if args.json_out:
        write_jsonl(args.json_out, out)
    plot(out, Path(args.json_out).with_suffix(".png") if args.json_out else Path("learning_curve.png"))


def plot(out: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SHARES), figsize=(5 * len(SHARES), 3.6), dpi=120, sharey=True)
    for ax, s in zip(np.atleast_1d(axes), SHARES):
        qs = sorted({r["train_queries"] for r in out})
        mean = [np.mean([r[f"lead@{s}"] for r in out if r["train_queries"] == q]) for q in qs]
        ax.scatter([r["train_queries"] for r in out], [r[f"lead@{s}"] for r in out], s=14, alpha=0.6)
        ax.plot(qs, mean, "o-", label="mean over seeds")
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_xlabel("training queries")
        ax.set_title(f"router recall − entropy recall at LLM share {s}")
    np.atleast_1d(axes)[0].set_ylabel("recall lead over entropy")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot -> {path}")


if __name__ == "__main__":
    main()
