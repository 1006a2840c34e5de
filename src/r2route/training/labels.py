"""Reading a label run (``r2route label --out``) back as tensors for router training.

Only the columns training needs are read; hidden states and top-k log-probabilities stay float16
(a 896-wide SLM costs ~2 KB per token, so 100k tokens fit in ~200 MB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from ..errors import R2RouteError
from ..labeling.prefill import split_of

OBJECTIVES = ("divergent", "mismatch")
_COLUMNS = ["query_id", "slm_token", "mismatch", "divergent", "entropy", "split", "hidden", "topk_logprobs"]


@dataclass
class LabelSet:
    """Per-token router inputs and labels of one label run, rows with an unusable label removed."""

    meta: dict  # dataset.json
    query_id: np.ndarray  # [N] int
    slm_token: torch.Tensor  # [N] int64
    mismatch: np.ndarray  # [N] bool
    divergent: np.ndarray  # [N] int8: 1, 0 (or -1/-2 where the verdict is missing: see ``target``)
    entropy: np.ndarray  # [N] float32: the SLM-entropy baseline's score
    is_val: np.ndarray  # [N] bool
    hidden: torch.Tensor  # [N, d] float16
    topk_logprobs: torch.Tensor  # [N, k] float16

    def __len__(self) -> int:
        return len(self.query_id)

    @property
    def pair(self) -> dict:
        return self.meta.get("pair", {})

    def target(self, objective: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels, usable): the 0/1 training target and which rows carry one.

        ``divergent``: the verifier's label (rows with an unparseable verdict or a mismatch that was
        not continued are unusable). ``mismatch``: whether the SLM's top-1 differs from the LLM's
        token (every row is usable) — the paper's ablation of the objective.
        """
        if objective == "divergent":
            return (self.divergent == 1), (self.divergent >= 0)
        if objective == "mismatch":
            return self.mismatch.copy(), np.ones(len(self), dtype=bool)
        raise R2RouteError(f"unknown objective: {objective} (use {', '.join(OBJECTIVES)})")

    def max_prob_score(self) -> np.ndarray:
        """1 − the SLM's top-1 probability: the paper's max-logit baseline, higher = riskier."""
        return 1.0 - np.exp(self.topk_logprobs[:, 0].float().numpy())


def read_labels(path: str | Path, val_percent: int | None = None, queries: int | None = None) -> LabelSet:
    """Load a label directory. ``val_percent`` re-splits by query (the same hash as labeling);
    None keeps the split the labels were made with. ``queries`` keeps the first N queries' labels
    (record indexes below N): the labels as they stood when N queries were done. Any problem is one
    clear line."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise R2RouteError(f"labels directory not found: {root}")
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        raise R2RouteError(f"{root} holds no finished label run (no dataset.json); run `r2route label --out {root}` first")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        shards = [root / s for s in meta["shards"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise R2RouteError(f"corrupt {meta_path}: {e}") from None
    missing = [s for s in shards if not s.is_file()]
    if missing:
        raise R2RouteError(
            f"{len(missing)} of {len(shards)} label shards are missing (first: {missing[0]}); rerun the `r2route label` "
            "command that made them: it rebuilds shards from the saved answers and verdicts")
    if val_percent is not None and not 0 <= val_percent <= 100:
        raise R2RouteError(f"--val-percent must be in [0, 100], got {val_percent}")
    if queries is not None and queries < 1:
        raise R2RouteError(f"--queries must be ≥ 1, got {queries}")
    parts = {c: [] for c in _COLUMNS}
    for s in shards:
        try:
            t = pq.read_table(s, columns=_COLUMNS)
        except Exception as e:  # pyarrow raises several types for damaged files
            raise R2RouteError(f"unreadable label shard {s}: {str(e).splitlines()[0]}") from None
        for c in _COLUMNS:
            col = t.column(c).combine_chunks()
            if c in ("hidden", "topk_logprobs"):
                width = col.type.list_size
                parts[c].append(col.values.to_numpy(zero_copy_only=False).reshape(-1, width))
            else:
                parts[c].append(col.to_numpy(zero_copy_only=False))
    cat = {c: np.concatenate(v) if v else np.zeros(0) for c, v in parts.items()}
    if not len(cat["query_id"]):
        raise R2RouteError(f"{root} holds no labeled tokens")
    if queries is not None:
        # the rows' own ids, since a label run that is being extended has shards beyond the count
        # its last finished run wrote; and that count, since queries whose answers were dropped
        # (no EOS) at the end of the read records leave no rows
        counts = meta.get("counts")
        counted = counts.get("queries_read") if isinstance(counts, dict) else None
        read = max(int(cat["query_id"].max()) + 1, counted if isinstance(counted, int) else 0)
        if queries > read:
            raise R2RouteError(f"--queries {queries}: {root} holds labels of the first {read} queries only")
        keep = cat["query_id"] < queries
        cat = {c: v[keep] for c, v in cat.items()}
    qid = cat["query_id"].astype(np.int64)
    if val_percent is None:
        is_val = cat["split"] == "val"
    else:
        val_ids = [q for q in np.unique(qid) if split_of(int(q), val_percent) == "val"]
        is_val = np.isin(qid, val_ids)
    return LabelSet(
        meta=meta,
        query_id=qid,
        slm_token=torch.from_numpy(cat["slm_token"].astype(np.int64)),
        mismatch=cat["mismatch"].astype(bool),
        divergent=cat["divergent"].astype(np.int8),
        entropy=cat["entropy"].astype(np.float32),
        is_val=is_val,
        hidden=torch.from_numpy(np.ascontiguousarray(cat["hidden"], dtype=np.float16)),
        topk_logprobs=torch.from_numpy(np.ascontiguousarray(cat["topk_logprobs"], dtype=np.float16)),
    )
