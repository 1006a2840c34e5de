#!/usr/bin/env bash
# Choose speculative decoding's draft length K for the default pair: tok/s of `spec` at
# K = 2, 4, 6, 8 and of the LLM alone, on GSM8K *train* records that are neither test records nor
# among the 600 labeled ones (train records -40..-33; eval holds the file's last 32 out for
# calibration, which spec does not use). Eval's settings (batch 4, batch-invariant calls); rounds
# of 4 records run every K back to back, so machine drift hits every K alike. Resumable.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=results/spec-sweep
mkdir -p "$OUT"
tail -n 40 ../shared/data/gsm8k/train.jsonl > "$OUT/tune.jsonl"
for LIMIT in 4 ${SWEEP_LIMIT:-8}; do
  for K in llm ${KS:-2 4 6 8}; do
    if [ "$K" = llm ]; then M=(--methods llm); else M=(--methods spec --max-draft "$K"); fi
    r2route eval --task gsm8k --data "$OUT/tune.jsonl" --limit "$LIMIT" "${M[@]}" -n "${NEW_TOKENS:-256}" \
      --batch 4 --out "$OUT/$K" "$@"
  done
done
