"""PyTorch anchors for bench/attention-decode.ts, -prefill.ts and -cascade.ts, same card, same run.

Writes {"card", "runId", "torch", "cases": {key: median ms}} to the path given (default
attention-anchors.json); runId is $BENCH_RUN_ID, which the TypeScript benches require to equal their own.
Keys are shared with the TypeScript benches (bench/attention-cases.json lists the cases):
  "decode b<B> L<L>"          SDPA, q [B, 32, 1, 128], K/V contiguous [B, 8, L, 128] f16, enable_gqa
  "decode skew <name>"        the skewed batch as one SDPA call per request (SDPA has no ragged batch)
  "prefill L<L>"              SDPA causal, q [1, 32, L, 128], K/V [1, 8, L, 128] f16, enable_gqa
  "cascade <name>"            plain SDPA decode over prefix+suffix per request, batched (same length)
Timing: ≥ 0.5 s of warm-up calls, then CUDA events around batches of back-to-back calls (≥ 2 ms
each), median per call over the repeats; random data.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DEV = "cuda"
HQ, HK, D = 32, 8, 128


def time_ms(fn, reps=30, warmup_s=0.5, batch_ms=2.0):
    """Median ms per call. Like our side (bench/results.ts timeGpu): the GPU is kept busy for
    warmup_s first (idle H100 clocks sit at 345 MHz; 5 warm-up calls left the first anchors of a
    run up to 2x slow), and each timed rep runs enough back-to-back calls to last batch_ms, so
    launch gaps are amortised as in our replayed streams."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    calls = 0
    while time.perf_counter() - t0 < warmup_s:
        fn()
        calls += 1
        if calls % 8 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    one = (time.perf_counter() - t0) * 1e3 / max(1, calls)
    n = max(1, min(1000, int(batch_ms / max(one, 1e-3))))
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / n)
    return statistics.median(times)


def sdpa(q, k, v, causal=False):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)


def rand(*shape):
    return torch.randn(*shape, device=DEV, dtype=torch.float16)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "attention-anchors.json"
    cases = json.load(open("bench/attention-cases.json"))
    res = {}
    for b, L in cases["decode"]:
        q, k, v = rand(b, HQ, 1, D), rand(b, HK, L, D), rand(b, HK, L, D)
        res[f"decode b{b} L{L}"] = time_ms(lambda: sdpa(q, k, v))
        del q, k, v
    for name, lens in cases["skew"].items():
        qs = [rand(1, HQ, 1, D) for _ in lens]
        kvs = [(rand(1, HK, L, D), rand(1, HK, L, D)) for L in lens]
        res[f"decode skew {name}"] = time_ms(lambda: [sdpa(q, k, v) for q, (k, v) in zip(qs, kvs)], reps=10)
        del qs, kvs
    for L in cases["prefill"]:
        q, k, v = rand(1, HQ, L, D), rand(1, HK, L, D), rand(1, HK, L, D)
        res[f"prefill L{L}"] = time_ms(lambda: sdpa(q, k, v, causal=True), reps=20)
        del q, k, v
    for name, (prefix, suffix, n) in cases["cascade"].items():
        q, k, v = rand(n, HQ, 1, D), rand(n, HK, prefix + suffix, D), rand(n, HK, prefix + suffix, D)
        res[f"cascade {name}"] = time_ms(lambda: sdpa(q, k, v))
        del q, k, v
    torch.cuda.empty_cache()
    doc = {"card": torch.cuda.get_device_name(0), "runId": os.environ.get("BENCH_RUN_ID"), "torch": torch.__version__, "cases": res}
    json.dump(doc, open(out, "w"), indent=2)
    for k, ms in res.items():
        print(f"{k}\t{ms:.4f} ms")


if __name__ == "__main__":
    main()
