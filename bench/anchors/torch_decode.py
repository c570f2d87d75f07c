"""Peers of bench/decode.ts on the same checkpoint, in one process: a compiled PyTorch decode loop
(static KV cache, torch.compile, each step captured in a CUDA graph) and HF transformers eager.

Writes, under OUT (both carry $BENCH_RUN_ID and the card, as bench/results.ts requires):
  torch-decode.json: { card, runId, compiled: bool (false when torch.compile failed and the loop
    ran eager under CUDA graphs), cases: { b1: tok/s, b16: ..., b64: ... } (the faster of the
    compiled and the eager-under-CUDA-graphs loop, both in variants),
    greedy: { tokens: [32 ids], margins: [top-1 minus top-2 logit at each] } }  (batch 1, sequence 0)
    plus ttft: { compiled: ms or null, eager: ms } and cases.ttftMs (the faster of the two): time to
    first token of a 128-token prompt at batch 1, the prefill forward and the argmax of its last
    row read to the host, CUDA-synchronised around each run, median of TTFT_RUNS after TTFT_WARMUP
    (bench/decode.ts times its own the same way).
  hf-decode.json: { card, runId, cases: { b1: tok/s, ... } }  (HF transformers eager)
The prompt of sequence s is token 100 + ((s*7919 + i*104729) % 120000) at position i; bench/decode.ts
runs hf_decode.py's prompts of the same length (the token values do not change the work). Step time: CUDA events around 32 graph replays, median.
Usage: python3 bench/anchors/torch_decode.py CHECKPOINT_DIR OUT [batches=1,16,64]
"""
import json, math, os, sys, time
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

folder, out = sys.argv[1], sys.argv[2]
batches = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else "1,16,64").split(",")]
PROMPT, STEPS, MAXLEN = 128, 32, 192
TTFT_WARMUP, TTFT_RUNS = 3, 7
torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = True

t0 = time.time()
hf = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.bfloat16, attn_implementation="eager").cuda().eval()
cfg = hf.config
print(f"loaded {folder} in {time.time() - t0:.0f}s", flush=True)
H, KVH, D = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads
EPS, THETA = cfg.rms_norm_eps, cfg.rope_theta if hasattr(cfg, "rope_theta") else cfg.rope_parameters["rope_theta"]


def prompt(b):
    return torch.tensor([[100 + ((s * 7919 + i * 104729) % 120000) for i in range(PROMPT)] for s in range(b)], device="cuda")


class StaticLlama(torch.nn.Module):
    """HF Llama's arithmetic (RMSNorm in f32, RoPE tables in f32 cast to bf16) over a static cache."""

    def __init__(self, batch):
        super().__init__()
        self.m = hf.model
        self.lm_head = hf.lm_head
        L = cfg.num_hidden_layers
        self.register_buffer("k", torch.zeros(L, batch, KVH, MAXLEN, D, dtype=torch.bfloat16, device="cuda"))
        self.register_buffer("v", torch.zeros(L, batch, KVH, MAXLEN, D, dtype=torch.bfloat16, device="cuda"))
        inv = 1.0 / (THETA ** (torch.arange(0, D, 2, dtype=torch.int64, device="cuda").float() / D))
        ang = torch.outer(torch.arange(MAXLEN, device="cuda").float(), inv)
        emb = torch.cat((ang, ang), -1)
        self.register_buffer("cos", emb.cos().to(torch.bfloat16))
        self.register_buffer("sin", emb.sin().to(torch.bfloat16))

    @staticmethod
    def norm(x, w):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + EPS)
        return w * h.to(x.dtype)

    @staticmethod
    def rot(x):
        a, b = x.chunk(2, dim=-1)
        return torch.cat((-b, a), -1)

    def forward(self, tokens, pos):
        # tokens [B, T]; pos [T] absolute positions; writes the cache at pos, attends over [0, MAXLEN) masked
        B, T = tokens.shape
        x = self.m.embed_tokens(tokens)
        cos, sin = self.cos[pos][None, None], self.sin[pos][None, None]
        keys = torch.arange(MAXLEN, device=tokens.device)
        mask = torch.where(keys[None, :] <= pos[:, None], 0.0, float("-inf")).to(torch.bfloat16)
        for l, layer in enumerate(self.m.layers):
            a = layer.self_attn
            h = self.norm(x, layer.input_layernorm.weight)
            q = a.q_proj(h).view(B, T, H, D).transpose(1, 2)
            k = a.k_proj(h).view(B, T, KVH, D).transpose(1, 2)
            v = a.v_proj(h).view(B, T, KVH, D).transpose(1, 2)
            q = q * cos + self.rot(q) * sin
            k = k * cos + self.rot(k) * sin
            self.k[l].index_copy_(2, pos, k)
            self.v[l].index_copy_(2, pos, v)
            # grouped attention as two batched matmuls over the static cache (the query heads of a KV
            # head share its keys): no GQA expansion of K/V, no masked-SDPA fallback
            qg = q.reshape(B, KVH, H // KVH * T, D)
            s = torch.matmul(qg, self.k[l].transpose(-1, -2)).float() * D ** -0.5
            s = s.view(B, KVH, H // KVH, T, MAXLEN) + mask.float()
            p = torch.softmax(s, -1).to(q.dtype).view(B, KVH, H // KVH * T, MAXLEN)
            o = torch.matmul(p, self.v[l]).view(B, H, T, D)
            x = x + a.o_proj(o.transpose(1, 2).reshape(B, T, H * D))
            h = self.norm(x, layer.post_attention_layernorm.weight)
            mlp = layer.mlp
            x = x + mlp.down_proj(F.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
        x = self.norm(x[:, -1], self.m.norm.weight)
        return self.lm_head(x).float()


compiled_ok = True


def compiled_rate(b, use_compile=True):
    """tok/s of the loop at batch b (torch.compile'd or eager, each step a CUDA graph), and the greedy ids (and top-2 margins) of sequence 0."""
    global compiled_ok
    net = StaticLlama(b)
    with torch.no_grad():
        logits = net(prompt(b), torch.arange(PROMPT, device="cuda"))
        tok = torch.empty(b, 1, dtype=torch.long, device="cuda")
        pos = torch.empty(1, dtype=torch.long, device="cuda")
        tok.copy_(logits.argmax(-1, keepdim=True))
        pos.fill_(PROMPT)
        step = net
        if compiled_ok and use_compile:
            try:
                step = torch.compile(net, fullgraph=True)
                step(tok, pos)  # compile now (writes position PROMPT: rewritten below)
            except Exception as e:  # noqa: BLE001
                print(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); eager steps under CUDA graphs", flush=True)
                compiled_ok, step = False, net
        out = torch.empty(b, dtype=torch.long, device="cuda")
        top2 = torch.empty(b, 2, device="cuda")
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                lg = step(tok, pos)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            lg = step(tok, pos)
            top2.copy_(lg.topk(2, dim=-1).values)
            out.copy_(lg.argmax(-1))
            tok.copy_(out[:, None])
            pos.add_(1)
        # the warm-up wrote positions PROMPT..: restart the decode at PROMPT from the prompt's logits
        tok.copy_(logits.argmax(-1, keepdim=True))
        pos.fill_(PROMPT)
        first2 = logits[0].topk(2).values
        ids, margins = [int(tok[0, 0])], [float(first2[0] - first2[1])]
        times = []
        for _ in range(STEPS):
            a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            g.replay()
            e.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(e))
            ids.append(int(out[0]))
            margins.append(float(top2[0, 0] - top2[0, 1]))
    times.sort()
    del g, net
    torch.cuda.empty_cache()
    return b / (times[len(times) // 2] / 1e3), ids[:STEPS], margins[:STEPS]


def ttft_ms(use_compile):
    """Median ms from the prefill call of a PROMPT-token prompt at batch 1 to its greedy first token on the host."""
    net = StaticLlama(1)
    step = torch.compile(net, fullgraph=True, dynamic=False) if use_compile else net
    tokens, pos = prompt(1), torch.arange(PROMPT, device="cuda")
    times = []
    with torch.no_grad():
        for r in range(TTFT_WARMUP + TTFT_RUNS):  # the first compiled call compiles: a warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            first = int(step(tokens, pos).argmax(-1)[0])  # .item() waits for the GPU
            ms = (time.perf_counter() - t0) * 1e3
            if r >= TTFT_WARMUP:
                times.append(ms)
    del step, net
    torch.cuda.empty_cache()
    times.sort()
    return times[len(times) // 2], first


def eager_rate(b):
    with torch.no_grad():
        o = hf(input_ids=prompt(b), use_cache=True)
        nxt = o.logits[:, -1].argmax(-1, keepdim=True)
        past = o.past_key_values
        times = []
        for _ in range(STEPS):
            a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            o = hf(input_ids=nxt, past_key_values=past, use_cache=True)
            nxt = o.logits[:, -1].argmax(-1, keepdim=True)
            e.record()
            torch.cuda.synchronize()
            past = o.past_key_values
            times.append(a.elapsed_time(e))
    times.sort()
    return b / (times[len(times) // 2] / 1e3)


run_id = os.environ.get("BENCH_RUN_ID")
card = torch.cuda.get_device_name()
result = {"card": card, "runId": run_id, "torch": torch.__version__, "cases": {}, "greedy": None}
eager = {"card": card, "runId": run_id, "cases": {}}
result["variants"] = {}
for b in batches:
    # the peer is the faster of the two ways to run the same loop: compiled, or eager under CUDA graphs
    t = time.time()
    graphed, ids, margins = compiled_rate(b, use_compile=False)
    # TORCH_COMPILE_BATCHES limits compiling (about a minute a batch size) to the batches where it wins
    rate = float("nan")
    if str(b) in os.environ.get("TORCH_COMPILE_BATCHES", str(b)).split(","):
        rate, ids, margins = compiled_rate(b)
    # JSON has no NaN: a variant not run is null
    result["variants"][f"b{b}"] = {"compiled": rate if rate == rate else None, "eager_graphed": graphed}
    result["cases"][f"b{b}"] = graphed if rate != rate else max(rate, graphed)
    if b == 1:
        result["greedy"] = {"tokens": ids, "margins": margins}
    print(f"batch {b}: compiled={compiled_ok} {rate:.1f} tok/s, eager under CUDA graphs {graphed:.1f} tok/s ({time.time() - t:.0f}s incl. compile)", flush=True)
result["compiled"] = compiled_ok
eager_ttft, eager_first = ttft_ms(False)
compiled_ttft = None
if compiled_ok:
    try:
        compiled_ttft, compiled_first = ttft_ms(True)
        if compiled_first != eager_first:
            print(f"prefill first token differs: compiled {compiled_first}, eager {eager_first} (bf16 near-tie?)", flush=True)
    except Exception as e:  # noqa: BLE001
        print(f"torch.compile of the prefill failed ({type(e).__name__}: {str(e)[:200]}); eager TTFT only", flush=True)
result["ttft"] = {"compiled": compiled_ttft, "eager": eager_ttft, "prompt": PROMPT}
result["cases"]["ttftMs"] = eager_ttft if compiled_ttft is None else min(eager_ttft, compiled_ttft)
print(f"time to first token, prompt {PROMPT}: compiled {compiled_ttft} ms, eager {eager_ttft:.2f} ms", flush=True)
json.dump(result, open(os.path.join(out, "torch-decode.json"), "w"))
for b in batches:
    eager["cases"][f"b{b}"] = eager_rate(b)
    print(f"HF eager batch {b}: {eager['cases'][f'b{b}']:.1f} tok/s", flush=True)
json.dump(eager, open(os.path.join(out, "hf-decode.json"), "w"))
