#!/usr/bin/env bash
# Train the default pair's router on its labels (results/labels-default; run scripts/label_default.sh
# first: it rebuilds the hidden-state shards from the committed units), with the paper's ablations,
# into results/router-default; then ship router.json + router.safetensors in the package.
# --features logits: on these labels the router on the SLM's top-k log-probabilities alone beat the
# full paper router (hidden ⊕ token ⊕ logits) and both baselines on validation (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
r2route train-router --labels results/labels-default --out results/router-default --pair default \
  --val-percent "${VAL_PERCENT:-20}" --features "${FEATURES:-logits}" --ablation "$@"
mkdir -p src/r2route/assets/routers/default
cp results/router-default/router.json results/router-default/router.safetensors src/r2route/assets/routers/default/
