"""PyTorch anchors for bench/copy.ts and bench/gemm.ts, measured on the same card in the same run.

Writes {"card", "runId", "torch", "cases": {key: median ms}} to the path given (default anchors.json);
runId is $BENCH_RUN_ID, which the TypeScript benches require to equal their own (same run).
Keys are shared with the TypeScript benches (see `cases()` in bench/gemm.ts):
  "copy <MiB> MiB"                       dst.copy_(src) of that many bytes
  "<dtype> mm <M>x<N>x<K>"               a[M,K] @ b[K,N]
  "<dtype> linear <M>x<N>x<K>"           F.linear(x[M,K], w[N,K])  (weights [N,K], as in HF)
Timing: CUDA events around each call, warm-up first, median of the repeats; random data (never
zeros); weights rotate among copies that together exceed L2 so small-M cases read HBM, not cache.
f32 products run with TF32 off (true f32 arithmetic, what our f32 path does).
"""
import json
import os
import statistics
import sys

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
DEV = "cuda"
L2_BYTES = 50 * 2**20

SQUARE = [1024, 2048, 4096, 8192]
LLM_NK = [(4096, 4096), (6144, 4096), (28672, 4096), (4096, 14336)]
LLM_M = [1, 16, 32, 64, 128, 2048]
COPY_MIB = [256, 1024]


def time_ms(fn, reps, warmup=5):
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    times = []
    for i in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn(i)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def copies_for(nbytes):
    """Enough copies that cycling through them streams from HBM (≥ 4× L2), at most 8."""
    return max(1, min(8, -(-4 * L2_BYTES // nbytes)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "anchors.json"
    torch.manual_seed(0)
    cases = {}
    for mib in COPY_MIB:
        n = mib * 2**20 // 4
        src = torch.randn(n, device=DEV)
        dst = torch.empty_like(src)
        cases[f"copy {mib} MiB"] = time_ms(lambda i: dst.copy_(src), 20)
        del src, dst
    for n in SQUARE:
        for dtype, name in [(torch.bfloat16, "bf16"), (torch.float32, "f32")]:
            a = torch.randn(n, n, device=DEV, dtype=dtype)
            b = torch.randn(n, n, device=DEV, dtype=dtype)
            reps = 10 if (name == "f32" and n >= 8192) else 30
            cases[f"{name} mm {n}x{n}x{n}"] = time_ms(lambda i: torch.matmul(a, b), reps)
            del a, b
    for m in LLM_M:
        for (n, k) in LLM_NK:
            x = torch.randn(m, k, device=DEV, dtype=torch.bfloat16)
            copies = copies_for(n * k * 2)
            ws = [torch.randn(n, k, device=DEV, dtype=torch.bfloat16) for _ in range(copies)]
            cases[f"bf16 linear {m}x{n}x{k}"] = time_ms(lambda i: F.linear(x, ws[i % copies]), 30)
            del ws, x
    doc = {"card": torch.cuda.get_device_name(), "runId": os.environ.get("BENCH_RUN_ID"), "torch": torch.__version__, "cases": cases}
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
    for k, v in cases.items():
        print(f"{k:40s} {v:9.4f} ms")


if __name__ == "__main__":
    main()
