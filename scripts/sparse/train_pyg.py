#!/usr/bin/env python3
"""Trains GCN, GraphSAGE (mean) and GAT on Cora and Citeseer with PyTorch Geometric, from the
converted planetoid files (data/planetoid, no download), and writes for each (dataset, model):

  <out>/<dataset>-<arch>/config.json        our GNN config (src/models/gnn/gnn-config.ts)
  <out>/<dataset>-<arch>/model.safetensors  weights under our names, f32, [in, out] layout
  <out>/<dataset>-<arch>/pyg.json           PyG's eval-mode logits, predictions and accuracies

test/models/gnn/pyg-parity.test.ts loads each checkpoint through our compiler and asserts the same
predictions on every node. The graph PyG sees is the one our model sees: the stored A + I with its
self loops removed as edge_index; GCNConv and GATConv add one self loop per node themselves (their
defaults), SAGEConv averages over neighbours only. Features are the stored row-normalized values.

Models follow PyG's examples/gcn.py / gat.py: GCN 2 layers x 16 hidden, ReLU, dropout 0.5,
Adam lr 0.01, weight decay 5e-4; GraphSAGE the same with SAGEConv(aggr="mean"); GAT 8 heads x 8
hidden (concatenated), ELU, 1 output head, dropout 0.6 (features and attention), lr 0.005.
200 epochs, fixed seed, the last epoch's weights (no early stopping).

Needs torch and torch_geometric (>= 2.3; no torch_scatter/torch_sparse needed) and numpy.
Usage, from the project root:
  python3 scripts/sparse/train_pyg.py [--data data/planetoid] [--out bench/out/gnn-pyg] [--device cuda]
  TESSERA_GNN_PYG_DIR=bench/out/gnn-pyg npx vitest run test/models/gnn/pyg-parity.test.ts
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
import torch_geometric
from torch_geometric.nn import GATConv, GCNConv, SAGEConv

SEED = 20250917
EPOCHS = 200


def read_planetoid(data_dir, name):
    with open(os.path.join(data_dir, f"{name}.json")) as f:
        header = json.load(f)
    with open(os.path.join(data_dir, f"{name}.bin"), "rb") as f:
        blob = f.read()

    def arr(key):
        e = header["arrays"][key]
        dtype = "<i4" if e["dtype"] == "i32" else "<f4"
        return np.frombuffer(blob, dtype=dtype, count=e["bytes"] // 4, offset=e["offset"]).reshape(e["shape"])

    n, fdim = header["nodes"], header["features"]
    indptr, indices = arr("adj_indptr"), arr("adj_indices")
    rows = np.repeat(np.arange(n), np.diff(indptr))
    keep = rows != indices
    # CSR row i aggregates from its columns j: in PyG's [source, target] order that is (j, i)
    edge_index = torch.tensor(np.stack([indices[keep], rows[keep]]).astype(np.int64))
    x = np.zeros((n, fdim), dtype=np.float32)
    fp, fi, fv = arr("feat_indptr"), arr("feat_indices"), arr("feat_values")
    x[np.repeat(np.arange(n), np.diff(fp)), fi] = fv
    return {
        "header": header,
        "x": torch.tensor(x),
        "edge_index": edge_index,
        "y": torch.tensor(arr("labels").astype(np.int64)),
        "train": torch.tensor(arr("train").astype(np.int64)),
        "val": torch.tensor(arr("val").astype(np.int64)),
        "test": torch.tensor(arr("test").astype(np.int64)),
    }


class Net(torch.nn.Module):
    def __init__(self, arch, fin, classes):
        super().__init__()
        self.arch = arch
        if arch == "gcn":
            self.convs = torch.nn.ModuleList([GCNConv(fin, 16), GCNConv(16, classes)])
            self.dropout, self.hidden, self.heads = 0.5, [16], [1, 1]
        elif arch == "sage":
            self.convs = torch.nn.ModuleList([SAGEConv(fin, 16, aggr="mean"), SAGEConv(16, classes, aggr="mean")])
            self.dropout, self.hidden, self.heads = 0.5, [16], [1, 1]
        else:
            self.convs = torch.nn.ModuleList(
                [GATConv(fin, 8, heads=8, dropout=0.6), GATConv(64, classes, heads=1, concat=False, dropout=0.6)]
            )
            self.dropout, self.hidden, self.heads = 0.6, [8], [8, 1]

    def forward(self, x, edge_index):
        for l, conv in enumerate(self.convs):
            x = F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, edge_index)
            if l < len(self.convs) - 1:
                x = F.elu(x) if self.arch == "gat" else F.relu(x)
        return x


def t(a):
    return a.detach().cpu().to(torch.float32).contiguous().numpy()


def export_weights(model):
    """Our tensor names (src/models/gnn/gnn-tensors.ts); Linear weights transposed to [in, out]."""
    out = {}
    for l, conv in enumerate(model.convs):
        p = f"convs.{l}."
        if model.arch == "gcn":
            out[p + "weight"] = t(conv.lin.weight).T
            out[p + "bias"] = t(conv.bias)
        elif model.arch == "sage":
            out[p + "lin_l.weight"] = t(conv.lin_l.weight).T
            out[p + "lin_l.bias"] = t(conv.lin_l.bias)
            out[p + "lin_r.weight"] = t(conv.lin_r.weight).T
        else:
            lin = conv.lin if getattr(conv, "lin", None) is not None else conv.lin_src
            heads, width = conv.heads, conv.out_channels
            out[p + "weight"] = t(lin.weight).T
            out[p + "att_src"] = t(conv.att_src).reshape(heads, width)
            out[p + "att_dst"] = t(conv.att_dst).reshape(heads, width)
            out[p + "bias"] = t(conv.bias)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name, a in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for a in tensors.values():
            f.write(a.tobytes())


def time_inference(model, x, ei, device, reps=50, warmup=10):
    times = []
    with torch.no_grad():
        for i in range(warmup + reps):
            if device != "cpu":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x, ei).cpu()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def accuracy(pred, y, idx):
    return float((pred[idx] == y[idx]).float().mean())


def run(data, name, arch, out_dir, device):
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    h = data["header"]
    model = Net(arch, h["features"], h["classes"]).to(device)
    lr = 0.005 if arch == "gat" else 0.01
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    x, ei, y = data["x"].to(device), data["edge_index"].to(device), data["y"].to(device)
    train = data["train"].to(device)
    start = time.time()
    for _ in range(EPOCHS):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(x, ei)[train], y[train])
        loss.backward()
        opt.step()
    seconds = time.time() - start
    model.eval()
    with torch.no_grad():
        logits = model(x, ei).double().cpu()
    inference_ms = time_inference(model, x, ei, device)
    pred = logits.argmax(1)
    top2 = logits.topk(2, dim=1).values
    yc = data["y"]
    result = {
        "dataset": name,
        "arch": arch,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "device": str(device) if device == "cpu" else torch.cuda.get_device_name(0),
        "seed": SEED,
        "epochs": EPOCHS,
        "train_seconds": seconds,
        # eval-mode forward on the resident graph plus the logits' copy to the host, median ms;
        # bench/sparse-gnn.ts takes it as its anchor only when runId equals its own BENCH_RUN_ID
        "inference_ms": inference_ms,
        "runId": os.environ.get("BENCH_RUN_ID"),
        "val_accuracy": accuracy(pred, yc, data["val"]),
        "test_accuracy": accuracy(pred, yc, data["test"]),
        "min_top2_margin": float((top2[:, 0] - top2[:, 1]).min()),
        "predictions": pred.tolist(),
        "logits": [float(v) for v in logits.flatten().to(torch.float32)],
    }
    folder = os.path.join(out_dir, f"{name}-{arch}")
    os.makedirs(folder, exist_ok=True)
    config = {
        "model_type": "gnn",
        "architecture": arch,
        "in_features": h["features"],
        "hidden_features": model.hidden,
        "num_classes": h["classes"],
        "heads": model.heads,
        "negative_slope": 0.2,
        "activation": "elu" if arch == "gat" else "relu",
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    write_safetensors(os.path.join(folder, "model.safetensors"), export_weights(model))
    with open(os.path.join(folder, "pyg.json"), "w") as f:
        json.dump(result, f)
    print(f"{name} {arch}: test accuracy {result['test_accuracy']:.3f}, val {result['val_accuracy']:.3f}, "
          f"{seconds:.1f} s, smallest top-2 logit margin {result['min_top2_margin']:.2e} -> {folder}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/planetoid")
    ap.add_argument("--out", default="bench/out/gnn-pyg")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--archs", default="gcn,sage,gat")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for name in args.datasets.split(","):
        data = read_planetoid(args.data, name)
        for arch in args.archs.split(","):
            run(data, name, arch, args.out, args.device)


if __name__ == "__main__":
    main()
