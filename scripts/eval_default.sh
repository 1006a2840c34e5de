#!/usr/bin/env bash
# Evaluate the default pair (resumable; rerun to continue). Runs live in results/eval-<task>/ so that
# a run spans sessions: results.jsonl (one row per method × share × record) is committed as it grows.
# Rows are written record-major, so a stopped run compares every method on the same first records.
# GSM8K test: every method at LLM shares 0.1/0.2/0.3/0.5 on the first ${GSM8K_LIMIT:-100} records.
# MATH-500 and HumanEval (scripts/eval_other_tasks.sh): every method at ${OTHER_SHARES:-0.1,0.3} (two
# shares instead of four buys nearly twice the records on this CPU), in alternating rounds up to
# ${MATH_LIMIT:-50} and ${HUMANEVAL_LIMIT:-132} records; 132 is every HumanEval record before the
# 32 held out for calibration. Last, the paper's ablation routers
# (results/router-default/ablation/*) as GSM8K accuracy at a 0.2 share on the first ${ABLATION_LIMIT:-50}.
# The neural rows are the rule-label router's (results/router-default), not the shipped one.
# METHODS overrides the methods (e.g. run the router-free ones first: slm,llm,entropy,random,query).
set -euo pipefail
cd "$(dirname "$0")/.."
METHODS=${METHODS:-slm,llm,neural,entropy,random,query}
r2route eval --task gsm8k --limit "${GSM8K_LIMIT:-100}" --methods "$METHODS" --llm-shares 0.1,0.2,0.3,0.5 \
  --router results/router-default --out results/eval-gsm8k
METHODS=$METHODS ROUTER=results/router-default MATH_LIMIT=${MATH_LIMIT:-50} HUMANEVAL_LIMIT=${HUMANEVAL_LIMIT:-132} \
  bash scripts/eval_other_tasks.sh
for NAME in logits-divergent hidden+token+logits-mismatch hidden-divergent; do
  r2route eval --task gsm8k --limit "${ABLATION_LIMIT:-50}" --methods neural --llm-shares 0.2 \
    --router "results/router-default/ablation/$NAME" --out "results/eval-gsm8k-ablation/$NAME"
done
