"""Random-weight HF checkpoints at real shapes (layers reduced), and PyTorch's outputs on them.

For each model: `save_pretrained` (safetensors, bf16) into OUT/<name>, then HF's forward in f32
arithmetic on the bf16 weights over fixed token ids: last-position logits and 64 greedy tokens,
into OUT/<name>/parity-reference.json. Tessera loads the very same folders (bench/parity.ts).
Usage: python3 bench/parity/make_checkpoints.py OUT
"""
import json, os, sys, time
import torch
# f32 means f32 here: no TF32 in the reference
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config

out = sys.argv[1]
torch.manual_seed(0)
MODELS = {
    # Llama-3.2-1B: llama3 RoPE scaling, tied embeddings, GQA 32/8, head_dim 64 (16 layers → 4)
    "llama-3.2-1b-l4": LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=4,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072, rms_norm_eps=1e-5,
        rope_theta=500000.0, rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192}, tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001),
    # Qwen2.5-0.5B: QKV bias, GQA 14/2, tied embeddings (24 layers → 4)
    "qwen2.5-0.5b-l4": Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=4,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=True, use_sliding_window=False),
    # Mistral-7B: GQA 32/8, untied head (32 layers → 2)
    "mistral-7b-l2": MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=2,
        num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768, rms_norm_eps=1e-5, rope_theta=10000.0,
        sliding_window=None, tie_word_embeddings=False),
}
ids = [(i * 7919 + 13) % 31000 + 100 for i in range(37)]
for name, cfg in MODELS.items():
    t0 = time.time()
    cfg.torch_dtype = "bfloat16"
    model = AutoModelForCausalLM.from_config(cfg).to(torch.bfloat16)
    # HF's init is tiny (std 0.02): scale projections so activations and logits have real spread
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 1.0 / p.shape[1] ** 0.5)
            elif "norm" in n:
                p.normal_(1.0, 0.1)
            else:
                p.normal_(0, 0.02)
    folder = os.path.join(out, name)
    model.save_pretrained(folder, safe_serialization=True)
    ref = model.float().cuda().eval()
    with torch.no_grad():
        x = torch.tensor([ids], device="cuda")
        logits = ref(input_ids=x).logits[0].float()
        gen = ref.generate(x, max_new_tokens=64, do_sample=False, eos_token_id=None, pad_token_id=0, output_scores=True, return_dict_in_generate=True)
        greedy = gen.sequences[0, len(ids):].tolist()
        # how close each greedy choice was: (top1 − top2) / max|logit| — a divergence at a near-tie is rounding, not a bug
        margins = []
        for sc in gen.scores:
            top = sc[0].float().topk(2).values
            margins.append(float((top[0] - top[1]) / sc[0].float().abs().max()))
    json.dump({"ids": ids, "lastLogits": logits[-1].cpu().tolist(), "greedy": greedy, "greedyMargins": margins, "note": "bf16 weights, f32 arithmetic, HF eager"},
              open(os.path.join(folder, "parity-reference.json"), "w"))
    print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M params, {time.time() - t0:.1f}s", flush=True)
    del model, ref
    torch.cuda.empty_cache()
