#!/usr/bin/env bash
# Makes $2 (default dist-tuned): the build $3 (default dist) with the skinny GEMM table module that
# `bench/run-h100.sh tune` just wrote ($1, a .ts file), so the decode and serving benches can run the
# tuned sets in the same call, before the table is committed. The module is a typed object literal:
# dropping its type import and annotation makes it the JavaScript tsc would emit.
set -euo pipefail
table=${1:?usage: install-skinny-table.sh TABLE.ts [OUT] [FROM]}
out=${2:-dist-tuned}
from=${3:-dist}
rm -rf "$out" && cp -r "$from" "$out"
sed -e '/^import type/d' -e 's/SKINNY_TABLE: SkinnyTable =/SKINNY_TABLE =/' "$table" > "$out/src/kernels/skinny-gemm-table.js"
node -e "import(process.argv[1]).then((m) => console.log('tuned table:', JSON.stringify(m.SKINNY_TABLE.buckets.map((b) => [b.maxM, b.sgmat]))))" \
  "$(realpath "$out/src/kernels/skinny-gemm-table.js")"
