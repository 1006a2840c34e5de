#!/usr/bin/env bash
# Issue 18, beyond GSM8K: the outcome-label router (results/router-outcome) against SLM entropy and the
# SLM alone on MATH-500 and HumanEval, as far as the budget goes, resumable: rerun to continue.
# The settings of the default router's runs (scripts/eval_default.sh), so the two routers meet the
# same records at the same shares: LLM shares ${OTHER_SHARES:-0.1,0.3}, MATH-500 with 1024 new tokens
# and HumanEval with 512, thresholds calibrated on each task's held-out tail (its last 32 records,
# never evaluated), alternating rounds of ${MATH_ROUND:-8} MATH-500 and ${HUMANEVAL_ROUND:-16}
# HumanEval records up to ${MATH_LIMIT:-28} and ${HUMANEVAL_LIMIT:-48} (the N of the default
# router's tables), so wherever the budget runs out both tasks have an N and every method the same
# records. The router was trained on GSM8K train labels only: these are other domains for it.
set -euo pipefail
cd "$(dirname "$0")/.."
OTHER_SHARES=${OTHER_SHARES:-0.1,0.3}
MATH_ROUND=${MATH_ROUND:-8}
HUMANEVAL_ROUND=${HUMANEVAL_ROUND:-16}
MATH_LIMIT=${MATH_LIMIT:-28}
HUMANEVAL_LIMIT=${HUMANEVAL_LIMIT:-48}
for ((K = 1; (K - 1) * MATH_ROUND < MATH_LIMIT || (K - 1) * HUMANEVAL_ROUND < HUMANEVAL_LIMIT; K++)); do
  M=$((K * MATH_ROUND)) H=$((K * HUMANEVAL_ROUND))
  r2route eval --task humaneval --limit "$((H < HUMANEVAL_LIMIT ? H : HUMANEVAL_LIMIT))" \
    --methods slm,entropy,neural --llm-shares "$OTHER_SHARES" --router results/router-outcome \
    --out results/eval-humaneval-outcome "$@"
  r2route eval --task math500 --limit "$((M < MATH_LIMIT ? M : MATH_LIMIT))" --methods slm,entropy,neural \
    --llm-shares "$OTHER_SHARES" -n 1024 --router results/router-outcome --out results/eval-math500-outcome "$@"
done
