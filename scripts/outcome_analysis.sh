#!/usr/bin/env bash
# The outcome-label router's analysis figures, from the committed runs (run label_outcome.sh
# first: the learning curve trains on its git-ignored shards, which that script rebuilds from the
# committed units):
# - the learning curve (docs/router.md): the chosen router's shape on a quarter, half
#   and all of the training queries, three seeds each, ~1 min per router on two cores;
# - the end-to-end report and its power check (docs/results.md, "The shipped router against entropy"): how large a paired gain the
#   records can show, and how large a gain the router's validation lead can buy. Instant; rerun as
#   eval_outcome.sh adds records.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${SKIP_CURVE:-0}" != 1 ]]; then
  python benchmarks/router_learning_curve.py results/labels-outcome --fractions 0.25,0.5,1 --seeds 0,1,2 \
    --logits-ref max --width 64 --depth 1 --top-k 20 --json results/router-outcome/learning_curve.jsonl
fi
r2route eval --report results/eval-gsm8k-outcome
python benchmarks/outcome_power.py results/eval-gsm8k-outcome --router results/router-outcome --records 300 \
  --json results/eval-gsm8k-outcome/power.jsonl
