"""HF transformers static batching on bench/serve.ts's workload: the serving benchmark's anchor.

Builds the Llama-3-8B-shaped random checkpoint through bench/anchors/hf_decode.py in this very
process (its decode timing skipped: HF_DECODE_SKIP_TIMING), so the 16 GB model is made once,
saved for Tessera to load, and timed here. Then runs the workload's requests in fixed batches of
16 in arrival order: prompts of random ids left-padded to the batch's longest, greedy generate
with max_new_tokens = min_new_tokens = the batch's longest output (EOS can't end it early), and a
timestamp after each step (a stopping criterion that synchronizes and never stops). Writes
OUT/hf-serve.json (with $BENCH_RUN_ID): per batch, its members and the seconds from the generate
call to each step's token and to its return. bench/serve.ts uses it only from its own run, and
only where it is a measurement: every request arriving at once, batches run back to back.

Usage: python3 bench/anchors/hf_serve.py OUT WORKLOAD.json     (WORKLOAD from serve.js --write-workload)
HF_SERVE_MODEL=DIR times an existing HF folder instead (e.g. models/builtin, to check this script on the CPU).
"""
import json, os, runpy, sys, time
import torch
import transformers
from transformers import AutoModelForCausalLM, StoppingCriteria, StoppingCriteriaList

out, workload_path = sys.argv[1], sys.argv[2]
work = json.load(open(workload_path))
requests, batch = work["requests"], work["batch"]
dev = "cuda" if torch.cuda.is_available() else "cpu"
sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

if os.environ.get("HF_SERVE_MODEL"):
    model = AutoModelForCausalLM.from_pretrained(os.environ["HF_SERVE_MODEL"], dtype=torch.bfloat16, attn_implementation="sdpa").to(dev).eval()
else:
    os.environ["HF_DECODE_SKIP_TIMING"] = "1"
    os.environ["HF_DECODE_SKIP_REFERENCE"] = "1"
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_decode.py")
    sys.argv = [script, out]
    model = runpy.run_path(script, run_name="__main__")["model"]
# hf_decode.py builds the model with eager attention; sdpa is HF's faster default, the stronger anchor.
try:
    model.set_attn_implementation("sdpa")
except Exception as e:  # an older transformers: keep what the model has
    print(f"kept {model.config._attn_implementation} attention ({e})", flush=True)
attn = model.config._attn_implementation
vocab = model.config.vocab_size


class StepClock(StoppingCriteria):
    """Called by generate after every new token: records when it is on the device, never stops."""

    def __init__(self):
        self.times = []

    def __call__(self, input_ids, scores, **kwargs):
        sync()
        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def run_batch(members, seed):
    g = torch.Generator().manual_seed(seed)
    lens = [requests[i][0] for i in members]
    new = max(requests[i][1] for i in members)
    width = max(lens)
    ids = torch.zeros(len(members), width, dtype=torch.long)
    mask = torch.zeros(len(members), width, dtype=torch.long)
    for r, n in enumerate(lens):  # left padding: every prompt ends at the last column
        ids[r, width - n:] = torch.randint(0, vocab, (n,), generator=g)
        mask[r, width - n:] = 1
    ids, mask = ids.to(dev), mask.to(dev)
    clock = StepClock()
    with torch.no_grad():
        sync()
        t0 = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                       pad_token_id=0, stopping_criteria=StoppingCriteriaList([clock]))
        sync()
        t1 = time.perf_counter()
    if len(clock.times) != new:
        raise RuntimeError(f"generate ran {len(clock.times)} steps, expected {new}")
    return {"members": members, "steps": [t - t0 for t in clock.times], "total": t1 - t0}


run_batch([0, 1], 0)  # warm-up: kernels, allocator, generate's first-call setup
batches = []
for b, lo in enumerate(range(0, len(requests), batch)):
    res = run_batch(list(range(lo, min(lo + batch, len(requests)))), b + 1)
    batches.append(res)
    useful = sum(requests[i][1] for i in res["members"])
    print(f"HF batch {b}: {len(res['members'])} reqs, padded prompt {max(requests[i][0] for i in res['members'])}, "
          f"{len(res['steps'])} steps in {res['total']:.2f} s (first token {res['steps'][0] * 1e3:.0f} ms), "
          f"{useful / res['total']:.0f} useful tokens/s", flush=True)

card = torch.cuda.get_device_name() if dev == "cuda" else "cpu"
name = f"HF transformers {transformers.__version__} {attn}"
json.dump({"card": card, "runId": os.environ.get("BENCH_RUN_ID"), "name": name, "requests": requests, "batches": batches}, open(os.path.join(out, "hf-serve.json"), "w"))
print(f"{name} on {card} → {os.path.join(out, 'hf-serve.json')}", flush=True)
