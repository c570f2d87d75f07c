/**
 * CPU backend speed at batch 1 (decode tokens/s and a prompt's prefill) on the built-in model and
 * on a random model of Llama-3.2-1B's shape (fewer layers by default, for a small machine), beside
 * llama.cpp's CPU build (node-llama-cpp) on the same weights written as BF16 GGUF by our writer,
 * both measured in this run on this machine. Prompt ids follow the llama.cpp peer's formula
 * (bench/peers/llama-cpp-decode.ts), so both see the same prompt.
 *
 * Checked before any number is kept: the built-in model's greedy continuations of the reference
 * prompts equal the float64 oracle's (models/builtin/reference.json), and the 1B shape's GEMVs
 * (each weight matrix of a layer, and a slice of the LM head) agree with the float64 matmul
 * reference within f32 accumulation error.
 *
 * Usage: npm run build && node dist/bench/cpu-decode.js [--models builtin,1b] [--layers-1b 4]
 *   [--steps 64] [--prompt 128] [--rounds 5] [--no-peer]
 *   The peer runs when LLAMA_CPP_MODULE names a node-llama-cpp package folder or
 *   .peers/build/node_modules/node-llama-cpp exists (scripts/pack-llama-cpp.sh installs it).
 *   Both sides run at 1 thread and at TESSERA_THREADS (default: every core).
 */
import '../src/register-all.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuBackend } from '../src/backends/cpu/cpu-backend.js';
import { cpuRuntime, cpuThreads } from '../src/backends/cpu/cpu-runtime.js';
import { randomInput } from '../src/ops/test-data.js';
import { matmulTransBAgainstReference } from '../src/testing/matmul-check.js';
import { Rng } from '../src/util/rng.js';
import { builtinModelPath } from '../src/models/load-model.js';
import { writeLlamaGguf } from '../src/models/llama/gguf-from-hf.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { writeRandomLlamaCheckpoint } from '../src/models/llama/random-checkpoint.js';
import { type BenchRow, median, row, writeResults } from './results.js';
import { Check, argmax } from './verify.js';

const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const MODELS = option('models', 'builtin,1b').split(',');
const STEPS = Number(option('steps', '64'));
const PROMPT = Number(option('prompt', '128'));
const ROUNDS = Number(option('rounds', '5'));
const LAYERS_1B = Number(option('layers-1b', '4'));
const threads = cpuThreads();
const check = new Check('cpu-decode');
const tmp = mkdtempSync(join(tmpdir(), 'cpu-decode-'));
const counts = [...new Set([1, threads])];
const pool = cpuRuntime().pool;
const moduleDir = process.env.LLAMA_CPP_MODULE ?? join(process.cwd(), '.peers/build/node_modules/node-llama-cpp');
const peerWhy = process.argv.includes('--no-peer')
  ? 'not run (--no-peer)'
  : existsSync(moduleDir)
    ? null
    : `node-llama-cpp not installed (${moduleDir}; run scripts/pack-llama-cpp.sh)`;

/** Llama-3.2-1B's shape (tied embeddings, 128K vocabulary), with `layers` of its 16 layers. */
function llama1bConfig(layers: number): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 2048,
    intermediate_size: 8192,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    num_hidden_layers: layers,
    vocab_size: 128256,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: true,
    bos_token_id: 0,
    eos_token_id: 1,
    hidden_act: 'silu',
  };
}

/** The 1B shape's GEMVs against the float64 matmul reference: relative error of f32 accumulation. */
async function checkGemvs(backend: CpuBackend, shapes: readonly [number, number, string][]): Promise<void> {
  const rng = new Rng(20261207);
  for (const [N, K, what] of shapes) {
    const x = randomInput(rng, 'f32', [1, K]);
    const w = randomInput(rng, 'bf16', [N, K], 1 / Math.sqrt(K));
    const { got, want } = await matmulTransBAgainstReference(backend, x, w);
    let worst = 0;
    for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    // outputs are ~N(0, 1); f32 sums of K ≤ 8192 terms err by ~1e-6, a dropped term by ~1e-2
    check.that(
      worst < 1e-4,
      `1B-shape GEMV ${what} [${N}, ${K}] matches the float64 reference`,
      `max error ${worst.toExponential(2)}`,
    );
  }
}

interface Timing {
  decodeMs: number;
  prefillMs: number;
}

async function measure(label: string, dir: string, prompt: number, steps: number): Promise<BenchRow[]> {
  const model = await openLlamaModel(dir);
  const cfg = model.config;
  const backend = new CpuBackend();
  const runner = await LlamaRunner.load(model, {
    backend,
    actDtype: 'f32',
    maxTokens: Math.max(prompt, 64),
    maxSeqs: 1,
    numPages: Math.ceil((prompt + steps + 8) / 16) + 1,
  });
  await model.weights.close();
  const pages = Array.from({ length: runner.numPages }, (_, i) => i);

  if (label === 'builtin') {
    // the oracle's greedy tokens, 8 steps of every reference prompt
    const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
      references: { prompt: string; ids: number[]; greedyFloat64: number[] }[];
    };
    for (const ref of reference.references) {
      const got: number[] = [];
      let logits = await runner.forward({ seqs: [{ tokens: ref.ids, start: 0, pages }] });
      for (let s = 0; s < 8; s++) {
        got.push(argmax(logits));
        logits = await runner.forward({ seqs: [{ tokens: [got[s]!], start: ref.ids.length + s, pages }] });
      }
      const want = ref.greedyFloat64.slice(0, 8);
      check.that(
        got.join() === want.join(),
        `greedy tokens of '${ref.prompt}' equal the float64 oracle's`,
        got.join(' '),
      );
    }
  } else {
    const h = cfg.hiddenSize;
    await checkGemvs(backend, [
      [cfg.numHeads * cfg.headDim, h, 'q_proj'],
      [cfg.numKvHeads * cfg.headDim, h, 'k_proj'],
      [h, cfg.numHeads * cfg.headDim, 'o_proj'],
      [cfg.intermediateSize, h, 'gate_proj'],
      [h, cfg.intermediateSize, 'down_proj'],
      [8192, h, 'LM head slice'],
    ]);
  }

  // timed: a prefill of `prompt` tokens, then `steps` decode steps (logits read and argmax included)
  const span = Math.min(120000, cfg.vocabSize - 100);
  const ids = Array.from({ length: prompt }, (_, i) => 100 + ((i * 104729) % span));
  const ours: number[] = [];
  const timeOurs = async (): Promise<Timing> => {
    const t0 = performance.now();
    let logits = await runner.forward({ seqs: [{ tokens: ids, start: 0, pages }] });
    const prefillMs = performance.now() - t0;
    ours.length = 0;
    ours.push(argmax(logits));
    const times: number[] = [];
    for (let s = 0; s < steps; s++) {
      const ts = performance.now();
      logits = await runner.forward({ seqs: [{ tokens: [ours[s]!], start: prompt + s, pages }] });
      ours.push(argmax(logits));
      times.push(performance.now() - ts);
    }
    return { decodeMs: median(times), prefillMs };
  };

  // the peer: llama.cpp's CPU build on the same weights (BF16 GGUF), a fresh process per round
  const gguf = join(tmp, `${label}-bf16.gguf`);
  let peerName = '';
  let peerTokens: number[] = [];
  if (!peerWhy) {
    const m = await openLlamaModel(dir);
    await writeLlamaGguf(m.weights, m.config, gguf, { type: 'BF16', name: label });
    await m.weights.close();
  }
  const timePeer = (t: number): Timing => {
    const out = join(tmp, 'llama-cpp.json');
    const script = new URL('./peers/llama-cpp-decode.js', import.meta.url).pathname;
    const args = [script, gguf, out, '--gpu', 'cpu', '--batches', '1', '--prompt', `${prompt}`, '--steps', `${steps}`];
    const log = execFileSync(process.execPath, [...args, '--threads', `${t}`], {
      env: { ...process.env, LLAMA_CPP_MODULE: moduleDir },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const r = JSON.parse(readFileSync(out, 'utf8')) as {
      peer: string;
      msPerStep: { b1: number };
      tokens: { b1: number[] };
    };
    const pm = /prefill of 1×\d+ tokens (\d+) ms/.exec(log);
    if (!pm) throw new Error(`the llama.cpp peer printed no prefill time:\n${log}`);
    peerName = `${r.peer}, BF16 GGUF`;
    peerTokens = r.tokens.b1;
    return { decodeMs: r.msPerStep.b1, prefillMs: Number(pm[1]) };
  };

  // rounds alternate ours and the peer at each thread count, so load from other work hits both alike
  const timesOurs = new Map(counts.map((t) => [t, [] as Timing[]]));
  const timesPeer = new Map(counts.map((t) => [t, [] as Timing[]]));
  await timeOurs(); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of counts) {
      pool.active = t;
      timesOurs.get(t)!.push(await timeOurs());
      if (!peerWhy) timesPeer.get(t)!.push(timePeer(t));
    }
  }
  pool.active = threads;
  runner.destroy();
  backend.destroy();
  rmSync(gguf, { force: true });
  if (!peerWhy) {
    const agree = peerTokens.findIndex((t, i) => t !== ours[i]);
    console.log(
      `${label}: ${agree < 0 ? `all ${peerTokens.length}` : agree} leading greedy tokens of the bench prompt agree with llama.cpp's`,
    );
  }

  const med = (xs: Timing[], k: keyof Timing) => median(xs.map((x) => x[k]));
  const rows: BenchRow[] = [];
  for (const t of counts) {
    const o = timesOurs.get(t)!;
    const p = timesPeer.get(t)!;
    console.log(
      `${label}, ${t} thread(s): ours decode ${med(o, 'decodeMs').toFixed(3)} ms, prefill ${med(o, 'prefillMs').toFixed(1)} ms` +
        (peerWhy
          ? ''
          : `; llama.cpp decode ${med(p, 'decodeMs').toFixed(3)} ms, prefill ${med(p, 'prefillMs').toFixed(1)} ms`),
    );
    const th = `${t} thread${t > 1 ? 's' : ''}`;
    const common = {
      higherIsBetter: true,
      anchorName: peerWhy ? null : `${peerName}, ${th}`,
      limit: null,
      limitName: null,
      anchorWhyNull: peerWhy,
    };
    rows.push(
      row({
        ...common,
        case: `${label} b1 decode, ${th}`,
        metric: 'tokens/s',
        ours: 1000 / med(o, 'decodeMs'),
        anchor: peerWhy ? null : 1000 / med(p, 'decodeMs'),
      }),
      row({
        ...common,
        case: `${label} ${prompt}-token prefill, ${th}`,
        metric: 'tokens/s',
        ours: (prompt * 1000) / med(o, 'prefillMs'),
        anchor: peerWhy ? null : (prompt * 1000) / med(p, 'prefillMs'),
      }),
    );
  }
  return rows;
}

const rows: BenchRow[] = [];
const notes: string[] = [];
try {
  if (MODELS.includes('builtin')) {
    rows.push(...(await measure('builtin', builtinModelPath(), PROMPT, STEPS)));
    notes.push(`builtin: the built-in model (6 layers, hidden 256, bf16), prompt ${PROMPT}, ${STEPS} decode steps`);
  }
  if (MODELS.includes('1b')) {
    const dir = join(tmp, 'llama-1b-shape');
    console.log(`writing a random ${LAYERS_1B}-layer checkpoint of Llama-3.2-1B's shape…`);
    await writeRandomLlamaCheckpoint(dir, llama1bConfig(LAYERS_1B), { dtype: 'bf16', seed: 1 });
    // a 1B-shaped step reads ~1 GB of weights: fewer, shorter steps keep the run in minutes
    const prompt = Math.min(PROMPT, 32);
    const steps = Math.min(STEPS, 16);
    const label = `1B-shape ${LAYERS_1B}L`;
    rows.push(...(await measure(label, dir, prompt, steps)));
    notes.push(
      `${label}: random weights of Llama-3.2-1B's shape (hidden 2048, intermediate 8192, 32/8 heads, vocab 128256, tied) with ${LAYERS_1B} of its 16 layers, bf16, prompt ${prompt}, ${steps} decode steps`,
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const cpuModel = `cpu: ${cpus()[0]?.model ?? 'unknown'}`;
writeResults(
  'cpu-decode',
  `${cpuModel} (${cpus().length} cores)`,
  rows,
  `${notes.join('; ')}. Ours: f32 activations; llama.cpp: a BF16 GGUF of the same weights. Per model and thread count, ${ROUNDS} rounds alternate ours and llama.cpp (a fresh process per round); decode: median over rounds of each round's median batch-1 step (ours: forward, logits read, host argmax; llama.cpp: llama_decode plus its greedy sampling); prefill: median over rounds of one prompt. Cores shared with other work: figures are noisy; both sides were measured interleaved in this one run.`,
  check.passed(),
);
process.exit(0);
