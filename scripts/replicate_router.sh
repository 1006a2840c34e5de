#!/usr/bin/env bash
# A frozen replication: a router judged against SLM entropy on GSM8K test records it has never met.
#
#   bash scripts/replicate_router.sh freeze ROUTER_DIR   # copy the router in and write down its fingerprints
#   git add results/replication && git commit           # the freeze is on record before any judged record is decoded
#   bash scripts/replicate_router.sh judge               # resumable: rerun to continue
#   METHODS=entropy,neural SHARES=0.2 bash scripts/replicate_router.sh judge   # the verdict's rows first
#   bash scripts/replicate_router.sh report              # table, Pareto plot, paired differences with 95% intervals, verdict
#
# The judgement runs on GSM8K test records 300-499 (no router decision was ever made on them while
# routers were chosen), with slm, llm, entropy and neural at target shares 0.1, 0.15 and 0.2, greedy,
# 512 tokens, batch 4, thresholds calibrated on the last 128 GSM8K train records (never labeled),
# eval's batch-invariant engine. Rounds of ${ROUND:-8} records run every method back to back, so a
# stopped run compares the methods on the same records. Before every round the router's files are
# checked against the fingerprints written at the freeze; any change stops the run.
# METHODS and SHARES judge a subset first (every row is the same whenever it is decoded: eval's
# engine is batch-invariant and its batches are fixed groups of 4 records); the plain judge then
# fills in the rest, and the report pairs methods only on records both have.
# Compare methods with `r2route eval --report`: per share, neural - entropy with a paired 95%
# bootstrap interval over records, and the LLM share each method measured against its target.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=results/replication
FIRST=300
COUNT=${COUNT:-200}
ROUND=${ROUND:-8}
METHODS=${METHODS:-slm,llm,entropy,neural}
SHARES=${SHARES:-0.1,0.15,0.2}

fingerprints() {  # sha256 of the frozen router's files, one "HASH  FILE" line each
  (cd "$DIR/router" && sha256sum router.json router.safetensors)
}

case "${1:-}" in
  freeze)
    src=${2:?usage: replicate_router.sh freeze ROUTER_DIR}
    if [ -e "$DIR/FROZEN" ]; then
      echo "error: $DIR is frozen already (a new router needs a new directory: DIR is fixed here)" >&2
      exit 2
    fi
    mkdir -p "$DIR/router"
    cp "$src/router.json" "$src/router.safetensors" "$DIR/router/"
    {
      echo "router: $src"
      echo "commit: $(git rev-parse HEAD)"
      echo "frozen: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
      echo "records: gsm8k test $FIRST-$((FIRST + COUNT - 1)); calibration: the last 128 gsm8k train records"
      fingerprints
    } > "$DIR/FROZEN"
    cat "$DIR/FROZEN"
    ;;
  judge)
    [ -e "$DIR/FROZEN" ] || { echo "error: freeze a router first: replicate_router.sh freeze ROUTER_DIR" >&2; exit 2; }
    for ((L = ROUND; L - ROUND < COUNT; L += ROUND)); do
      L=$((L < COUNT ? L : COUNT))
      if ! diff <(fingerprints) <(grep -E '^[0-9a-f]{64}  ' "$DIR/FROZEN") > /dev/null; then
        echo "error: the router in $DIR/router is not the one frozen in $DIR/FROZEN" >&2
        exit 2
      fi
      r2route eval --task gsm8k --first "$FIRST" --limit "$L" --methods "$METHODS" --llm-shares "$SHARES" \
        --calibration-size 128 --router "$DIR/router" --out "$DIR/eval" "${@:2}"
    done
    ;;
  report)
    r2route eval --report "$DIR/eval"
    # The shipping rule, applied mechanically: neural − entropy at 0.2 with its paired 95% interval above zero;
    # and each routed method's accuracy and measured share against its target (the calibration goal:
    # within ±0.02), on every record it finished.
    python - "$DIR/eval/summary.json" "$COUNT" "$DIR/eval/results.jsonl" <<'PY'
import json, sys
from r2route.evaluation.summary import point
s = json.load(open(sys.argv[1]))
rows = [json.loads(line) for line in open(sys.argv[3])]
for p in s["paired"]:
    if p["method"] == "neural" and p["versus"] == "entropy":
        lo, hi = p["ci95"]
        print(f"share {p['target_share']}: neural - entropy {p['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}] on {p['n']} records")
for method, share in sorted({(r["method"], r["share"]) for r in rows if r["method"] in ("neural", "entropy")}):
    p = point([r for r in rows if (r["method"], r["share"]) == (method, share)], 0, 0)  # accuracy and share only
    off = p["llm_share"] - share
    print(f"{method:>7} at {share}: {round(p['accuracy'] * p['n'])}/{p['n']} correct, measured LLM share {p['llm_share']:.3f} "
          f"({off:+.3f}; " + ("within" if abs(off) <= 0.02 else "outside") + " the +/-0.02 calibration goal)")
gate = next((p for p in s["paired"] if p["method"] == "neural" and p["versus"] == "entropy" and p["target_share"] == 0.2), None)
if gate is None:
    print("verdict: no neural - entropy comparison at 0.2 yet")
elif gate["n"] < int(sys.argv[2]):
    print(f"verdict: unfinished ({gate['n']} of {sys.argv[2]} records judged)")
else:
    print("verdict: PASS, the router may ship as the default" if gate["ci95"][0] > 0 else
          "verdict: TIE OR WORSE, the router does not beat entropy on held-out records")
PY
    ;;
  *)
    echo "usage: replicate_router.sh freeze ROUTER_DIR | judge | report" >&2
    exit 2
    ;;
esac
