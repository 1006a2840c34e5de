#!/usr/bin/env bash
# Several routers end to end on the same records, beside SLM entropy: how far one seed moves a router,
# or how the router grows with its labels.
#
#   bash scripts/compare_routers.sh OUT_DIR ROUTER_DIR...                # resumable: rerun to continue
#   bash scripts/compare_routers.sh runs/seeds runs/router runs/router/seeds/seed-*     # seed spread
#   bash scripts/compare_routers.sh runs/curve runs/router-q600 runs/router-q1200 runs/router-q1800
#
# The neural method at ${SHARE:-0.2} for each router, and SLM entropy once, on GSM8K *train* records
# ${FIRST:-2000}-$((${FIRST:-2000} + ${COUNT:-48} - 1)): never labeled (the labels use the first 1,856),
# never used for calibration (the last 128), and no test record, so the test records stay unread.
# Greedy, 512 tokens, batch 4, thresholds from the last 128 train records, decoded once for every
# router (`r2route calibrate` into OUT_DIR/calibration-shared.json; each run reads its thresholds
# there). Extra arguments of both commands (-n, --batch, --runner, --pair ...) go in ARGS, extra
# `r2route eval` arguments in EVAL_ARGS (both split on spaces); other settings need another OUT_DIR.
# Paths are taken from the repository root. Prints each run's records, accuracy and measured LLM
# share; runs that hold the same records compare paired (a stopped run is flagged: rerun the script
# to finish it).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: compare_routers.sh OUT_DIR ROUTER_DIR...}
shift
[ $# -ge 1 ] || { echo "usage: compare_routers.sh OUT_DIR ROUTER_DIR..." >&2; exit 2; }
for d in "$@"; do
  [ -f "$d/router.json" ] || { echo "error: $d holds no router (no router.json)" >&2; exit 2; }
done
read -ra both <<< "${ARGS:-}"
read -ra extra <<< "${EVAL_ARGS:-}"
calibration=(--task gsm8k --data ../shared/data/gsm8k/train.jsonl --calibration-size 128 --llm-shares "${SHARE:-0.2}" "${both[@]}")
routers=()
for d in "$@"; do routers+=(--router "$d"); done
mkdir -p "$out"
r2route calibrate "${calibration[@]}" "${routers[@]}" --out "$out/calibration-shared.json"
common=("${calibration[@]}" --first "${FIRST:-2000}" --limit "${COUNT:-48}" --calibration "$out/calibration-shared.json" "${extra[@]}")
r2route eval "${common[@]}" --methods entropy --out "$out/entropy"
for d in "$@"; do
  r2route eval "${common[@]}" --methods neural --router "$d" --out "$out/neural-$(echo "${d%/}" | tr '/' '_')"
done
python - "$out" <<'PY'
import json, sys
from pathlib import Path

from r2route.evaluation.summary import compare

print(f"{'run':<48} {'correct':>9} {'accuracy':>9} {'LLM share':>10}   neural - entropy, paired [95%]  only neural / only entropy")
runs = {}
for d in sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "results.jsonl").is_file()):
    rows = [json.loads(line) for line in (d / "results.jsonl").read_text().splitlines() if line.strip()]
    if rows:
        runs[d.name] = rows
entropy = runs.get("entropy", [])
for name, rows in runs.items():
    ok, tok, llm = sum(r["correct"] for r in rows), sum(r["tokens"] for r in rows), sum(r["llm_tokens"] for r in rows)
    line = f"{name:<48} {ok:>4}/{len(rows):<4} {ok / len(rows):>9.3f} {llm / max(tok, 1):>10.3f}"
    # each router against entropy on the records both ran, resampled jointly (summary.compare)
    pair = [c for c in compare(rows + entropy, {r["id"] for r in rows}) if c["versus"] == "entropy"] if name != "entropy" else []
    for c in pair:
        line += f"   {c['difference']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] on {c['n']}  {c['only_method_right']:>4} / {c['only_versus_right']}"
    print(line)
if len({frozenset(r["id"] for r in rows) for rows in runs.values()}) > 1:
    print("warning: the runs hold different records (a run was stopped): rerun to finish before comparing")
PY
