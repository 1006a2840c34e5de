#!/usr/bin/env bash
# Train the default pair's router on its labels (results/labels-default; run scripts/label_default.sh
# first: it rebuilds the hidden-state shards from the committed units), with the paper's ablations,
# into results/router-default. It shipped in the package until issue 18's outcome-label router
# (scripts/train_outcome_router.sh) beat SLM entropy end to end and replaced it.
# --features: the paper's full router (hidden ⊕ token ⊕ logits). On the first 96 queries the router on
# the top-k log-probabilities alone did better (the 1.8k-wide inputs overfit); on all 294 the full one
# leads at every share up to 0.2 (see README), so FEATURES defaults to it now.
set -euo pipefail
cd "$(dirname "$0")/.."
r2route train-router --labels results/labels-default --out results/router-default --pair default \
  --val-percent "${VAL_PERCENT:-20}" --features "${FEATURES:-hidden,token,logits}" --ablation "$@"
