"""cuSPARSE anchor for bench/sparse.ts: torch.sparse.mm on CSR, on the matrices that
bench/sparse-graphs.ts wrote (the same R-MAT graphs, seeds fixed there), at f = 32/64/128.

Usage (on the GPU machine, from the project root):
  node .build/bench/sparse-graphs.js sparse-graphs          # writes <name>.json + raw CSR arrays
  python3 bench/anchors/torch_sparse.py sparse-graphs torch-sparse.json
  node .build/bench/sparse.js torch-sparse.json                    # same BENCH_RUN_ID for both

Writes {"card", "runId", "torch", "cases": {"spmm <graph> f<f>": median ms}}; runId is
$BENCH_RUN_ID, which bench/sparse.ts requires to equal its own. Each case is checked first: 64
rows of the product against a float64 product of the same inputs (within the f32 summation bound
bench/sparse.ts uses), so a wrong anchor is never written. Timing: CUDA events around each call,
warm-up first, median of the repeats; f32 throughout, TF32 off.
"""
import glob
import json
import math
import os
import statistics
import sys

import numpy as np
import torch

torch.backends.cuda.matmul.allow_tf32 = False
DEV = "cuda"
FEATURES = [32, 64, 128]
SAMPLE_ROWS = 64


def time_ms(fn, reps=50, warmup=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def load(dir_, name):
    head = json.load(open(os.path.join(dir_, f"{name}.json")))
    indptr = np.fromfile(os.path.join(dir_, f"{name}.indptr.i32"), dtype="<i4")
    indices = np.fromfile(os.path.join(dir_, f"{name}.indices.i32"), dtype="<i4")
    vals = np.fromfile(os.path.join(dir_, f"{name}.vals.f32"), dtype="<f4")
    m, k, nnz = head["m"], head["k"], head["nnz"]
    assert indptr.shape == (m + 1,) and indices.shape == (nnz,) and vals.shape == (nnz,), f"{name}: file sizes disagree with its header"
    assert indptr[-1] == nnz, f"{name}: indptr ends at {indptr[-1]}, header says {nnz} nonzeros"
    return head, indptr, indices, vals


def verify(name, f, indptr, indices, vals, x, y):
    """64 seeded rows (the heaviest first) against float64 sums, within the f32 summation bound."""
    rng = np.random.default_rng(f)
    lengths = np.diff(indptr)
    rows = [int(np.argmax(lengths))] + list(rng.integers(0, len(lengths), SAMPLE_ROWS - 1))
    x64 = x.double().cpu().numpy()
    y_host = y.cpu().numpy()
    u = 2.0**-24
    worst = 0.0
    for i in rows:
        lo, hi = indptr[i], indptr[i + 1]
        terms = vals[lo:hi].astype(np.float64)[:, None] * x64[indices[lo:hi]]
        want = terms.sum(axis=0)
        mag = np.abs(terms).sum(axis=0)
        tol = (8 * math.sqrt(max(1, hi - lo)) + 1) * u * mag + u * np.abs(want) + 1e-30
        err = np.abs(y_host[i] - want)
        worst = max(worst, float(np.max(err / tol)) if np.all(np.isfinite(y_host[i])) else math.inf)
    if worst > 1:
        sys.exit(f"FAIL {name} f{f}: torch.sparse.mm outside the f32 bound (worst {worst:.3f}); nothing written")
    print(f"check ok: {name} f{f}: {SAMPLE_ROWS} rows within the bound (worst {worst:.3f})")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: torch_sparse.py <graph dir> [out.json]")
    dir_ = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "torch-sparse.json"
    names = sorted(os.path.basename(p)[: -len(".json")] for p in glob.glob(os.path.join(dir_, "*.json")))
    if not names:
        sys.exit(f"no graphs in {dir_}: run bench/sparse-graphs.ts first")
    cases = {}
    for name in names:
        head, indptr, indices, vals = load(dir_, name)
        a = torch.sparse_csr_tensor(
            torch.from_numpy(indptr.astype(np.int64)),
            torch.from_numpy(indices.astype(np.int64)),
            torch.from_numpy(vals),
            size=(head["m"], head["k"]),
            device=DEV,
        )
        for f in FEATURES:
            gen = torch.Generator(device=DEV).manual_seed(head["seed"] * 31 + f)
            x = torch.randn(head["k"], f, device=DEV, generator=gen)
            y = torch.sparse.mm(a, x)
            verify(name, f, indptr, indices, vals, x, y)
            ms = time_ms(lambda: torch.sparse.mm(a, x))
            cases[f"spmm {name} f{f}"] = ms
            print(f"spmm {name} f{f}: {ms:.4f} ms")
    doc = {
        "card": torch.cuda.get_device_name(0),
        "runId": os.environ.get("BENCH_RUN_ID"),
        "torch": torch.__version__,
        "cases": cases,
    }
    with open(out, "w") as fh:
        json.dump(doc, fh, indent=2)
    print(f"→ {out}")


if __name__ == "__main__":
    main()
