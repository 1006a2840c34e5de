#!/usr/bin/env bash
# Label the default pair on GSM8K train with the outcome verifier, resumably: 1,856 queries in chunks
# of 16 (96, 288, 600, 1,200, then 1,856: whole chunks, so no finished unit is redone; ~30 minutes of
# the two cores per chunk, so the run spans sessions: pause it with kill -STOP while benchmarks run),
# up to 8 mismatches per query continued to the answer's end (a seeded uniform sample; the rest are
# unjudged, -2, and left out of training). The LLM's answers are the same units as the rule-verifier
# run's (same pair, system message, budget and chunks), so the first 288 queries' answers are copied
# from results/labels-default (--reuse-answers) instead of being generated again. As in label_default.sh, the small
# expensive units (answers, continuations, verdicts) are committed as they finish; the per-token
# tables (features/, shards/) are git-ignored and rebuilt by rerunning this script.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=results/labels-outcome
SYS='Please reason step by step, and put your final answer within \boxed{}.'
for LIMIT in ${LIMITS:-96 288 600 1200 1856}; do
  r2route label --pair default --data ../shared/data/gsm8k/train.jsonl --field question --out "$OUT" \
    --limit "$LIMIT" --chunk 16 --system "$SYS" --verifier outcome --max-mismatches 8 --reuse-answers results/labels-default "$@"
done
