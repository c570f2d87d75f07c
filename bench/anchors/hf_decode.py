"""Llama-3-8B-shaped random checkpoint (bf16) and HF transformers eager decode speed on it.

Writes the HF folder OUT/llama3-8b-random (Tessera's bench/decode.ts loads the same file) and
OUT/hf-decode.json: tokens/s of eager decode (batch 1 and 16, 128-token prompts, 32 steps timed
with CUDA events around each step, KV cache on).
Usage: python3 bench/anchors/hf_decode.py OUT
HF_DECODE_SKIP_TIMING=1 only writes the checkpoint (bench/anchors/hf_serve.py runs it that way).
"""
import json, os, sys, time
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

out = sys.argv[1]
folder = os.path.join(out, "llama3-8b-random")
cfg = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=int(os.environ.get("LAYERS", "32")),
                  num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=500000.0,
                  tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001, torch_dtype="bfloat16")
with torch.device("cuda"):
    model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation="eager").eval()
with torch.no_grad():
    for n, p in model.named_parameters():
        if p.dim() == 2: p.normal_(0, 1.0 / p.shape[1] ** 0.5)
        else: p.normal_(1.0, 0.05)

def decode_rate(batch, prompt=128, steps=32):
    torch.manual_seed(batch)
    x = torch.randint(100, 120000, (batch, prompt), device="cuda")
    with torch.no_grad():
        o = model(input_ids=x, use_cache=True)
        nxt = o.logits[:, -1].argmax(-1, keepdim=True)
        past = o.past_key_values
        times = []
        for _ in range(steps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            o = model(input_ids=nxt, past_key_values=past, use_cache=True)
            nxt = o.logits[:, -1].argmax(-1, keepdim=True)
            b.record(); torch.cuda.synchronize()
            past = o.past_key_values
            times.append(a.elapsed_time(b))
    times.sort()
    return batch / (times[len(times) // 2] / 1e3)

cases = {}
for b in (() if os.environ.get("HF_DECODE_SKIP_TIMING") else (1, 16)):
    cases[f"b{b}"] = decode_rate(b)
    print(f"HF eager decode batch {b}: {cases[f'b{b}']:.1f} tokens/s", flush=True)
t0 = time.time()
model.save_pretrained(folder, safe_serialization=True, max_shard_size="5GB")
print(f"saved {folder} in {time.time() - t0:.0f}s", flush=True)
if cases:
    json.dump({"card": torch.cuda.get_device_name(), "cases": cases}, open(os.path.join(out, "hf-decode.json"), "w"))
