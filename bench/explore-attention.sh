#!/usr/bin/env bash
# One device call that times attention tuning variants side by side (same card, same run):
# the previous build ($OLD) against the current one ($NEW) on prefill and decode, plus PyTorch's
# SDPA anchors. Run on the GPU machine after `source .device/env.sh`:
#   OLD=.build-old NEW=.build-new bash bench/explore-attention.sh
# Logs and JSON land in $OUT; the last lines summarise. PREFILL=0, DECODE=0, CASCADE=0, CHECKS=0 skip parts.
set -uo pipefail
OLD=${OLD:-.build-old}
NEW=${NEW:-.build-new}
LENS=${LENS:-1024,4096,8192}
PV=${PREFILL_VARIANTS_NEW:-tk32r8,tk48r8,tk32r8-scalar,tk48r8-masked,tk48r8-g264,tk48r8-g396,tk48r8-g528,tk48r8-g660,tk48r8-noqk,tk48r8-nosoftmax,tk48r8-nopv}
quiet() { grep -v -e 'artificially reduced' -e 'Compilation log' -e '^warning' -e 'deprecated builtin' -e '\^\^' -e 'subgroupMatrix' -e '^ *$'; }
export PYTHONUNBUFFERED=1 BENCH_RUN_ID=${BENCH_RUN_ID:-explore-$(date +%s)-$$}  # the anchors count only within this run
mkdir -p "$OUT/old" "$OUT/new" "$OUT/new2"
timeout 150 python3 bench/anchors/torch_attention.py "$OUT/anchors.json" > "$OUT/anchors.log" 2>&1; echo "anchors exit $? at ${SECONDS}s"
if [ -d "$OLD" ]; then
  [ "${PREFILL:-1}" = 0 ] || BENCH_OUT=$OUT/old PREFILL_LENS=$LENS PREFILL_VARIANTS=${PREFILL_VARIANTS_OLD:-tk32r8,tk48r8} timeout 150 node "$OLD/bench/attention-prefill.js" "$OUT/anchors.json" 2>&1 | quiet > "$OUT/old-prefill.log"; echo "old prefill at ${SECONDS}s"
  BENCH_OUT=$OUT/old timeout 120 node "$OLD/bench/attention-decode.js" "$OUT/anchors.json" 2>&1 | quiet > "$OUT/old-decode.log"; echo "old decode at ${SECONDS}s"
fi
[ "${CHECKS:-1}" = 0 ] || timeout 120 node "$NEW/bench/attention-check.js" 24 2>&1 | quiet > "$OUT/check.log"; echo "check (TK default): $(tail -1 "$OUT/check.log" 2>/dev/null) at ${SECONDS}s"
# the second check's settings: CHECK2='CHECK_TK=48' (default) or e.g. CHECK2='CHECK_QKROWS=16 CHECK_LATEV=0'
[ "${CHECKS:-1}" = 0 ] || env ${CHECK2:-CHECK_TK=48} timeout 120 node "$NEW/bench/attention-check.js" 16 2>&1 | quiet > "$OUT/check48.log"; echo "check (${CHECK2:-CHECK_TK=48}): $(tail -1 "$OUT/check48.log" 2>/dev/null) at ${SECONDS}s"
[ "${PREFILL:-1}" = 0 ] || BENCH_OUT=$OUT/new PREFILL_LENS=$LENS PREFILL_VARIANTS=$PV timeout 300 node "$NEW/bench/attention-prefill.js" "$OUT/anchors.json" 2>&1 | quiet > "$OUT/new-prefill.log"; echo "new prefill at ${SECONDS}s"
# a second prefill run in its own process, with other settings: PREFILL2_ENV='BENCH_DAWN_TOGGLES=disable_robustness' PREFILL2_VARIANTS=tk32r8
[ -z "${PREFILL2_VARIANTS:-}" ] || env ${PREFILL2_ENV:-} BENCH_OUT=$OUT/new2 PREFILL_LENS=$LENS PREFILL_VARIANTS=$PREFILL2_VARIANTS timeout 300 node "$NEW/bench/attention-prefill.js" "$OUT/anchors.json" 2>&1 | quiet > "$OUT/new2-prefill.log"; echo "second prefill at ${SECONDS}s"
[ "${DECODE:-1}" = 0 ] || BENCH_OUT=$OUT/new ATTN_VARIANTS=${ATTN_VARIANTS-u8,u8g264,u8g1024} timeout 200 node "$NEW/bench/attention-decode.js" "$OUT/anchors.json" 2>&1 | quiet > "$OUT/new-decode.log"; echo "new decode at ${SECONDS}s"
[ "${CASCADE:-1}" = 0 ] || BENCH_OUT=$OUT/new timeout 120 node "$NEW/bench/attention-cascade.js" "$OUT/anchors.json" 2>&1 | quiet > "$OUT/new-cascade.log"; echo "new cascade at ${SECONDS}s"
echo "== old prefill"; grep -E "L[0-9]+:|failed|path" "$OUT/old-prefill.log" | cut -c1-200
grep -s FAIL "$OUT/check.log" "$OUT/check48.log" | cut -c1-300 | head
echo "== new prefill"; grep -E "L[0-9]+:|failed|path" "$OUT/new-prefill.log" | cut -c1-200
[ -z "${PREFILL2_VARIANTS:-}" ] || { echo "== second prefill (${PREFILL2_ENV:-})"; grep -E "L[0-9]+:|failed|path" "$OUT/new2-prefill.log" | cut -c1-200; }
echo "== old decode"; grep -E "skew|uniform|check" "$OUT/old-decode.log" | cut -c1-160
echo "== new decode"; cat "$OUT/new-decode.log" | cut -c1-160 | tail -40
echo "== new cascade"; tail -6 "$OUT/new-cascade.log" 2>/dev/null | cut -c1-200
# one file back instead of many (the device tool returns a limited number)
(cd "$OUT" && tar czf logs.tgz *.log && rm -f *.log)
