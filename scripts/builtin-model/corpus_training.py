"""What the Brown-corpus training scripts share (train_builtin.py, scripts/quant/train_ppl_model.py):
the corpus as one token stream split 98/2 into training and validation text, the learning-rate
schedule, and one optimizer step of next-token cross-entropy under bf16 autocast.
"""
import math

import torch


def read_paragraphs(path):
    """The corpus file's non-empty lines, stripped (extract-corpus.mjs writes a paragraph per line)."""
    return [l.strip() for l in open(path, encoding="utf-8") if l.strip()]


def token_stream(tok, lines, eos):
    """Every paragraph encoded without its BOS and ended by `eos`, as one stream: (all, train, val),
    train the first 98% and val the rest (the end of the corpus, held out), both on the GPU."""
    ids = []
    for enc in tok.encode_batch(lines):
        ids.extend(enc.ids[1:] + [eos])
    data = torch.tensor(ids, dtype=torch.long)
    split = int(len(data) * 0.98)
    return data, data[:split].cuda(), data[split:].cuda()


def cosine_lr(step, peak, warmup, steps):
    """Linear warm-up over `warmup` steps, then cosine from `peak` down to a tenth of it at `steps`."""
    return peak * min(1.0, step / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))


def train_step(model, opt, x, y, vocab_size):
    """One AdamW step on the next-token loss of batch (x, y), gradients clipped to norm 1; returns the loss."""
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = torch.nn.functional.cross_entropy(model(input_ids=x).logits.float().view(-1, vocab_size), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss
