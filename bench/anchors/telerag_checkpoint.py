"""A Llama-3-8B-shaped random checkpoint (bf16) that speaks the built-in model's tokenizer, for the
RAG pipeline latency bench (bench/telerag-pipelines.ts): the pipelines need text, and the 8B
checkpoint of hf_decode.py has no tokenizer. Every layer has Llama-3-8B's shapes (hidden 4096,
32 heads, 8 KV heads, MLP 14336, 32 layers unless LAYERS says); only the vocabulary is the
built-in tokenizer's (4096 tokens), so the embedding and output matrices are smaller than 8B's.
Weights are drawn on the GPU (seeded) and saved with the tokenizer files copied beside them; an
existing folder is kept. Usage: python3 bench/anchors/telerag_checkpoint.py OUT_DIR
"""
import json, os, shutil, sys, time
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

folder = sys.argv[1]
builtin = os.path.join(os.path.dirname(__file__), "..", "..", "models", "builtin")
if os.path.exists(os.path.join(folder, "config.json")):
    print(f"kept {folder}", flush=True)
    sys.exit(0)
small = json.load(open(os.path.join(builtin, "config.json")))
cfg = LlamaConfig(vocab_size=small["vocab_size"], hidden_size=4096, intermediate_size=14336,
                  num_hidden_layers=int(os.environ.get("LAYERS", "32")), num_attention_heads=32, num_key_value_heads=8,
                  max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
                  bos_token_id=small["bos_token_id"], eos_token_id=small["eos_token_id"], pad_token_id=small["pad_token_id"],
                  torch_dtype="bfloat16")
t0 = time.time()
torch.manual_seed(0)
with torch.device("cuda"):
    model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16).eval()
with torch.no_grad():
    for n, p in model.named_parameters():
        if p.dim() == 2: p.normal_(0, 1.0 / p.shape[1] ** 0.5)
        else: p.normal_(1.0, 0.05)
model.save_pretrained(folder, safe_serialization=True, max_shard_size="5GB")
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(builtin, f), os.path.join(folder, f))
print(f"saved {folder} in {time.time() - t0:.0f}s", flush=True)
