"""Trains two LoRA adapters of Tessera's built-in model with `peft`, one per Brown-corpus domain, at
different ranks (so a mixed batch mixes ranks), and reports each one's held-out perplexity next to the
base model's on the same held-out documents: an adapter whose effect does not show is not worth shipping.

Runs on the GPU machine (PyTorch, transformers and peft must be installed there; nothing is downloaded):
    node scripts/builtin-model/extract-corpus.mjs a > press.txt          # here: press reportage
    node scripts/builtin-model/extract-corpus.mjs klmnpr > fiction.txt   # here: the fiction genres
    python3 scripts/lora/train_adapters.py models/builtin press.txt fiction.txt OUTDIR   # there
It writes OUTDIR/press and OUTDIR/fiction (PEFT folders: adapter_config.json and
adapter_model.safetensors) and OUTDIR/perplexity.json, and exits non-zero when an adapter does not
lower its domain's held-out perplexity.
"""
import json, math, os, sys

import torch
from peft import LoraConfig, get_peft_model
import transformers
from packaging.version import Version
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

# float32 whatever the config's dtype: transformers 4.56 renamed `torch_dtype` to `dtype`, and 5
# loads the config's dtype (bfloat16 here) unless told
FLOAT32 = {"dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype": torch.float32}

base_dir, press_txt, fiction_txt, out = sys.argv[1:5]
os.makedirs(out, exist_ok=True)
dev = "cuda" if torch.cuda.is_available() else "cpu"
SEQ, BATCH, STEPS, LR, SEED = 128, 32, 600, 1e-3, 0
# name, text, rank, alpha, rsLoRA, targets: two ranks and both scale rules, attention and MLP
ADAPTERS = [
    ("press", press_txt, 8, 16, False, ["q_proj", "k_proj", "v_proj", "o_proj"]),
    ("fiction", fiction_txt, 32, 32, True, ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"]),
]
# the built-in folder ships tokenizer.json only (its post-processor adds <s>)
tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(base_dir, "tokenizer.json"), eos_token="</s>")


def chunks(path):
    """Paragraphs (the lines) joined by </s>, cut into SEQ-token rows; every tenth paragraph is held out. (The files
    run genre by genre, so a held-out tail would be another genre than the training rows: the fiction
    file's last tenth is mostly humor, and an adapter fitted to the others raised its perplexity.)"""
    ids = ([], [])
    docs = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
    for i, doc in enumerate(docs):
        ids[i % 10 == 9] += tok(doc)["input_ids"] + [tok.eos_token_id]
    train, held = (torch.tensor(x[: len(x) // SEQ * SEQ]).view(-1, SEQ) for x in ids)
    return train, held


@torch.no_grad()
def perplexity(model, rows):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), BATCH):
        x = rows[i : i + BATCH].to(dev)
        loss = model(input_ids=x, labels=x).loss
        total += loss.item() * x.numel()
        count += x.numel()
    return math.exp(total / count)


report = {}
for name, text, r, alpha, rs, targets in ADAPTERS:
    torch.manual_seed(SEED)
    base = LlamaForCausalLM.from_pretrained(base_dir, **FLOAT32).float().to(dev)
    train, held = chunks(text)
    base_ppl = perplexity(base, held)
    cfg = LoraConfig(r=r, lora_alpha=alpha, use_rslora=rs, target_modules=targets, lora_dropout=0.0,
                     bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)
    g = torch.Generator().manual_seed(SEED)
    model.train()
    for step in range(STEPS):
        x = train[torch.randint(len(train), (BATCH,), generator=g)].to(dev)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 100 == 0:
            print(f"{name} step {step} loss {loss.item():.4f}", flush=True)
    ppl = perplexity(model, held)
    print(f"{name}: held-out perplexity {ppl:.3f} with the adapter, {base_ppl:.3f} without", flush=True)
    model.save_pretrained(os.path.join(out, name), safe_serialization=True)
    report[name] = {"rank": r, "lora_alpha": alpha, "use_rslora": rs, "targets": targets, "steps": STEPS,
                    "held_out_tokens": int(held.numel()), "perplexity_base": base_ppl, "perplexity_adapter": ppl}
json.dump({"base": base_dir, "seed": SEED, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
           "adapters": report}, open(os.path.join(out, "perplexity.json"), "w"), indent=2)
worse = [n for n, r in report.items() if not r["perplexity_adapter"] < r["perplexity_base"]]
if worse:
    sys.exit(f"adapters that do not lower their domain's perplexity: {', '.join(worse)}")
