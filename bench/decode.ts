/**
 * Decode speed on a Llama-3-8B-shaped random checkpoint (bf16) at batch 1, 16 and 64, with the
 * GPU-resident loop the engine runs (`submitDecode`: drawn ids stay on the device, three steps in
 * flight), against peers measured in the same run on the same checkpoint: a compiled PyTorch loop
 * (`bench/anchors/torch_decode.py`: static KV cache, torch.compile, CUDA graphs), HF transformers
 * eager, and llama.cpp's Vulkan build on the same weights as GGUF (`bench/peers/llama-cpp-decode`)
 * when its file is there. The limit is the bandwidth roofline: weight bytes ÷ measured copy
 * bandwidth. The host-driven loop (one `forward` at a time, logits read back) is timed in the same
 * run as the previous design's row.
 *
 * The answer is checked against PyTorch: every step is fed the reference's token (teacher
 * forcing, so one near-tie does not end the comparison), and at every step our logits on the
 * reference's top 8 ids must be within LOGIT_TOL of max|logit| of its float32 logits, and our
 * greedy pick must be its pick, or a near-tie no wider than twice our measured error there (the
 * most two tokens can swap by). Otherwise the bench fails and writes nothing.
 *
 * The resident loop is checked too: its free-running greedy tokens equal the reference's up to
 * the first step where they differ, which must be a near-tie of the reference; at batch 64 (the
 * batch-16 prompts four times over) each sequence is held to its twin's reference.
 *
 * Time to first token: the batch-1 prompt's prefill and the device draw of its first token, host
 * clock until the id is on the host (the engine's path for a plainly sampled request), median of
 * TTFT_RUNS after TTFT_WARMUP; every timed run must draw the verified first token. The peer is
 * PyTorch's prefill of a prompt of the same length (torch_decode.py, `cases.ttftMs`: the faster
 * of compiled and eager, CUDA-synchronised, median); the target is ours ≤ 1.5× it.
 *
 * `--kv-cache int8|int4` runs the same bench with the quantized KV cache (src/attention/kv-quant.ts):
 * the rows are named `kv:int8`/`kv:int4` and written as decode-llama3-8b-kv8/-kv4, and the logit
 * bound widens by what the cache's rounding adds (KV_LOGIT_TOL). At this bench's 128-token prompts
 * the KV bytes are a small part of a step's traffic, so these rows check that the quantized cache
 * serves the model end to end at full speed; bench/kv-quant-attention.ts measures what it saves.
 *
 * With `--nano-batches N` the host-driven loop runs each step as N nano-batches (src/engine/nano-batch.ts's
 * split, one forward each; docs/nanoflow.md), checked against the reference like the plain loop.
 *
 * Usage: BENCH_RUN_ID=<id> node dist/bench/decode.js DIR [--profile] [--kv-cache int8|int4] [--nano-batches N|off]
 *   (DIR holds llama3-8b-random/ and hf-decode-tokens.json from the same run, and the peers'
 *   torch-decode.json, hf-decode.json and llama-cpp-decode.json where they ran)
 */
import '../src/register-all.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { measureCopyBandwidth } from '../src/backends/webgpu/measure.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { resolveNanoBatches, splitNanoBatches } from '../src/engine/nano-batch.js';
import { type BenchRow, anchorOf, cardName, median, readAnchors, row, runId, writeResults } from './results.js';
import { Check, type ReferenceStep, argmax, fail } from './verify.js';
import { checkResident, pagesOf as pagesOfSeq, prefill, residentLoop, teacherForced } from './decode-loop.js';
import { parseKvCache } from '../src/cli/kv-cache-flag.js';

/**
 * Our logits (f16 activations and KV, bf16 weights) against PyTorch's float32 ones, as a fraction
 * of max|logit|: about 4× the 5.5e-3–6.9e-3 the parity bench measures with f32 activations, for
 * the f16 rounding of every stored activation; a wrong op moves logits by O(1).
 */
const kvFlag = process.argv.indexOf('--kv-cache');
const KV_CACHE = (kvFlag < 0 ? undefined : parseKvCache(process.argv[kvFlag + 1] ?? '')) ?? 'f16';
/**
 * The bound with a quantized cache: the built-in model's logits moved by 0.8 % (int8) and 10 %
 * (int4) of max|logit| when its f16 cache was swapped for these (test/models/kv-cache-quant.test.ts);
 * not yet measured at this shape, so these bounds are that plus the f16 budget.
 */
const KV_LOGIT_TOL = { f16: 3e-2, int8: 4e-2, int4: 1.5e-1 } as const;
const LOGIT_TOL = KV_LOGIT_TOL[KV_CACHE];
const BENCH = KV_CACHE === 'f16' ? 'decode-llama3-8b' : `decode-llama3-8b-kv${KV_CACHE === 'int8' ? 8 : 4}`;
const KV_TAG = KV_CACHE === 'f16' ? '' : ` kv:${KV_CACHE}`;
const TTFT_WARMUP = 2;
const TTFT_RUNS = 7;

interface TokenReference {
  runId: string | null;
  prompt: number;
  steps: number;
  reference: string;
  batches: Record<string, { prompts: number[][]; steps: ReferenceStep[][] }>;
}

const dir = process.argv[2] ?? '.';
const nanoAt = process.argv.indexOf('--nano-batches');
const NANO = resolveNanoBatches(
  nanoAt < 0 || process.argv[nanoAt + 1] === 'off' ? 'off' : Number(process.argv[nanoAt + 1]),
) as number;
const refPath = join(dir, 'hf-decode-tokens.json');
if (!existsSync(refPath))
  fail(`decode-llama3-8b: no reference tokens at ${refPath} (run bench/anchors/hf_decode.py ${dir} in this run)`);
const ref = JSON.parse(readFileSync(refPath, 'utf8')) as TokenReference;
if (!runId() || ref.runId !== runId())
  fail(
    `decode-llama3-8b: ${refPath} comes from run ${ref.runId ?? 'unknown'}, this is run ${runId() ?? 'unset (BENCH_RUN_ID)'}: the tokens may describe another checkpoint`,
  );

// A/B knobs of the recorded loop: DECODE_RECORDED_UNIFORMS=static (plain uniform bindings in recorded
// streams), DECODE_IDLE_BYTES=0 (no free list: every freed buffer destroyed)
const backend = await WebGpuBackend.create({
  ...(process.env.DECODE_RECORDED_UNIFORMS === 'static' ? { recordedUniforms: 'static' as const } : {}),
  ...(process.env.DECODE_IDLE_BYTES ? { idleBytes: Number(process.env.DECODE_IDLE_BYTES) } : {}),
});
const card = cardName(backend);
const check = new Check(BENCH);
const copyGBs = await measureCopyBandwidth(backend, 1 << 30);
const peers = [
  {
    key: 'torch',
    name: 'PyTorch compiled (static cache, CUDA graphs)',
    anchors: readAnchors(join(dir, 'torch-decode.json'), card),
  },
  { key: 'hf', name: 'HF transformers eager', anchors: readAnchors(join(dir, 'hf-decode.json'), card) },
  {
    key: 'llamacpp',
    name: 'llama.cpp Vulkan (node-llama-cpp, F16 GGUF)',
    anchors: readAnchors(join(dir, 'llama-cpp-decode.json'), card),
  },
];
const m = await openLlamaModel(join(dir, 'llama3-8b-random'));
let weightBytes = 0;
for (const t of m.weights.tensors.values()) weightBytes += t.byteLength;
const t0 = performance.now();
// DECODE_ATTN_GRID: attention CTAs (A/B runs against the library default)
const attentionGrid = process.env.DECODE_ATTN_GRID ? Number(process.env.DECODE_ATTN_GRID) : undefined;
const PAGES_PER_SEQ = 12;
// DECODE_BATCHES: a subset of the batch sizes (A/B runs of one batch size against another build)
const BATCHES = process.env.DECODE_BATCHES ? process.env.DECODE_BATCHES.split(',').map(Number) : [1, 16, 64];
if (BATCHES.some((b) => ![1, 16, 64].includes(b)))
  throw new Error(`DECODE_BATCHES takes 1, 16 and 64, got ${process.env.DECODE_BATCHES}`);
const runner = await LlamaRunner.load(m, {
  backend,
  actDtype: 'f16',
  maxTokens: 1024,
  maxSeqs: 64,
  numPages: 64 * PAGES_PER_SEQ,
  pageSize: 16,
  attentionGrid,
  kvCache: KV_CACHE,
});
await m.weights.close();
const loadS = (performance.now() - t0) / 1e3;
console.log(
  `loaded ${(weightBytes / 1e9).toFixed(2)} GB in ${loadS.toFixed(1)} s (${(weightBytes / 1e9 / loadS).toFixed(2)} GB/s); copy bandwidth ${copyGBs.toFixed(0)} GB/s`,
);
const V = runner.vocabSize;
const rows: BenchRow[] = [];
const notes: string[] = [];

/** One host-driven step: one forward, or with --nano-batches one forward per nano-batch, rows in order. */
async function hostStep(seqs: Parameters<typeof runner.forward>[0]['seqs']): Promise<Float32Array<ArrayBufferLike>> {
  if (NANO === 1) return runner.forward({ seqs });
  const out = new Float32Array(seqs.length * V);
  let row = 0;
  for (const part of splitNanoBatches(
    seqs.map((s) => ({ s, count: 1 })),
    NANO,
  )) {
    out.set(await runner.forward({ seqs: part.map((p) => p.s) }), row * V);
    row += part.length;
  }
  return out;
}

/** Per verified batch: each sequence's prompt, its reference tokens and our teacher-forced picks. */
const verified = new Map<number, { prompts: number[][]; refTokens: number[][]; picks: number[][] }>();
const hostLoop = new Map<number, number>();
/** Our worst logit error (÷ max|logit|) over each verified batch: twice it bounds a near-tie swap. */
const worstErrOf = new Map<number, number>();

for (const batch of [1, 16]) {
  const br = ref.batches[String(batch)];
  if (!br || br.prompts.length !== batch || br.steps.some((s) => s.length !== ref.steps))
    fail(`decode-llama3-8b: ${refPath} has no batch ${batch} of ${ref.steps} steps`);
  const tf = await teacherForced(runner, {
    check,
    tag: `b${batch}`,
    prompts: br.prompts,
    steps: br.steps,
    tol: LOGIT_TOL,
    pagesPerSeq: PAGES_PER_SEQ,
    hostStep,
  });
  const picks = tf.picks;
  notes.push(tf.note);
  worstErrOf.set(batch, tf.worstErr);
  hostLoop.set(batch, tf.hostTps);
  verified.set(batch, { prompts: br.prompts, refTokens: br.steps.map((st) => st.map((x) => x.token)), picks });
  console.log(
    `batch ${batch}, host loop: ${hostLoop.get(batch)!.toFixed(1)} tokens/s (replays ${runner.stats.replays})`,
  );
}

/** Median ms from the prompt's prefill call to its first token on the host, and every drawn first token. */
async function timeToFirstToken(prompt: readonly number[]): Promise<{ ms: number; ids: number[] }> {
  const greedy = [{ row: 0, temperature: 0, topK: 0, topP: 1, minP: 0, seed: 0, stream: 0, step: 0 }];
  const times: number[] = [];
  const ids: number[] = [];
  for (let r = 0; r < TTFT_WARMUP + TTFT_RUNS; r++) {
    const t0 = performance.now();
    const logits = await runner.forward(
      { seqs: [{ tokens: [...prompt], start: 0, pages: pagesOf(0) }] },
      { readLogits: runner.sampleOnDevice === undefined },
    );
    const id = runner.sampleOnDevice ? (await runner.sampleOnDevice(greedy))[0]! : argmax(logits, 0, V);
    const ms = performance.now() - t0;
    ids.push(id);
    if (r >= TTFT_WARMUP) times.push(ms);
  }
  return { ms: median(times), ids };
}

const pagesOf = (s: number) => pagesOfSeq(s, PAGES_PER_SEQ);

const ttft = await timeToFirstToken(verified.get(1)!.prompts[0]!);
const firstPick = verified.get(1)!.picks[0]![0]!;
check.that(
  ttft.ids.every((id) => id === firstPick),
  `b1 time to first token: each of the ${ttft.ids.length} timed prefills draws the verified first token`,
  `drew ${[...new Set(ttft.ids)].join(', ')}, verified ${firstPick}`,
);
const torchTtft = anchorOf(peers[0]!.anchors, 'ttftMs');
console.log(
  `time to first token, prompt ${ref.prompt}: ${ttft.ms.toFixed(2)} ms` +
    (torchTtft.value === null
      ? ` (PyTorch: ${torchTtft.why})`
      : `; PyTorch ${torchTtft.value.toFixed(2)} ms, ours ${(ttft.ms / torchTtft.value).toFixed(2)}× it (target ≤ 1.5×)`),
);
rows.push(
  row({
    case: `llama3-8b bf16${KV_TAG} time to first token b1 (prompt ${ref.prompt})`,
    metric: 'ttftMs',
    higherIsBetter: false,
    ours: ttft.ms,
    anchor: torchTtft.value,
    anchorName: torchTtft.value === null ? null : 'PyTorch prefill (faster of compiled and eager), same prompt length',
    limit: (weightBytes / (copyGBs * 1e9)) * 1000,
    limitName: 'one read of the weights (weights ÷ copy bandwidth)',
    anchorWhyNull: torchTtft.why === null ? null : `PyTorch prefill: ${torchTtft.why}`,
  }),
);

const STEPS = ref.steps - 1;
const b16 = verified.get(16)!.prompts;
for (const batch of BATCHES) {
  const prompts =
    batch === 1 ? verified.get(1)!.prompts : batch === 16 ? b16 : Array.from({ length: batch }, (_, s) => b16[s % 16]!);
  const first = await prefill(runner, prompts, PAGES_PER_SEQ);
  await residentLoop(runner, prompts, first, 8, PAGES_PER_SEQ); // records the stream and its sampler, warms the clocks
  const run = await residentLoop(runner, prompts, first, STEPS, PAGES_PER_SEQ);
  // batch 64 runs the batch-16 prompts four times over: each sequence is held to its twin's reference
  const refSteps = ref.batches[String(batch === 1 ? 1 : 16)]!.steps;
  const bound = Math.min(2 * Math.max(worstErrOf.get(1)!, worstErrOf.get(16)!), LOGIT_TOL);
  checkResident(check, `b${batch}`, run.tokens, (i) => refSteps[batch === 1 ? 0 : i % 16]!, bound);
  const gpuMs = await runner.timeDecodeReplay(batch, 20);
  const tps = (batch * 1000) / run.stepMs;
  const roofline = (batch * copyGBs * 1e9) / weightBytes;
  const busy = Math.min(1, gpuMs / run.stepMs);
  console.log(
    `batch ${batch}, resident loop: ${run.stepMs.toFixed(2)} ms/step, ${tps.toFixed(1)} tokens/s, ${((100 * tps) / roofline).toFixed(0)}% of roofline; GPU ${gpuMs.toFixed(2)} ms/step (busy ${(100 * busy).toFixed(0)}%), host ${run.hostMs.toFixed(2)} ms per submit`,
  );
  const c = `llama3-8b bf16${KV_TAG} decode b${batch} (prompt ${ref.prompt})`;
  for (const p of peers) {
    const a = anchorOf(p.anchors, `b${batch}`);
    rows.push(
      row({
        case: c,
        metric: 'tokens/s',
        higherIsBetter: true,
        ours: tps,
        anchor: a.value,
        anchorName: a.value === null ? null : p.name,
        limit: roofline,
        limitName: 'weights ÷ copy bandwidth',
        anchorWhyNull: a.why === null ? null : `${p.name}: ${a.why}`,
      }),
    );
  }
  rows.push(
    row({
      case: c,
      metric: 'ms/step',
      higherIsBetter: false,
      ours: run.stepMs,
      anchor: null,
      anchorName: null,
      limit: (batch * 1000) / roofline,
      limitName: 'weights ÷ copy bandwidth',
      anchorWhyNull: 'the peers report tokens/s (rows above)',
    }),
  );
  rows.push(
    row({
      case: c,
      metric: 'GPU-busy fraction',
      higherIsBetter: true,
      ours: busy,
      anchor: null,
      anchorName: null,
      limit: 1,
      limitName: 'GPU never idle',
      anchorWhyNull: 'a property of our loop: GPU time of a replayed step ÷ wall time per step',
    }),
  );
  const host = hostLoop.get(batch);
  if (host !== undefined)
    rows.push(
      row({
        case: c,
        metric: 'tokens/s',
        higherIsBetter: true,
        ours: tps,
        anchor: host,
        anchorName: `our host-driven loop (one forward at a time${NANO > 1 ? `, ${NANO} nano-batches a step` : ''}, logits read back), same run`,
        limit: roofline,
        limitName: 'weights ÷ copy bandwidth',
        anchorWhyNull: null,
      }),
    );
}

/** Host time of one forward: until its call returns (plan, encode, submit) and until the GPU is done. */
async function hostPhases(seqs: Parameters<typeof runner.forward>[0]['seqs']): Promise<string> {
  const t0 = performance.now();
  const pending = runner.forward({ seqs }, { readLogits: false, record: false });
  const t1 = performance.now();
  await pending;
  await backend.flush();
  const t2 = performance.now();
  return `host: ${(t1 - t0).toFixed(2)} ms until forward() returns (plan, encode, submit), ${(t2 - t0).toFixed(2)} ms until the GPU is done`;
}

if (process.argv.includes('--profile')) {
  // one step run dispatch by dispatch with timestamps: where the GPU time goes, by kernel; and the
  // host's share, for decode at b1/b16/b64 and for the 128-token prefill behind the time to first token
  const prefillPrompt = verified.get(1)!.prompts[0]!;
  for (const batch of [1, 16, 64, 0]) {
    const prompts = Array.from({ length: Math.max(batch, 1) }, (_, s) => b16[s % 16]!);
    if (batch > 0) await prefill(runner, prompts, PAGES_PER_SEQ);
    const seqs =
      batch > 0
        ? prompts.map((p, i) => ({ tokens: [1000], start: p.length, pages: pagesOf(i) }))
        : [{ tokens: [...prefillPrompt], start: 0, pages: pagesOf(0) }];
    await runner.forward({ seqs }, { readLogits: false, record: false });
    const host = await hostPhases(seqs);
    if (!backend.startProfiling()) break;
    await runner.forward({ seqs }, { readLogits: false, record: false });
    const entries = await backend.stopProfiling();
    const by = new Map<string, { ms: number; n: number }>();
    for (const e of entries) {
      const k = e.label.replace(/\d+/g, '#');
      const x = by.get(k) ?? { ms: 0, n: 0 };
      x.ms += e.ms;
      x.n++;
      by.set(k, x);
    }
    const total = [...by.values()].reduce((a, x) => a + x.ms, 0);
    console.log(
      `\nprofile ${batch > 0 ? `decode b${batch}` : `prefill of ${prefillPrompt.length} tokens`}: ${entries.length} dispatches, ${total.toFixed(2)} ms of kernel time (timestamps quantised; per-pass overhead included); ${host}`,
    );
    for (const [k, x] of [...by].sort((a, b) => b[1].ms - a[1].ms))
      console.log(
        `  ${k.padEnd(48)} ${String(x.n).padStart(5)}×  ${x.ms.toFixed(3)} ms  ${((100 * x.ms) / total).toFixed(1)}%`,
      );
  }
}

writeResults(
  BENCH,
  card,
  rows,
  `Random bf16 weights (${(weightBytes / 1e9).toFixed(2)} GB, loaded at ${(weightBytes / 1e9 / loadS).toFixed(2)} GB/s), f16 activations, ${KV_CACHE} KV cache (logit bound ${LOGIT_TOL} of max|logit|). Ours: the GPU-resident loop (greedy on the device, 3 steps in flight), wall time over ${STEPS} steps after 8 warm-up steps; GPU-busy = GPU time of 20 replays of the step ÷ wall time per step. Host loop: host clock around forward() incl. plan and logits readback, each step fed the reference's token. Copy bandwidth ${copyGBs.toFixed(0)} GB/s measured in this run. Time to first token (prompt ${ref.prompt}, batch 1): prefill forward + device draw of the first token, host clock until the id is read back, median of ${TTFT_RUNS} after ${TTFT_WARMUP} warm-up runs. Reference: ${ref.reference}. ${notes.join('; ')}`,
  check.passed(),
);
runner.destroy();
backend.destroy();
