#!/usr/bin/env bash
# llama.cpp's Vulkan build (node-llama-cpp, llama-cpp.tar.xz from scripts/pack-llama-cpp.sh, in
# $PEERS_DIR, default .peers) decoding the same checkpoint as bench/decode.ts, written as an F16 GGUF
# by our own converter. Usage (on the GPU machine, after `source .device/env.sh`):
#   bash bench/peers/run-llama-cpp.sh BUILD_DIR CHECKPOINT_PARENT
# writes CHECKPOINT_PARENT/llama-cpp-decode.json (with $BENCH_RUN_ID) and removes the GGUF after.
set -euo pipefail
B=$1 D=$2 P=${PEERS_DIR:-.peers}
mkdir -p "$P/unpacked" && tar -xJf "$P/llama-cpp.tar.xz" -C "$P/unpacked"
node "$B/bench/peers/write-gguf.js" "$D/llama3-8b-random" "$D/llama3-8b-random.f16.gguf" 2>&1 | tail -20
LLAMA_CPP_MODULE="$P/unpacked/node_modules/node-llama-cpp" timeout 400 node "$B/bench/peers/llama-cpp-decode.js" \
  "$D/llama3-8b-random.f16.gguf" "$D/llama-cpp-decode.json" --gpu vulkan --batches 1,16,64 --prompt 128 --steps 32 2>&1 \
  | grep -v -e 'special_eos_id is not in' -e 'tokenize text and then detokenize'
rm -f "$D/llama3-8b-random.f16.gguf"
