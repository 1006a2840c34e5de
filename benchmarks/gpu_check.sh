#!/usr/bin/env bash
# The GPU check: the `cuda` tests, then the speed benchmark on real shapes (Qwen2.5 1.5B → 14B,
# bf16, random weights: nothing travels but the working tree) with every transformers runner,
# side by side. Sized for ≤ 6 minutes on one H100 from a fresh machine that has torch and
# transformers but not r2route installed: the package runs from src/. Each part runs under its own
# time limit and prints its elapsed time, so a run that hits the device's limit still says where it
# got to; JSON and logs go to $OUT (default runs/gpu-check).
#
#     bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root
#     bash benchmarks/gpu_check.sh compile    # a second call (≤ 7 minutes): the graph-compiled runner
#                                             # (torch.compile before capture) beside the graph runner
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
SPEED="python3 benchmarks/speed.py --shapes 1.5b,14b --device cuda --new-tokens 64 --repeats 2"
T0=$SECONDS

part() {  # part NAME LIMIT_SECONDS COMMAND...: run one part, print its time and exit status
  local name=$1 limit=$2 t=$SECONDS
  shift 2
  echo "== $name (limit ${limit} s)"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  echo "== $name: exit ${PIPESTATUS[0]} after $((SECONDS - t)) s (total $((SECONDS - T0)) s)"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
if [ "${1:-}" = compile ]; then
  part compile-tests 120 python3 -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py -k compiled
  # does compiling earn its time? tok/s side by side, and each runner's warm-up seconds (compiling included)
  part compile 300 $SPEED --echo --agree 0.9 --runners graph,graph-compiled --batch 1 --shares 0.1 --spec 4 --repeats 3 --json "$OUT/speed-compile.json"
  echo "== done in $((SECONDS - T0)) s"
  exit 0
fi
part tests 100 python3 -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py -k "not compiled"
# random weights: the cost of each runner; every checked position is rejected (provisional routing's worst case)
part random 110 $SPEED --runners static,graph --batch 1,8,32 --shares 0.1,0.2 --spec 4 --json "$OUT/speed-random.json"
# echo weights: the two models agree everywhere (no rollbacks); eager beside the others
part echo 90 $SPEED --echo --runners eager,static,graph --batch 1,8 --shares 0.1,0.2 --spec 4 --json "$OUT/speed-echo.json"
# agreement as real pairs have it (~0.9): R2R, verified R2R and speculative decoding compared
part agree 60 $SPEED --echo --agree 0.9 --runners graph --batch 1,8 --shares 0.1 --spec 4 --json "$OUT/speed-agree.json"
echo "== done in $((SECONDS - T0)) s"
