#!/usr/bin/env bash
# Label the default pair on GSM8K train, resumably: 16, then 48, then 300 queries.
# The run directory is results/labels-default itself: the small, expensive units (the LLM's answers,
# continuations and verdicts, as JSON) are committed, so a run spans sessions and clones; the large
# per-token tables (features/, shards/: SLM hidden states and top-k logits) are ignored by git and
# rebuilt from those units by rerunning this script (only the cheap SLM prefill runs again).
# dataset.json (the shard list train-router reads) is written when a --limit finishes; to train on a
# run in progress, refresh it for the finished chunks with e.g. LIMITS=96 (every unit is skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
SYS='Please reason step by step, and put your final answer within \boxed{}.'
for LIMIT in ${LIMITS:-16 48 300}; do
  r2route label --pair default --data ../shared/data/gsm8k/train.jsonl --field question --out results/labels-default \
    --limit "$LIMIT" --chunk 16 --system "$SYS" --verifier rule
done
