"""Would the router gain from inputs beyond the SLM's step? A screen on the validation split.

    python benchmarks/router_features.py results/labels-outcome --queries 1200 --seeds 0,1,2,3,4 \
        --json results/router-outcome/features.jsonl

Candidate inputs, each computable at decode time from what the engine already holds:
- ``position``: the token's position in the answer, as log(1 + position);
- ``recent``: the SLM's entropy over the previous ``--window`` answer tokens (mean and max);
- ``both``: the two together.
Each candidate is appended to the router's top-k input (the linear projection reads it beside the
top-k logit gaps), so the rest of the shipped shape stays as it is. Every candidate and the plain
router are trained from the same seeds on the same split and scored on the same validation tokens:
recall of divergent tokens at LLM shares 0.1 and 0.2 and PR-AUC, per seed and for the mean-logit
ensemble of the seeds. A candidate is worth a decode-time implementation (and a frozen end-to-end
check) only if its lead over the plain router exceeds the spread the seed alone causes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from common import parser, write_jsonl
from r2route.pair import PairConfig, load_slm
from r2route.router.model import RouterConfig, RouterEnsemble
from r2route.training import TrainConfig, read_labels
from r2route.training.curves import pr_auc, recall_at_share
from r2route.training.run import eval_rows
from r2route.training.trainer import make_inputs, predict, train

SHARES = (0.1, 0.2)
CANDIDATES = {"plain": (), "position": ("position",), "recent": ("recent",), "both": ("position", "recent")}


def context_columns(root: Path, meta: dict, window: int) -> dict[str, np.ndarray]:
    """Per label row (in read_labels' order): log(1 + position), the SLM's mean and max entropy
    over the previous ``window`` positions of the same answer (0 where there are none), and the
    row's query id."""
    qid, pos, ent = [], [], []
    for s in meta["shards"]:
        t = pq.read_table(root / s, columns=["query_id", "position", "entropy"])
        qid.append(t.column("query_id").to_numpy())
        pos.append(t.column("position").to_numpy())
        ent.append(t.column("entropy").to_numpy())
    qid, pos, ent = (np.concatenate(x) for x in (qid, pos, ent))
    mean = np.zeros(len(qid), dtype=np.float32)
    peak = np.zeros(len(qid), dtype=np.float32)
    # rows of one answer are contiguous and in position order (checked), so a running window per answer
    starts = np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(qid)]):
        if np.any(np.diff(pos[a:b]) != 1):
            raise SystemExit(f"query {qid[a]}: label rows are not consecutive positions")
        e = ent[a:b]
        for i in range(1, b - a):
            w = e[max(0, i - window):i]
            mean[a + i], peak[a + i] = w.mean(), w.max()
    return {"position": np.log1p(pos).astype(np.float32)[:, None], "recent": np.stack([mean, peak], 1), "query_id": qid}


def scored(models, inputs, n) -> np.ndarray:
    """Validation scores of one router, or of the mean-logit ensemble of several (as shipped)."""
    return predict(models[0] if len(models) == 1 else RouterEnsemble(models), inputs, n)


def figures(scores: np.ndarray, y: np.ndarray) -> dict:
    return {"pr_auc": pr_auc(scores, y), **{f"recall@{s}": recall_at_share(scores, y, s) for s in SHARES}}


def main() -> None:
    ap = parser(__doc__, pair="default", device=None)
    ap.add_argument("labels")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--val-percent", type=int, default=20)
    ap.add_argument("--queries", type=int, default=None, help="the labels of the first N queries only")
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--logits-ref", default="max")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--top-k", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)  # beside a running label job; the MLP is small
    labels = read_labels(args.labels, args.val_percent, args.queries)
    extra = context_columns(Path(args.labels), labels.meta, args.window)
    qid = extra.pop("query_id")
    if args.queries is not None:  # the rows read_labels kept
        extra = {k: v[qid < args.queries] for k, v in extra.items()}
    feats = ("hidden", "token", "logits")
    slm = load_slm(PairConfig(pair=args.pair, device="cpu", dtype="float32"))
    embed_size = int(slm.embed(labels.slm_token[:1]).shape[-1])
    y_all, usable = labels.target("divergent")
    tr, va = usable & ~labels.is_val, usable & labels.is_val
    rows, y = eval_rows(labels)
    assert np.array_equal(rows, va)
    seeds = [int(s) for s in args.seeds.split(",")]
    ent = figures(labels.entropy[va], y)
    print(f"train {int(tr.sum()):,} tokens ({int(y_all[tr].sum())} divergent), validation {int(va.sum()):,} "
          f"({int(y.sum())} divergent, {len(np.unique(labels.query_id[va]))} queries); entropy "
          + ", ".join(f"{k} {v:.3f}" for k, v in ent.items()), flush=True)
    out = [{"candidate": "entropy", "seed": None, **ent}]
    for name in args.candidates.split(","):
        cols = [extra[c] for c in CANDIDATES[name]]

        def inputs(sel):
            inp = make_inputs(labels, sel, feats, args.top_k, slm.embed, args.logits_ref)
            if cols:
                idx = np.flatnonzero(sel)
                inp.topk = torch.cat([inp.topk.float()] + [torch.from_numpy(c[idx]) for c in cols], 1)
            return inp

        tr_in, va_in = inputs(tr), inputs(va)
        width_k = tr_in.topk.shape[1]
        mcfg = RouterConfig(hidden_size=labels.hidden.shape[1], embed_size=embed_size, top_k=width_k, width=args.width,
                            depth=args.depth, features=feats, logits_ref=args.logits_ref)
        models = []
        for seed in seeds:
            cfg = TrainConfig(features=feats, logits_ref=args.logits_ref, width=args.width, depth=args.depth, top_k=width_k, seed=seed)
            res = train(mcfg, cfg, tr_in, y_all[tr], va_in, y, progress=False)
            models.append(res.model)
            rec = {"candidate": name, "seed": seed, **figures(scored([res.model], va_in, len(y)), y)}
            out.append(rec)
            print(f"{name:9s} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in rec.items() if k not in ("candidate", "seed")), flush=True)
        rec = {"candidate": name, "seed": "ensemble", **figures(scored(models, va_in, len(y)), y)}
        out.append(rec)
        print(f"{name:9s} ensemble: " + ", ".join(f"{k} {v:.3f}" for k, v in rec.items() if k not in ("candidate", "seed")), flush=True)
    print("\nmean over seeds (min–max); ensemble")
    for name in args.candidates.split(","):
        per = [r for r in out if r["candidate"] == name and isinstance(r["seed"], int)]
        ens = next(r for r in out if r["candidate"] == name and r["seed"] == "ensemble")
        print(f"{name:9s} " + " | ".join(
            f"{k} {np.mean([r[k] for r in per]):.3f} ({min(r[k] for r in per):.3f}–{max(r[k] for r in per):.3f}); {ens[k]:.3f}"
            for k in ("pr_auc", *(f"recall@{s}" for s in SHARES))))
    if args.json_out:
        write_jsonl(args.json_out, out)


if __name__ == "__main__":
    main()
