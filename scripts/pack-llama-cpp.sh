#!/usr/bin/env bash
# Packs node-llama-cpp (pinned in scripts/llama-cpp-peer/) with its prebuilt Linux x64 Vulkan
# binary into .peers/llama-cpp.tar.xz, for machines without network or npm (the decode
# benchmark's llama.cpp peer, bench/peers/llama-cpp-decode.ts).
#
# .peers/build keeps the full install (all Linux binaries, CPU included) for local runs:
#   LLAMA_CPP_MODULE=$PWD/.peers/build/node_modules/node-llama-cpp npx vitest run test/peers
# The tarball leaves out the other platforms' binaries (the Vulkan package carries ggml's CPU
# backends too) and llama/gitRelease.bundle (llama.cpp's sources, used only to build from
# source, which the benchmark never does: getLlama({ build: 'never' })).
#
# Usage: scripts/pack-llama-cpp.sh          then, on the target:
#   mkdir -p .peers/unpacked && tar -xJf .peers/llama-cpp.tar.xz -C .peers/unpacked
#   LLAMA_CPP_MODULE=.peers/unpacked/node_modules/node-llama-cpp node dist/bench/peers/llama-cpp-decode.js MODEL.gguf OUT.json
set -euo pipefail
cd "$(dirname "$0")/.."
build=.peers/build
mkdir -p "$build"
cp scripts/llama-cpp-peer/package.json scripts/llama-cpp-peer/package-lock.json "$build"/
# No install scripts: node-llama-cpp's postinstall would try to download or build llama.cpp.
(cd "$build" && npm ci --no-audit --no-fund --ignore-scripts)

keep=linux-x64-vulkan
test -f "$build/node_modules/@node-llama-cpp/$keep/package.json" || { echo "missing @node-llama-cpp/$keep (not installed for this platform?)" >&2; exit 1; }
excludes=(--exclude=node_modules/node-llama-cpp/llama/gitRelease.bundle --exclude=node_modules/.package-lock.json)
for dir in "$build"/node_modules/@node-llama-cpp/*; do
  name=$(basename "$dir")
  [ "$name" = "$keep" ] || excludes+=("--exclude=node_modules/@node-llama-cpp/$name")
done
tar -C "$build" "${excludes[@]}" -cf - node_modules | xz -9 -T0 > .peers/llama-cpp.tar.xz
version=$(node -p "require('./$build/node_modules/node-llama-cpp/package.json').version")
echo "node-llama-cpp $version + @node-llama-cpp/$keep: .peers/llama-cpp.tar.xz $(du -h .peers/llama-cpp.tar.xz | cut -f1) ($(stat -c %s .peers/llama-cpp.tar.xz) bytes)"
