#!/usr/bin/env bash
# Beyond GSM8K: the outcome-label router (results/router-outcome) against SLM entropy and the
# SLM alone on MATH-500 and HumanEval, as far as the budget goes, resumable: rerun to continue. The
# rounds and settings of the rule-label router's runs (scripts/eval_other_tasks.sh, also called by
# eval_default.sh), up to ${MATH_LIMIT:-28} MATH-500 and ${HUMANEVAL_LIMIT:-48} HumanEval records (the
# N of that router's tables), into results/eval-{math500,humaneval}-outcome. The router was trained
# on GSM8K train labels only: these are other domains for it.
set -euo pipefail
cd "$(dirname "$0")/.."
METHODS=slm,entropy,neural ROUTER=results/router-outcome OUT_SUFFIX=-outcome \
  MATH_LIMIT=${MATH_LIMIT:-28} HUMANEVAL_LIMIT=${HUMANEVAL_LIMIT:-48} bash scripts/eval_other_tasks.sh "$@"
