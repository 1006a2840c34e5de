#!/usr/bin/env bash
# How far does one seed move a router end to end? Every seed's router and their ensemble, at one share.
#
#   r2route train-router ... --seeds 0,1,2,3,4 --out ROUTER_DIR   # saves ROUTER_DIR/seeds/seed-N/ too
#   bash scripts/seed_spread.sh ROUTER_DIR OUT_DIR                # resumable: rerun to continue
#
# The neural method at ${SHARE:-0.2} for the saved router and for each ROUTER_DIR/seeds/seed-N, and
# SLM entropy once for reference, on GSM8K *train* records ${FIRST:-2000}-$((${FIRST:-2000} + ${COUNT:-48} - 1)):
# never labeled (the labels use the first 1,856), never used for calibration (the last 128) and no
# test record, so the test records stay unread. Greedy, 512 tokens, batch 4. Extra arguments go to
# every `r2route eval`. Prints each run's accuracy and measured share; the runs' records are the same,
# so differences between seeds are paired.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: seed_spread.sh ROUTER_DIR OUT_DIR}
out=${2:?usage: seed_spread.sh ROUTER_DIR OUT_DIR}
[ -d "$src/seeds" ] || { echo "error: $src/seeds not found: train the router with --seeds" >&2; exit 2; }
common=(--task gsm8k --data ../shared/data/gsm8k/train.jsonl --first "${FIRST:-2000}" --limit "${COUNT:-48}"
        --llm-shares "${SHARE:-0.2}" --calibration-size 128 "${@:3}")
r2route eval "${common[@]}" --methods entropy --out "$out/entropy"
r2route eval "${common[@]}" --methods neural --router "$src" --out "$out/saved"
for d in "$src"/seeds/seed-*; do
  r2route eval "${common[@]}" --methods neural --router "$d" --out "$out/$(basename "$d")"
done
python - "$out" <<'PY'
import json, sys
from pathlib import Path
print(f"{'router':<10} {'correct':>9} {'accuracy':>9} {'LLM share':>10}")
for d in sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "results.jsonl").is_file()):
    rows = [json.loads(line) for line in (d / "results.jsonl").read_text().splitlines() if line.strip()]
    if rows:
        ok, tok, llm = sum(r["correct"] for r in rows), sum(r["tokens"] for r in rows), sum(r["llm_tokens"] for r in rows)
        print(f"{d.name:<10} {ok:>4}/{len(rows):<4} {ok / len(rows):>9.3f} {llm / max(tok, 1):>10.3f}")
PY
