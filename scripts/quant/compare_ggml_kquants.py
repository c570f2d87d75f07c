"""Our K-quant quantizers (src/io/gguf-quantize.ts) against ggml's reference ones, on the same values.

ggml's `quantize_row_q4_K_ref` / `quantize_row_q6_K_ref` and `dequantize_row_*` are called from the
libggml-base.so that node-llama-cpp ships (ctypes); ours run in node from the build (dist/). Both
outputs are dequantized by ggml, so the comparison is of the quantizers alone: RMS error of each
against the input (relative to the input's RMS), and how many blocks come out byte-identical.

Values: Gaussian rows (seed printed), and the same rows with a few large outliers per block, as
trained weights have.

Usage: python3 scripts/quant/compare_ggml_kquants.py LIBGGML_BASE_SO [--build dist] [--seed 1]
"""
import argparse
import ctypes
import os
import subprocess
import tempfile

import numpy as np

TYPES = {"Q4_K": (144, "quantize_row_q4_K_ref", "dequantize_row_q4_K"),
         "Q6_K": (210, "quantize_row_q6_K_ref", "dequantize_row_q6_K")}

ap = argparse.ArgumentParser()
ap.add_argument("lib")
ap.add_argument("--build", default="dist")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--blocks", type=int, default=4096)
a = ap.parse_args()
ggml = ctypes.CDLL(a.lib)
f32p = ctypes.POINTER(ctypes.c_float)

rng = np.random.default_rng(a.seed)
n = 256 * a.blocks
gauss = rng.standard_normal(n).astype(np.float32) * 0.02
outliers = gauss.copy()
hit = rng.choice(n, size=n // 128, replace=False)
outliers[hit] *= 12
print(f"seed {a.seed}, {a.blocks} blocks of 256 per case")

build = os.path.abspath(a.build)
ours_js = f"""
import {{ readFileSync, writeFileSync }} from 'node:fs';
import {{ encodeGgml }} from '{build}/src/io/gguf-quantize.js';
const [,, type, src, dst] = process.argv;
const b = readFileSync(src);
writeFileSync(dst, encodeGgml(type, new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)));
"""

with tempfile.TemporaryDirectory() as tmp:
    script = os.path.join(tmp, "ours.mjs")
    open(script, "w").write(ours_js)
    for case, x in (("gaussian", gauss), ("1/128 outliers ×12", outliers)):
        src = os.path.join(tmp, "x.f32")
        x.tofile(src)
        for t, (block_bytes, q_name, dq_name) in TYPES.items():
            dst = os.path.join(tmp, "ours.bin")
            subprocess.run(["node", script, t, src, dst], check=True)
            ours = np.fromfile(dst, dtype=np.uint8)
            theirs = np.zeros(a.blocks * block_bytes, dtype=np.uint8)
            getattr(ggml, q_name)(x.ctypes.data_as(f32p), theirs.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(n))
            err = {}
            for who, q in (("ours", ours), ("ggml", theirs)):
                y = np.zeros(n, dtype=np.float32)
                getattr(ggml, dq_name)(q.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(f32p), ctypes.c_int64(n))
                err[who] = float(np.sqrt(np.mean((y.astype(np.float64) - x) ** 2)) / np.sqrt(np.mean(x.astype(np.float64) ** 2)))
            same = int(np.sum(np.all(ours.reshape(-1, block_bytes) == theirs.reshape(-1, block_bytes), axis=1)))
            print(f"{case:22s} {t}: RMS error ours {err['ours']:.4e}, ggml {err['ggml']:.4e} "
                  f"(ours/ggml {err['ours'] / err['ggml']:.3f}); {same}/{a.blocks} blocks byte-identical")
