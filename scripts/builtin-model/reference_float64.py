"""Full last-position logits of the built-in model in float64, for every prompt of reference.json.

An oracle independent of Tessera: Llama's arithmetic written out in NumPy (no PyTorch needed, so it
runs anywhere), over the bf16 weights as shipped, every operation in float64. Before it writes, it
checks itself against what PyTorch (HF transformers) stored when the model was trained: the first
16 logits of each prompt (PyTorch ran f32 arithmetic, so agreement to ~1e-4 of the logit scale is
expected) and the greedy continuation. Then it adds `lastLogits` (all vocab entries, float64) and
`greedyFloat64` to each reference.

Usage: python3 scripts/builtin-model/reference_float64.py [models/builtin]
"""
import json, os, struct, sys
import numpy as np

root = sys.argv[1] if len(sys.argv) > 1 else "models/builtin"
cfg = json.load(open(os.path.join(root, "config.json")))
ref_path = os.path.join(root, "reference.json")
ref = json.load(open(ref_path))


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = raw[base + a : base + b]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4")
        else:
            raise SystemExit(f"{name}: dtype {info['dtype']} not handled")
        out[name] = arr.astype(np.float64).reshape(info["shape"])
    return out


W = load_safetensors(os.path.join(root, "model.safetensors"))
H, KVH, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
EPS = cfg["rms_norm_eps"]
THETA = cfg.get("rope_parameters", {}).get("rope_theta", cfg.get("rope_theta"))
L = cfg["num_hidden_layers"]
embed = W["model.embed_tokens.weight"]
head = embed if cfg.get("tie_word_embeddings") else W["lm_head.weight"]


def rms(x, w):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * w


def rope(x, pos):
    # HF's rotate_half convention: the first and second halves of each head are the pair
    inv = 1.0 / THETA ** (np.arange(0, D, 2) / D)
    ang = np.outer(pos, inv)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))
    half = D // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], -1)
    return x * cos[:, None, :] + rot * sin[:, None, :]


def logits_of(ids):
    T = len(ids)
    x = embed[ids]
    pos = np.arange(T)
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        p = f"model.layers.{l}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = rope((h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, H, D), pos)
        k = rope((h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, KVH, D), pos)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, KVH, D)
        out = np.empty((T, H, D))
        for hd in range(H):
            kv = hd // (H // KVH)
            s = q[:, hd] @ k[:, kv].T / np.sqrt(D) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, hd] = (s / s.sum(-1, keepdims=True)) @ v[:, kv]
        x = x + out.reshape(T, H * D) @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g = h @ W[p + "mlp.gate_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
    return rms(x[-1], W["model.norm.weight"]) @ head.T


worst = 0.0
for r in ref["references"]:
    first = logits_of(r["ids"])
    scale = np.abs(first).max()
    err = np.abs(first[: len(r["lastLogitsHead"])] - np.array(r["lastLogitsHead"])).max() / scale
    worst = max(worst, err)
    if err > 1e-3 or int(first.argmax()) != r["lastLogitsArgmax"]:
        raise SystemExit(f"'{r['prompt']}': float64 logits differ from PyTorch's stored head by {err:.2e} of max|logit|")
    ids, greedy = list(r["ids"]), []
    logits = first
    for _ in range(len(r["greedy"])):
        t = int(logits.argmax())
        greedy.append(t)
        ids.append(t)
        logits = logits_of(ids)
    same = next((i for i, (a, b) in enumerate(zip(greedy, r["greedy"])) if a != b), len(greedy))
    print(f"'{r['prompt']}': head within {err:.2e} of PyTorch's, greedy equal for {same}/{len(greedy)} tokens")
    r["lastLogits"] = [float(v) for v in first]
    r["greedyFloat64"] = greedy
ref["float64"] = "lastLogits and greedyFloat64: scripts/builtin-model/reference_float64.py (NumPy, float64 arithmetic over the bf16 weights)"
json.dump(ref, open(ref_path, "w"), indent=1)
print(f"wrote {ref_path}; worst head difference to PyTorch f32 {worst:.2e} of max|logit|")
