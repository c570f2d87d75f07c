"""FAISS IVF-Flat on the CPU: the peer of bench/telerag.ts, run by it in the same run on the same vectors.

Reads raw little-endian f32 files of the base vectors [n, d] and the queries [nq, d], trains an
IndexIVFFlat (L2, `nlist` lists) with its own k-means, and for each nprobe searches the whole query
batch repeatedly until at least --min-seconds have passed (after one warm-up search), reporting
queries per second and the ids found, so the bench computes recall against its own exact search. Each
nprobe is searched at each OpenMP thread count of --threads (the index is built once, on the most).

Usage: python3 bench/anchors/faiss_ivf.py BASE QUERIES OUT --d 100 --nlist 256 --nprobes 1,2,4 --k 10 --threads 1,2
"""

import argparse
import json
import time

import numpy as np
import faiss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("queries")
    ap.add_argument("out")
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--nlist", type=int, required=True)
    ap.add_argument("--nprobes", required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--min-seconds", type=float, default=0.5)
    a = ap.parse_args()

    thread_counts = [int(x) for x in a.threads.split(",")]
    faiss.omp_set_num_threads(max(thread_counts))
    xb = np.fromfile(a.base, dtype="<f4").reshape(-1, a.d)
    xq = np.fromfile(a.queries, dtype="<f4").reshape(-1, a.d)
    quantizer = faiss.IndexFlatL2(a.d)
    index = faiss.IndexIVFFlat(quantizer, a.d, a.nlist, faiss.METRIC_L2)
    index.cp.seed = a.seed
    index.cp.niter = a.niter
    t0 = time.perf_counter()
    index.train(xb)
    index.add(xb)
    build_s = time.perf_counter() - t0

    runs = []
    for threads in thread_counts:
        faiss.omp_set_num_threads(threads)
        for nprobe in [int(x) for x in a.nprobes.split(",")]:
            index.nprobe = nprobe
            _, ids = index.search(xq, a.k)  # warm-up, and the ids reported
            reps = 0
            t0 = time.perf_counter()
            while True:
                index.search(xq, a.k)
                reps += 1
                el = time.perf_counter() - t0
                if el >= a.min_seconds:
                    break
            runs.append(
                {"threads": threads, "nprobe": nprobe, "qps": reps * len(xq) / el, "ids": ids.astype(int).tolist()}
            )

    with open(a.out, "w") as f:
        json.dump(
            {
                "peer": f"faiss {faiss.__version__} IndexIVFFlat",
                "threads": thread_counts,
                "buildSeconds": build_s,
                "runs": runs,
            },
            f,
        )


if __name__ == "__main__":
    main()
