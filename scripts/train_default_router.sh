#!/usr/bin/env bash
# Train the default pair's router on its labels (results/labels-default; run scripts/label_default.sh
# first: it rebuilds the hidden-state shards from the committed units), with the paper's ablations,
# into results/router-default: the router of the evaluation tables that eval_default.sh and
# eval_verify.sh make. The package ships the outcome-label router (scripts/train_outcome_router.sh),
# which beat SLM entropy end to end.
# --features: the paper's full router (hidden ⊕ token ⊕ logits). On all 294 labeled queries it leads
# the router on the top-k log-probabilities alone at every share up to 0.2 (see docs/router.md).
set -euo pipefail
cd "$(dirname "$0")/.."
r2route train-router --labels results/labels-default --out results/router-default --pair default \
  --val-percent "${VAL_PERCENT:-20}" --features "${FEATURES:-hidden,token,logits}" --ablation "$@"
