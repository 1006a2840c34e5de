#!/usr/bin/env bash
# Label the default pair on GSM8K train, resumably: 16, then 48, then 300 queries (each run writes
# dataset.json, label-stats.json and labels_by_position.png). Rerun to resume after any stop.
# Then: cp runs/labels-default/{dataset.json,label-stats.json,labels_by_position.png,label-config.json} results/labels-default/
set -euo pipefail
cd "$(dirname "$0")/.."
SYS='Please reason step by step, and put your final answer within \boxed{}.'
for LIMIT in 16 48 300; do
  r2route label --pair default --data ../shared/data/gsm8k/train.jsonl --field question --out runs/labels-default \
    --limit "$LIMIT" --chunk 16 --system "$SYS" --verifier rule
done
