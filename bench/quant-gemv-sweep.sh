#!/usr/bin/env bash
# The quantized decode GEMV at batch 1 on the GPU machine (one call, about 3 minutes): every format
# with the default geometry, then w4 and q4_k with other rows / invocations per workgroup, then the
# GEMV forced at M = 2 and 4 beside the batched GEMM those batches get by default. The f16 layer is
# measured in every run, so each run's ratio stands on its own. Logs to $OUT/quant-gemv-*.log;
# forced and tuned runs write results files of their own (atom-decode-gemv, atom-decode-r8, ...).
#   BUILD=.build-lead bash bench/quant-gemv-sweep.sh
# (QUANT_ARGS=--smoke runs the same on 8B / 8 shapes, to try the script on a software device.)
set -uo pipefail
B=${BUILD:-dist}
export BENCH_OUT=${BENCH_OUT:-$OUT/results}
mkdir -p "$BENCH_OUT"
quiet() { grep -v -e 'artificially reduced' -e '^warning' -e '^ *$'; }
run() {
  local name=$1
  shift
  timeout 100 node "$B/bench/quant-decode.js" "$@" ${QUANT_ARGS:-} 2>&1 | quiet > "$OUT/quant-gemv-$name.log"
  echo "$name ($*): exit $? at ${SECONDS}s"
  grep -E '^(w4|w8|q4_k|q8_0|q4_0|q6_k) b[0-9]+:' "$OUT/quant-gemv-$name.log"
}
run all --batches 1 --formats w4,w8,q4_k,q8_0,q4_0,q6_k
run r2 --batches 1 --formats w4,q4_k --gemv-rows 2
run r8 --batches 1 --formats w4,q4_k --gemv-rows 8
run w64 --batches 1 --formats w4,q4_k --gemv-threads 64
run w256 --batches 1 --formats w4,q4_k --gemv-threads 256
run m24-batched --batches 2,4 --formats w4,q4_k
run m24-gemv --batches 2,4 --formats w4,q4_k --path gemv
