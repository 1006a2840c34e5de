#!/usr/bin/env bash
# The outcome-label router (results/router-outcome, scripts/train_outcome_router.sh)
# against SLM entropy end to end on GSM8K test, at target LLM shares 0.1 and 0.2, resumable: rerun to
# continue. Rounds of ${ROUND:-8} records run every method back to back, so a stopped run compares
# them on the same first records (paired), up to ${GSM8K_LIMIT:-300}. Greedy, 512 new tokens,
# batch 4, thresholds calibrated on the last 32 GSM8K train records (never labeled: the label run
# took the first 600); eval's batch-invariant engine, so every row depends on its prompt and
# settings alone. The SLM alone is the floor the router must stay above.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUND=${ROUND:-8}
LIMIT_ALL=${GSM8K_LIMIT:-300}
for ((L = ROUND; L - ROUND < LIMIT_ALL; L += ROUND)); do
  L=$((L < LIMIT_ALL ? L : LIMIT_ALL))
  r2route eval --task gsm8k --limit "$L" --methods slm,entropy,neural --llm-shares 0.1,0.2 \
    --router results/router-outcome --out results/eval-gsm8k-outcome "$@"
done
