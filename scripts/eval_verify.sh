#!/usr/bin/env bash
# R2R, verified R2R and speculative decoding on the default pair, on the GSM8K test
# records of docs/results.md's evaluation table (the first ${GSM8K_LIMIT:-100}), resumable: rerun to continue.
# Greedy, 512 new tokens, batch 4, target LLM share 0.2, thresholds calibrated on the last 32 GSM8K
# train records. K (spec's draft length, and the longest draft of the +verify methods) comes from
# scripts/spec_k_sweep.sh. Rounds of ${ROUND:-8} records run every method of both run directories
# back to back, so a stopped run compares every method on the same first records, and machine drift
# hits them alike:
#   results/eval-gsm8k-verify         slm, llm, spec, entropy, entropy+verify, neural, neural+verify (δ = 0)
#   results/eval-gsm8k-verify-lenient entropy+verify and neural+verify at a lenient margin δ = ${MARGIN:-1.0} nats
# The neural rows use one router directory (results/router-default, the rule-label router) rather
# than the shipped router, so a resumed run decodes every record with the same router.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${K:-4}
ROUND=${ROUND:-8}
LIMIT_ALL=${GSM8K_LIMIT:-100}
for ((L = ROUND; L - ROUND < LIMIT_ALL; L += ROUND)); do
  L=$((L < LIMIT_ALL ? L : LIMIT_ALL))
  r2route eval --task gsm8k --limit "$L" --methods slm,llm,spec,entropy,entropy+verify,neural,neural+verify \
    --llm-shares 0.2 --max-draft "$K" --router results/router-default --out results/eval-gsm8k-verify "$@"
  r2route eval --task gsm8k --limit "$L" --methods entropy+verify,neural+verify --llm-shares 0.2 --max-draft "$K" \
    --router results/router-default --accept-margin "${MARGIN:-1.0}" --out results/eval-gsm8k-verify-lenient "$@"
done
