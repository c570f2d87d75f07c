"""transformers' own continuous batching on bench/serve.ts's workload: the serving benchmark's peer.

Runs the workload (request lengths and, per rate, the arrival times that serve.js --write-workload
wrote: the schedule our engine sees) through transformers' ContinuousBatchingManager: paged KV
cache ("paged|sdpa"), CUDA graphs, bf16, greedy, EOS ignored (max_new_tokens = the request's
output length). Each request is added at its arrival time from this thread; token times are the
manager's own per-token timestamps (record_timestamps) or, where this transformers lacks them,
the times streamed chunks reach this process. Writes OUT with $BENCH_RUN_ID:
  {"card", "runId", "name", "requests", "rates": {"inf" | "<rate>": [{"arrival", "tokens": [s...]}]},
   "skipped": {"<rate>": reason}}
seconds from the rate's start, rewritten after every rate. bench/serve.ts --peer OUT uses it only from its own run and card.

Usage: python3 bench/anchors/hf_serve_cb.py MODEL_DIR WORKLOAD.json OUT.json [--rates inf,8]
"""
import argparse
import inspect
import json
import os
import threading
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, GenerationConfig

try:
    from transformers.generation import ContinuousBatchingConfig
except ImportError:  # older layouts
    ContinuousBatchingConfig = None

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("workload")
ap.add_argument("out")
ap.add_argument("--rates", default=None, help="comma-separated keys of the workload's arrivals (default: all)")
ap.add_argument("--budget-s", type=float, default=240.0, help="skip a rate whose arrivals would end past this")
args = ap.parse_args()

work = json.load(open(args.workload))
requests = work["requests"]
rates = args.rates.split(",") if args.rates else list(work["arrivals"].keys())
t_start = time.perf_counter()

model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, attn_implementation="paged|sdpa")
model = model.to("cuda").eval()
vocab = model.config.vocab_size
gen = GenerationConfig(max_new_tokens=max(o for _, o in requests), eos_token_id=-1, do_sample=False)
cb = None
if ContinuousBatchingConfig is not None:
    cb_fields = inspect.signature(ContinuousBatchingConfig).parameters
    cb_kwargs = {k: v for k, v in {"use_cuda_graph": True, "max_batch_tokens": 512}.items() if k in cb_fields}
    cb = ContinuousBatchingConfig(**cb_kwargs)
add_params = None


def manager_for():
    kwargs = {"generation_config": gen}
    if cb is not None:
        kwargs["continuous_batching_config"] = cb
    return model.init_continuous_batching(**kwargs)


def run_rate(key, seed):
    """Adds each request at its arrival; returns traces in seconds from the start, or None when cut short."""
    global add_params
    arrive = work["arrivals"][key]
    g = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(0, vocab, (p,), generator=g).tolist() for p, _ in requests]
    manager = manager_for()
    manager.start()
    if add_params is None:
        add_params = inspect.signature(manager.add_request).parameters
    stamped = "record_timestamps" in add_params
    done = {}
    streamed = {i: [] for i in range(len(requests))}
    t0 = time.perf_counter()

    def collect():
        while len(done) < len(requests):
            r = manager.get_result(timeout=1.0)
            if r is None:
                continue
            i = int(r.request_id.split("-")[1])
            if stamped:
                if r.is_finished():
                    done[i] = r
            else:
                # streaming: each chunk carries the tokens so far; a new length is a new token now
                while len(streamed[i]) < len(r.generated_tokens):
                    streamed[i].append(time.perf_counter())
                if r.is_finished():
                    done[i] = r

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    for i, (at, (_, out)) in enumerate(zip(arrive, requests)):
        wait = t0 + at - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        extra = {"record_timestamps": True} if stamped else {"streaming": True}
        manager.add_request(input_ids=prompts[i], request_id=f"req-{i}", max_new_tokens=out, **extra)
    reader.join(timeout=max(30.0, args.budget_s - (time.perf_counter() - t_start)))
    manager.stop(hard_stop=len(done) < len(requests))
    if len(done) < len(requests):
        print(f"{key}: only {len(done)}/{len(requests)} requests finished in time", flush=True)
        return None
    traces = []
    for i, at in enumerate(arrive):
        r = done[i]
        times = r.timestamps if stamped else streamed[i]
        traces.append({"arrival": at, "tokens": [t - t0 for t in times]})
    n_tok = sum(len(t["tokens"]) for t in traces)
    end = max(t["tokens"][-1] for t in traces if t["tokens"])
    print(f"{key}: {n_tok} tokens in {end:.1f} s = {n_tok / end:.0f} tok/s ({'timestamps' if stamped else 'streamed'})", flush=True)
    return traces


# one warm-up pass (CUDA graphs captured, kernels loaded) on the all-at-once schedule, not kept
first = rates[0]
run_rate(first, 1)
result = {}
skipped = {}
name = f"transformers {transformers.__version__} continuous batching (paged|sdpa, CUDA graphs{', ' + str(cb_kwargs) if cb else ''})"


def write():
    # after every rate, so a run stopped by its time bound keeps the rates it finished
    doc = {
        "card": torch.cuda.get_device_name(0),
        "runId": os.environ.get("BENCH_RUN_ID"),
        "name": name,
        "requests": requests,
        "rates": result,
        "skipped": skipped,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f)


for key in rates:
    span = max(work["arrivals"][key])
    elapsed = time.perf_counter() - t_start
    if elapsed + span > args.budget_s:
        skipped[key] = f"its arrivals alone ({span:.0f} s) would pass --budget-s {args.budget_s:.0f} at {elapsed:.0f} s"
        print(f"{key}: skipped ({skipped[key]})", flush=True)
        continue
    traces = run_rate(key, 2)
    if traces is not None:
        result[key] = traces
    else:
        skipped[key] = "not every request finished within --budget-s"
    write()

write()
print(f"wrote {args.out}: rates {list(result)} in {time.perf_counter() - t_start:.0f} s", flush=True)
