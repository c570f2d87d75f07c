#!/usr/bin/env bash
# The lead's measurement session on the lent GPU machine, in one call (device time is scarce):
# doctor, every kernel's conformance on big sizes, fusion, Llama-3-8B decode and serving.
# Run from the project root there, after `source .device/env.sh`, with the build in $BUILD, in two
# calls that each fit the 10-minute limit:
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh kernels   # doctor, prefill attention, conformance, fusion
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh models    # 8B checkpoint, decode, serving
# Results land in $OUT/results (JSON) and $OUT/*.log. HF anchors for decode and serving are
# taken from today's same-card results (the HF runs alone cost minutes); their notes say so.
set -uo pipefail
B=${BUILD:-.build-lead}
export BENCH_OUT=$OUT/results PYTHONUNBUFFERED=1
mkdir -p "$BENCH_OUT"
quiet() { grep -v -e 'artificially reduced' -e 'Compilation log' -e '^warning' -e 'deprecated builtin' -e '\^\^' -e 'subgroupMatrix' -e '^ *$'; }
stage=${1:-kernels}
if [ "$stage" = kernels ]; then
node "$B/src/cli/main.js" doctor 2>&1 | quiet | tee "$OUT/doctor.log"
timeout 150 python3 bench/anchors/torch_attention.py "$OUT/attention-anchors.json" > "$OUT/attention-anchors.log" 2>&1
timeout 200 node "$B/bench/attention-prefill.js" "$OUT/attention-anchors.json" 2>&1 | quiet | tee "$OUT/prefill.log"
timeout 240 node "$B/bench/conformance-perf.js" 2>&1 | quiet > "$OUT/conformance.log"; echo "conformance exit $? ($(grep -c $'\tok\t' "$OUT/conformance.log") ok, $(grep -c FAIL "$OUT/conformance.log") failed)" | tee -a "$OUT/conformance.log"
node "$B/bench/fusion.js" --n 1,16,128,1024 2>&1 | quiet | tee "$OUT/fusion.log"
fi
if [ "$stage" = models ]; then
D=/tmp/llama3-8b && mkdir -p $D
HF_DECODE_SKIP_TIMING=1 python3 bench/anchors/hf_decode.py $D > "$OUT/ckpt.log" 2>&1
echo "checkpoint written at ${SECONDS}s"
node -e "const r=require('./bench/results/decode-llama3-8b-2026-11-26-h100.json');const c={};for(const x of r.rows)c[x.case.match(/b\d+/)[0]]=x.anchor;require('fs').writeFileSync('$D/hf-decode.json',JSON.stringify({card:r.card,cases:c}))"
ANCHOR_NOTE="HF eager anchor from an earlier H100 lease the same day (same checkpoint recipe, same card type)" node "$B/bench/decode.js" $D 2>&1 | quiet | tee "$OUT/decode.log"
node "$B/bench/serve.js" --model $D/llama3-8b-random --anchor bench/results/serve-llama3-8b-hf-anchor-2026-11-26-h100.json \
  --anchor-note "HF measured in an earlier H100 lease the same day, same workload" --rates inf,8,4,2,1 --deadline-s 200 2>&1 | quiet | tee "$OUT/serve.log"
fi
