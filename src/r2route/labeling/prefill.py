"""Step 1: the SLM reads query + LLM answer once; per answer token, what it would have proposed.

The logits at sequence index t predict token t+1, so answer token i (at index p+i after a prompt of
p tokens) is predicted by the SLM's output at index p+i−1: that position's hidden state, top-k
log-probabilities and argmax are the row of token i, exactly what the SLM has in hand when it
proposes token i during decoding. A *mismatch* is a row whose argmax differs from the answer token.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import torch

from ..router.features import normalized_entropy


def split_of(query_id: int, val_percent: int) -> str:
    """Train/validation split by query (a hash of the id, so it never depends on the order or limit)."""
    return "val" if zlib.crc32(str(query_id).encode()) % 100 < val_percent else "train"


def prefill_chunk(runner, answers: list[dict], top_k: int, hidden_size: int, vocab: int, val_percent: int, progress=None) -> pa.Table:
    top_k = min(top_k, vocab)
    cols: dict[str, list] = {k: [] for k in ("query_id", "position", "rel_position", "slm_token", "llm_token", "mismatch", "entropy", "split")}
    hidden_parts, lp_parts, idx_parts = [], [], []
    for rec in answers:
        prompt, answer = rec["prompt"], rec["answer"]
        seq = prompt + answer
        n, start = len(answer), len(prompt) - 1
        i = 0
        for h, logits in runner.positions(seq[:-1], start):
            m = h.shape[0]
            top = torch.log_softmax(logits, dim=-1).topk(top_k, dim=-1)
            argmax = logits.argmax(dim=-1)
            hidden_parts.append(h.to(torch.float16).numpy())
            lp_parts.append(top.values.to(torch.float16).numpy())
            idx_parts.append(top.indices.to(torch.int32).numpy())
            cols["entropy"].extend(normalized_entropy(logits).tolist())
            cols["slm_token"].extend(argmax.tolist())
            i += m
        assert i == n, (i, n)
        cols["query_id"].extend([rec["id"]] * n)
        cols["position"].extend(range(n))
        cols["rel_position"].extend([(j + 0.5) / n for j in range(n)])
        cols["llm_token"].extend(answer)
        cols["split"].extend([split_of(rec["id"], val_percent)] * n)
        if progress is not None:
            progress.update(1)
    cols["mismatch"] = [s != t for s, t in zip(cols["slm_token"], cols["llm_token"])]
    table = pa.table({
        "query_id": pa.array(cols["query_id"], pa.int32()),
        "position": pa.array(cols["position"], pa.int32()),
        "rel_position": pa.array(cols["rel_position"], pa.float32()),
        "slm_token": pa.array(cols["slm_token"], pa.int32()),
        "llm_token": pa.array(cols["llm_token"], pa.int32()),
        "mismatch": pa.array(cols["mismatch"], pa.bool_()),
        "entropy": pa.array(cols["entropy"], pa.float32()),
        "split": pa.array(cols["split"], pa.string()),
        "hidden": _matrix(hidden_parts, pa.float16(), hidden_size),
        "topk_logprobs": _matrix(lp_parts, pa.float16(), top_k),
        "topk_ids": _matrix(idx_parts, pa.int32(), top_k),
    })
    return table


def _matrix(parts: list[np.ndarray], typ, width: int) -> pa.FixedSizeListArray:
    flat = np.concatenate([p.reshape(-1) for p in parts]) if parts else np.zeros(0, dtype=typ.to_pandas_dtype())
    return pa.FixedSizeListArray.from_arrays(pa.array(flat, type=typ), width)
