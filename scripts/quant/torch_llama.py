"""A Llama decoder in plain PyTorch, for machines without transformers (Debian ships torch, not
transformers): the HF folder's config.json and model.safetensors, the module names of
transformers' LlamaForCausalLM (model.layers[i].self_attn.q_proj, ...), so the hooks of
fake_quant_ppl.py attach the same way, and `apply_rotary_pos_emb` looked up from this module at
call time, so a caller may wrap it as it wraps transformers'.

Covers what the built-in model uses: RMSNorm, default RoPE (rotate-half), grouped-query causal
attention, SwiGLU MLP, optionally tied embeddings. Everything runs in the dtype asked for (float64
for the perplexity check); transformers computes its norms, RoPE tables and softmax in float32,
which moves a perplexity by far less than the check's 1e-3.
"""
import json, math, os, struct, sys
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}


def read_safetensors(path):
    """name -> tensor, read with the format's own layout: u64 header length, JSON header, raw data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        raw = bytearray(data[start:end])
        out[name] = torch.frombuffer(raw, dtype=DTYPES[meta["dtype"]]).reshape(meta["shape"]).clone() if end > start \
            else torch.zeros(meta["shape"], dtype=DTYPES[meta["dtype"]])
    return out


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin):
    """q [B, H, T, D], k [B, KVH, T, D], cos/sin [T, D]."""
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(n)), eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kvh, self.d = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, self.h * self.d, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.kvh * self.d, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.kvh * self.d, bias=False)
        self.o_proj = nn.Linear(self.h * self.d, c.hidden_size, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kvh, self.d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kvh, self.d).transpose(1, 2)
        q, k = sys.modules[__name__].apply_rotary_pos_emb(q, k, cos, sin)
        rep = self.h // self.kvh
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.d)
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        o = F.softmax(s, dim=-1) @ v
        return self.o_proj(o.transpose(1, 2).reshape(b, t, self.h * self.d))


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = Mlp(c)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Decoder(c)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def forward(self, input_ids):
        c = self.config
        t = input_ids.shape[1]
        dtype = self.lm_head.weight.dtype
        inv = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.float64) / c.head_dim))
        ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
        ang = torch.cat((ang, ang), dim=-1)
        cos, sin = ang.cos().to(input_ids.device, dtype), ang.sin().to(input_ids.device, dtype)
        x = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return SimpleNamespace(logits=self.lm_head(self.model.norm(x)))


def load(folder, dtype):
    """The checkpoint of an HF Llama folder (single-file safetensors) as this module, in `dtype`."""
    raw = json.load(open(os.path.join(folder, "config.json")))
    rope = raw.get("rope_parameters") or {}
    if rope.get("rope_type", "default") != "default" or raw.get("rope_scaling"):
        raise ValueError(f"{folder}: only default RoPE is implemented here")
    c = SimpleNamespace(**raw)
    c.head_dim = raw.get("head_dim") or raw["hidden_size"] // raw["num_attention_heads"]
    c.rope_theta = raw.get("rope_theta", rope.get("rope_theta", 10000.0))
    m = LlamaForCausalLM(c)
    weights = read_safetensors(os.path.join(folder, "model.safetensors"))
    if "lm_head.weight" not in weights and raw.get("tie_word_embeddings"):
        weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    m.load_state_dict({k: v.to(dtype) for k, v in weights.items()}, strict=True)
    return m.to(dtype).eval()
