"""Llama-3-8B-shaped random checkpoint (bf16), HF transformers eager decode speed on it, and the
greedy tokens bench/decode.ts must reproduce.

Writes, under OUT:
- llama3-8b-random/: the HF folder Tessera's bench/decode.ts loads (made once, seeded; an existing
  folder is loaded instead, so the reference below always describes the file on disk);
- hf-decode-tokens.json: for batch 1 and 16, the 128-token prompts and, per sequence, 33 greedy
  steps (the pick after the prompt, then after each of 32 decode steps fed the previous pick),
  each with the reference's top 8 token ids and logits and max|logit|. The reference runs the
  same weights upcast to float32 with TF32 off, so its own rounding is far below ours;
- hf-decode.json: tokens/s of eager bf16 decode (batch 1 and 16, 128-token prompts, 32 steps
  timed with CUDA events around each step, KV cache on), unless HF_DECODE_SKIP_TIMING is set
  (HF_DECODE_SKIP_REFERENCE skips the tokens: bench/anchors/hf_serve.py runs it with both).
Both JSON files carry $BENCH_RUN_ID: the TypeScript bench uses them only from its own run.
Usage: python3 bench/anchors/hf_decode.py OUT
"""
import json, os, sys, time
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

PROMPT, STEPS, TOP = 128, 32, 8
out = sys.argv[1]
run_id = os.environ.get("BENCH_RUN_ID")
folder = os.path.join(out, "llama3-8b-random")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
if os.path.exists(os.path.join(folder, "config.json")):
    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.bfloat16, attn_implementation="eager").to("cuda").eval()
    print(f"loaded {folder}", flush=True)
else:
    cfg = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=int(os.environ.get("LAYERS", "32")),
                      num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=500000.0,
                      tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001, torch_dtype="bfloat16")
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation="eager").eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 2: p.normal_(0, 1.0 / p.shape[1] ** 0.5)
            else: p.normal_(1.0, 0.05)
    t0 = time.time()
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="5GB")
    print(f"saved {folder} in {time.time() - t0:.0f}s", flush=True)


def prompts(batch):
    g = torch.Generator().manual_seed(1000 + batch)
    return torch.randint(100, 120000, (batch, PROMPT), generator=g)


def decode_rate(batch):
    x = prompts(batch).to("cuda")
    with torch.no_grad():
        o = model(input_ids=x, use_cache=True)
        nxt = o.logits[:, -1].argmax(-1, keepdim=True)
        past = o.past_key_values
        times = []
        for _ in range(STEPS):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            o = model(input_ids=nxt, past_key_values=past, use_cache=True)
            nxt = o.logits[:, -1].argmax(-1, keepdim=True)
            b.record(); torch.cuda.synchronize()
            past = o.past_key_values
            times.append(a.elapsed_time(b))
    times.sort()
    return batch / (times[len(times) // 2] / 1e3)


def greedy_reference(batch):
    """33 greedy picks per sequence with the top logits that decide them (float32 model)."""
    x = prompts(batch)
    steps = [[] for _ in range(batch)]
    with torch.no_grad():
        o = model(input_ids=x.to("cuda"), use_cache=True)
        past = o.past_key_values
        for s in range(STEPS + 1):
            logits = o.logits[:, -1].float()
            top = torch.topk(logits, TOP, dim=-1)
            max_abs = logits.abs().max(-1).values
            for i in range(batch):
                steps[i].append({"token": int(top.indices[i, 0]), "topIds": top.indices[i].tolist(),
                                 "topValues": top.values[i].tolist(), "maxAbsLogit": float(max_abs[i])})
            if s == STEPS:
                break
            o = model(input_ids=top.indices[:, :1], past_key_values=past, use_cache=True)
            past = o.past_key_values
    return {"prompts": x.tolist(), "steps": steps}


cases = {}
if not os.environ.get("HF_DECODE_SKIP_TIMING"):
    for b in (1, 16):
        cases[f"b{b}"] = decode_rate(b)
        print(f"HF eager decode batch {b}: {cases[f'b{b}']:.1f} tokens/s", flush=True)
    json.dump({"card": torch.cuda.get_device_name(), "runId": run_id, "cases": cases}, open(os.path.join(out, "hf-decode.json"), "w"))

if not os.environ.get("HF_DECODE_SKIP_REFERENCE"):
    model = model.float()
    torch.cuda.empty_cache()
    ref = {str(b): greedy_reference(b) for b in (1, 16)}
    json.dump({"card": torch.cuda.get_device_name(), "runId": run_id, "prompt": PROMPT, "steps": STEPS + 1, "top": TOP,
               "reference": "HF transformers eager, float32 (weights upcast from the bf16 file), TF32 off", "batches": ref},
              open(os.path.join(out, "hf-decode-tokens.json"), "w"))
    print(f"reference greedy tokens → {os.path.join(out, 'hf-decode-tokens.json')}", flush=True)
