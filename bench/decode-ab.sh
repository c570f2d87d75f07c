#!/usr/bin/env bash
# A/B runs of the 8B decode bench at one batch size, on the GPU machine after `bench/run-h100.sh
# checkpoint` (same BENCH_RUN_ID): each arm is another build or knob, run once, in the order given,
# so interleaving (A B A B) shows the run-to-run noise beside the difference.
#   ARMS="old:dist-old:TESSERA_COMMIT=a108385: head:dist::--profile static:dist:DECODE_RECORDED_UNIFORMS=static:" \
#     AB_BATCH=1 bash bench/decode-ab.sh
# An arm is name:build:ENV=V,ENV=V:--flag,--flag (empty fields allowed); PIN=CPUS among its ENV runs it
# under `taskset -c CPUS` (e.g. PIN=0-15 for the cores `nvidia-smi topo -m` lists beside the GPU: step
# time is bimodal per process on the H100, the GPU idle in the slow mode). Each writes its JSON under
# $OUT/arm-NAME and its log to $OUT/arm-NAME.log; no arm starts after AB_DEADLINE seconds of the
# shell's life, and AB_TAR (a path) is rewritten after every arm so a call cut short keeps what ran.
# A build made before DECODE_BATCHES existed runs every batch size (slower, same b1 figure).
set -uo pipefail
D=${CHECKPOINT_ROOT:-$HOME/checkpoints}/llama3-8b
# where the GPU sits relative to the CPUs and NUMA nodes, for reading pinned arms
mkdir -p "$OUT" && { nvidia-smi topo -m > "$OUT/topo.log" 2>&1 || true; }
for arm in ${ARMS:?ARMS names the arms}; do
  [ "$SECONDS" -gt "${AB_DEADLINE:-100000}" ] && { echo "arm $arm not started (deadline)"; break; }
  IFS=: read -r name build envs flags <<<"$arm"
  mkdir -p "$OUT/arm-$name"
  pin=()
  [[ ",$envs," =~ ,PIN=([^,]+), ]] && pin=(taskset -c "${BASH_REMATCH[1]}")
  "${pin[@]}" env ${envs//,/ } BENCH_OUT="$OUT/arm-$name" DECODE_BATCHES=${AB_BATCH:-1} timeout 170 node "$build/bench/decode.js" $D ${flags//,/ } 2>&1 \
    | grep -v -e 'artificially' -e subgroupMatrix -e 'Compilation log' -e '^warning' -e '\^\^' -e '^ *$' > "$OUT/arm-$name.log"
  echo "arm $name exit ${PIPESTATUS[0]} at ${SECONDS}s: $(grep -m1 'resident loop' "$OUT/arm-$name.log")"
  [ -n "${AB_TAR:-}" ] && tar czf "$AB_TAR" -C "$(dirname "$OUT")" "$(basename "$OUT")"
done
