#!/usr/bin/env python3
"""Converts the planetoid pickles (github.com/kimiyoung/planetoid) into data/planetoid/<name>.{json,bin}.

Preprocessing follows Kipf & Welling's GCN code (gcn/utils.py `load_data`, `preprocess_features`):
  - features: allx stacked on tx, test rows reordered into place by `ind.<name>.test.index`;
    Citeseer's test indices have gaps (isolated nodes), which become all-zero rows;
    then each row divided by its sum (zero rows stay zero);
  - labels: argmax of the one-hot rows; a node with no label (Citeseer's gap nodes) gets -1;
  - splits: train = range(len(y)), val = range(len(y), len(y) + 500), test = the sorted test index;
  - adjacency: the citation graph made symmetric, duplicates merged, self loops dropped and then
    exactly one self loop added per node (binary A + I; the GCN normalization
    D^-1/2 (A + I) D^-1/2 is computed from it by the loader, as PyG's gcn_norm does).

The binary file is a concatenation of little-endian arrays, each starting at a multiple of 4 bytes;
the JSON header names them with dtype, shape, byte offset and length. Pubmed is skipped when its
`allx` file is empty (it is empty in the source repository at commit af6abf4).

Usage: python3 scripts/sparse/planetoid_convert.py /work/planetoid-raw data/planetoid [cora citeseer pubmed]
"""
import json
import warnings
import os
import pickle
import sys

import numpy as np
import scipy.sparse as sp

FORMAT = "tessera-planetoid"

# the pickles name scipy.sparse.csr, a module path newer scipy keeps only as a deprecated alias
warnings.filterwarnings("ignore", category=DeprecationWarning)
VERSION = 1


def load(raw, name, part):
    with open(os.path.join(raw, f"ind.{name}.{part}"), "rb") as f:
        return pickle.load(f, encoding="latin1")


def convert(raw, out, name):
    if os.path.getsize(os.path.join(raw, f"ind.{name}.allx")) == 0:
        print(f"{name}: ind.{name}.allx is empty in the source files; skipped (the dataset is incomplete)")
        return
    x, y, tx, ty, allx, ally, graph = (load(raw, name, p) for p in ("x", "y", "tx", "ty", "allx", "ally", "graph"))
    test_index = np.loadtxt(os.path.join(raw, f"ind.{name}.test.index"), dtype=np.int64)
    test_range = np.sort(test_index)
    if name == "citeseer":
        # isolated test nodes are missing from tx/ty: widen tx/ty to the full index range with zero rows
        full = np.arange(test_range.min(), test_range.max() + 1)
        tx_ext = sp.lil_matrix((len(full), tx.shape[1]))
        tx_ext[test_range - test_range.min(), :] = tx
        tx = tx_ext
        ty_ext = np.zeros((len(full), y.shape[1]))
        ty_ext[test_range - test_range.min(), :] = ty
        ty = ty_ext
    features = sp.vstack((allx, tx)).tolil()
    features[test_index, :] = features[test_range, :]
    labels_1hot = np.vstack((ally, ty))
    labels_1hot[test_index, :] = labels_1hot[test_range, :]
    n = features.shape[0]
    labels = np.where(labels_1hot.sum(1) > 0, labels_1hot.argmax(1), -1).astype(np.int32)

    features = sp.csr_matrix(features, dtype=np.float64)
    rowsum = np.asarray(features.sum(1)).ravel()
    inv = np.where(rowsum > 0, 1.0 / np.where(rowsum > 0, rowsum, 1.0), 0.0)
    features = sp.csr_matrix(sp.diags(inv) @ features)
    features.sort_indices()

    rows, cols = [], []
    for src, dsts in graph.items():
        for dst in dsts:
            rows.append(src)
            cols.append(dst)
    assert max(max(rows), max(cols)) < n, f"{name}: graph names a node past the {n} feature rows"
    r = np.array(rows + cols, dtype=np.int64)
    c = np.array(cols + rows, dtype=np.int64)
    keep = r != c
    a = sp.coo_matrix((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(n, n)).tocsr()
    a.data[:] = 1.0  # duplicates summed above: back to binary
    edges_without_loops = a.nnz
    a = (a + sp.eye(n, format="csr")).tocsr()
    a.sort_indices()

    train = np.arange(len(y), dtype=np.int32)
    val = np.arange(len(y), len(y) + 500, dtype=np.int32)
    test = test_range.astype(np.int32)

    arrays = {
        "adj_indptr": a.indptr.astype("<i4"),
        "adj_indices": a.indices.astype("<i4"),
        "feat_indptr": features.indptr.astype("<i4"),
        "feat_indices": features.indices.astype("<i4"),
        "feat_values": features.data.astype("<f4"),
        "labels": labels.astype("<i4"),
        "train": train.astype("<i4"),
        "val": val.astype("<i4"),
        "test": test.astype("<i4"),
    }
    header = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "nodes": int(n),
        "features": int(features.shape[1]),
        "classes": int(labels_1hot.shape[1]),
        "edges": int(edges_without_loops),
        "adjacency": "binary symmetric A + I in CSR (adj_indptr, adj_indices; every value 1), columns sorted",
        "node_features": "row-normalized bag of words in CSR (feat_indptr, feat_indices, feat_values)",
        "labels": "class per node; -1 where the source has no label",
        "source": "https://github.com/kimiyoung/planetoid (commit af6abf4), MIT license",
        "arrays": {},
    }
    blob = bytearray()
    for key, arr in arrays.items():
        header["arrays"][key] = {
            "dtype": "i32" if arr.dtype.kind == "i" else "f32",
            "shape": list(arr.shape),
            "offset": len(blob),
            "bytes": arr.nbytes,
        }
        blob += arr.tobytes()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{name}.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(header, f, indent=1)
        f.write("\n")
    print(f"{name}: {n} nodes, {edges_without_loops} directed edges (+{n} self loops), "
          f"{features.shape[1]} features ({features.nnz} nonzero), {header['classes']} classes, "
          f"train/val/test {len(train)}/{len(val)}/{len(test)}, {len(blob)} bytes")


def main():
    raw = sys.argv[1] if len(sys.argv) > 1 else "/work/planetoid-raw"
    out = sys.argv[2] if len(sys.argv) > 2 else "data/planetoid"
    names = sys.argv[3:] or ["cora", "citeseer", "pubmed"]
    for name in names:
        convert(raw, out, name)


if __name__ == "__main__":
    main()
