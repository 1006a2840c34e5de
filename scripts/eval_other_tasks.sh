#!/usr/bin/env bash
# MATH-500 and HumanEval for one router, shared by eval_default.sh and eval_outcome_other.sh so that
# both routers meet the same records at the same settings: METHODS at LLM shares
# ${OTHER_SHARES:-0.1,0.3}, --router ROUTER, rows in results/eval-{math500,humaneval}${OUT_SUFFIX}.
# Alternating rounds of ${MATH_ROUND:-8} MATH-500 and ${HUMANEVAL_ROUND:-16} HumanEval records, up
# to MATH_LIMIT and HUMANEVAL_LIMIT, so wherever the budget runs out both tasks have an N; a MATH-500
# record (up to 1024 tokens of reasoning) costs about four HumanEval records here. Thresholds are
# calibrated on each task's held-out tail (its last 32 records, never evaluated). Extra arguments go
# to every `r2route eval`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${METHODS:?}" "${ROUTER:?}" "${MATH_LIMIT:?}" "${HUMANEVAL_LIMIT:?}"
OTHER_SHARES=${OTHER_SHARES:-0.1,0.3}
MATH_ROUND=${MATH_ROUND:-8}
HUMANEVAL_ROUND=${HUMANEVAL_ROUND:-16}
for ((K = 1; (K - 1) * MATH_ROUND < MATH_LIMIT || (K - 1) * HUMANEVAL_ROUND < HUMANEVAL_LIMIT; K++)); do
  M=$((K * MATH_ROUND)) H=$((K * HUMANEVAL_ROUND))
  r2route eval --task math500 --limit "$((M < MATH_LIMIT ? M : MATH_LIMIT))" --methods "$METHODS" \
    --llm-shares "$OTHER_SHARES" -n 1024 --router "$ROUTER" --out "results/eval-math500${OUT_SUFFIX:-}" "$@"
  r2route eval --task humaneval --limit "$((H < HUMANEVAL_LIMIT ? H : HUMANEVAL_LIMIT))" --methods "$METHODS" \
    --llm-shares "$OTHER_SHARES" --router "$ROUTER" --out "results/eval-humaneval${OUT_SUFFIX:-}" "$@"
done
