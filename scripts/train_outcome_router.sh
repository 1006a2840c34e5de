#!/usr/bin/env bash
# Train a router on the outcome-verifier labels (results/labels-outcome; run
# scripts/label_outcome.sh first: it rebuilds the hidden-state shards from the committed units) into
# results/router-outcome, with the paper's ablations. Unjudged mismatches (-2, sampled away by
# --max-mismatches) are left out of training and validation. Then ship router.json + router.safetensors
# in the package: this router beat SLM entropy end to end (GSM8K test, 300 records, +0.063 at a 0.2
# share with its paired interval above zero; scripts/eval_outcome.sh).
# The shape was chosen with its cost in view (docs/router.md, "The shipped router: outcome labels"): gaps of the top-20
# logits to the largest (--logits-ref max: no vocabulary-wide exp), width 64, one block. On these
# labels' validation split it matched the paper's shape (top-100 log-probabilities, width 128, two
# blocks) within the noise of 97 divergent tokens, at about 0.6 of its cost per step.
set -euo pipefail
cd "$(dirname "$0")/.."
r2route train-router --labels results/labels-outcome --out results/router-outcome --pair default \
  --val-percent "${VAL_PERCENT:-20}" --features "${FEATURES:-hidden,token,logits}" \
  --logits-ref max --width 64 --depth 1 --top-k 20 --ablation "$@"
mkdir -p src/r2route/assets/routers/default
cp results/router-outcome/router.json results/router-outcome/router.safetensors src/r2route/assets/routers/default/
