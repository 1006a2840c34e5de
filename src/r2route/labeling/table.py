"""Step 4: the label table — step 1's per-token features plus the divergent label.

One parquet shard per chunk, one row per answer token. ``divergent`` codes:
1 divergent, 0 neutral (every matching token, and mismatches the verifier judged neutral),
-1 the verifier's answer was unparseable, -2 a mismatch that was not continued (sampling).
Rows with a negative code are excluded from training.
"""

from __future__ import annotations

import json

import pyarrow as pa

NOT_CONTINUED = -2

COLUMNS = {
    "query_id": "the query's record index in the data file",
    "position": "index of the token in the answer (SLM tokens)",
    "rel_position": "(position + 0.5) / answer length",
    "slm_token": "the SLM's top-1 (argmax) token at this position",
    "llm_token": "the LLM's answer token (SLM tokenization of its text across tokenizers)",
    "mismatch": "slm_token != llm_token",
    "divergent": "1 divergent, 0 neutral, -1 unparseable verdict, -2 mismatch not continued",
    "entropy": "normalised entropy H/ln V of the SLM's next-token distribution",
    "split": "train or val, by a hash of query_id",
    "hidden": "the SLM's last-layer hidden state at the predicting position (float16)",
    "topk_logprobs": "the SLM's top-k log-probabilities, descending (float16)",
    "topk_ids": "their token ids",
}


def label_table(features: pa.Table, continuations: dict, verdicts: list[int], queries: list[int]) -> pa.Table:
    judged = {(it["query_id"], it["position"]): v for it, v in zip(continuations["items"], verdicts)}
    qid = features.column("query_id").to_pylist()
    pos = features.column("position").to_pylist()
    mis = features.column("mismatch").to_pylist()
    labels = [judged.get((q, p), NOT_CONTINUED) if m else 0 for q, p, m in zip(qid, pos, mis)]
    table = features.add_column(features.schema.get_field_index("mismatch") + 1, "divergent", pa.array(labels, pa.int8()))
    return table.replace_schema_metadata({b"queries": json.dumps(queries).encode()})
