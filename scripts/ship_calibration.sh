#!/usr/bin/env bash
# SLM entropy's thresholds for the default pair, shipped in the package: what `generate`, `chat` and
# `serve` route by when no other strategy is given (--llm-share S reads the threshold for S; the
# default share is defaults.ENTROPY_LLM_SHARE). One SLM pass over the last 128 GSM8K train records
# (never labeled, never evaluated), greedy, 512 tokens, eval's batch-invariant engine: the same
# calibration the frozen replication judged entropy with, at every share 0.01-0.99. About 20 minutes
# on 2 CPU cores. Written to a temporary file first, so an interrupted pass leaves the shipped file as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=src/r2route/assets/calibration/default.json
GRID=$(python -c "print(','.join(str(round(0.01 * i, 2)) for i in range(1, 100)))")
mkdir -p "$(dirname "$OUT")"
r2route calibrate --pair default --task gsm8k --calibration-size 128 --max-new-tokens 512 --llm-shares "$GRID" \
  --out "$OUT.partial" "$@"
mv "$OUT.partial" "$OUT"
