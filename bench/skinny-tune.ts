/**
 * Tunes the skinny GEMM on Llama-3-8B linear shapes (bench/skinny-variants.ts): for M ∈ {1, 2, 4,
 * 8, 16, 32, 64, 128}, bf16 weights [N, K] and f16 activations, every parameter set and the baselines
 * (GEMV, the split-K tensor-core GEMM) run, are checked at sampled outputs against float64 dot
 * products (a wrong variant is printed and excluded), and are timed by replaying recorded streams
 * with the weights rotating over copies ≥ 4× L2. Prints GB/s of weight bytes and the winner per
 * (M, shape), then writes all timings and the winners as a table module
 * (`skinny-gemm-table.ts`, ready to replace src/kernels/skinny-gemm-table.ts) under $BENCH_OUT.
 *
 * Usage: node .build/bench/skinny-tune.js [--m 16,64] [--shapes 4096x4096] [--budget-s 190] [--only mid]
 * (`--only mid`: the baselines, the committed table's sets and the mid-M sets, nothing else)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../src/backends/backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { skinnyParamsProblem, skinnyShapeProblem, skinnyTuning } from '../src/kernels/skinny-gemm-params.js';
import { f16ToNumber } from '../src/tensor/dtype.js';
import { cardName, cardShort, commitHash, fillRandom, median, timeGpu } from './results.js';
import {
  type Measured,
  TUNE_M,
  TUNE_SHAPES,
  type Variant,
  bucketsFrom,
  stepTimes,
  fillValueBf16,
  tableModule,
  variantsFor,
} from './skinny-variants.js';
import { checkSampledProduct } from './verify.js';

const L2_BYTES = 50 * 2 ** 20;
const SAMPLES = 24;
const A_SEED = 7;
const W_SEED = 100;

/** GPU ms of one call: a short warm batch, then the median of three ≥ 15 ms batches. */
async function timeQuick(backend: WebGpuBackend, enqueue: (rep: number) => void, calls: number): Promise<number> {
  const stream = backend.record(() => {
    for (let i = 0; i < calls; i++) enqueue(i);
  });
  try {
    const batch = async (n: number) => {
      stream.replay(n);
      const t0 = performance.now();
      await backend.flush();
      return performance.now() - t0;
    };
    const one = await batch(1);
    const n = Math.max(1, Math.min(2000, Math.ceil(15 / Math.max(one, 0.005))));
    await batch(n);
    const per: number[] = [];
    for (let b = 0; b < 3; b++) per.push((await batch(n)) / (n * calls));
    return median(per);
  } finally {
    stream.destroy();
  }
}

/** The device's bf16 fill must equal the host's copy, or every check below would be meaningless. */
async function checkHostWeights(backend: WebGpuBackend): Promise<void> {
  const t = backend.alloc({ dtype: 'bf16', shape: [64, 264] }, 'tune.wcheck');
  fillRandom(backend, t, W_SEED);
  const got = await backend.read(t);
  backend.free(t);
  for (let i = 0; i < 64 * 264; i++) {
    const want = fillValueBf16(i, W_SEED);
    const bits = got[i]!;
    const have = new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
    if (have !== want) throw new Error(`host copy of fillRandom differs at ${i}: ${have} vs ${want}`);
  }
}

interface ShapeBuffers {
  N: number;
  K: number;
  ws: Tensor[];
}

/** Runs one variant: its output checked at sampled entries, then timed; a string says why it is out. */
async function measure(
  backend: WebGpuBackend,
  v: Variant,
  s: ShapeBuffers,
  a: Tensor,
  aHost: Float64Array,
  out: Tensor,
  M: number,
): Promise<number | string> {
  if (v.params) {
    const why =
      skinnyParamsProblem(v.params, M, backend.caps) ?? skinnyShapeProblem(v.params, M, s.K, 'f16', backend.caps);
    if (why) return `skip (${why})`;
  }
  skinnyTuning.override = v.params;
  const attrs = { transB: true, path: v.path, outDtype: 'f16' as const };
  try {
    const pick = backend.record(() => backend.run('matmul', attrs, [a, s.ws[0]!], [out]));
    const labels = pick.dispatches.map((d) => d.label).join('+');
    pick.destroy();
    backend.run('matmul', attrs, [a, s.ws[0]!], [out]);
    const c = await backend.read(out);
    const r = checkSampledProduct({
      M,
      N: s.N,
      K: s.K,
      a: (i, k) => aHost[i * s.K + k]!,
      b: (k, j) => fillValueBf16(j * s.K + k, W_SEED),
      c: (i, j) => f16ToNumber(c[i * s.N + j]!),
      acc: 'f32',
      out: 'f16',
      // f16·bf16 products are exact in f32 on every path (the tensor-core paths re-round bf16 to f16 exactly in range)
      exactProducts: true,
      samples: SAMPLES,
      seed: M * 7919 + s.N,
    });
    if (!(r.worst <= 1))
      return `WRONG [${labels}] ${r.worst.toFixed(2)}× tolerance at ${r.at.join(',')}: ${r.got} vs ${r.want}`;
    return await timeQuick(backend, (rep) => backend.run('matmul', attrs, [a, s.ws[rep]!], [out]), s.ws.length);
  } catch (e) {
    return `FAILED ${(e as Error).message.split('\n').slice(0, 3).join(' | ').slice(0, 300)}`;
  } finally {
    skinnyTuning.override = null;
  }
}

/** Every variant at one M on every shape; appends rows, prints GB/s, the winners and step times. */
async function sweepM(
  backend: WebGpuBackend,
  M: number,
  shapes: readonly ShapeBuffers[],
  rows: Measured[],
  only?: 'mid',
): Promise<void> {
  const sgmat = backend.caps.subgroupMatrix.length > 0;
  for (const s of shapes) {
    const shape = `${s.N}x${s.K}`;
    const a = backend.alloc({ dtype: 'f16', shape: [M, s.K] }, 'tune.a');
    const out = backend.alloc({ dtype: 'f16', shape: [M, s.N] }, 'tune.c');
    fillRandom(backend, a, A_SEED + M);
    const aHost = Float64Array.from(await backend.read(a), (h) => f16ToNumber(h));
    const here: Measured[] = [];
    for (const v of variantsFor(M, sgmat, only)) {
      const r = await measure(backend, v, s, a, aHost, out, M);
      if (typeof r === 'string') {
        if (!r.startsWith('skip')) console.log(`  M${M} ${shape} ${v.name}: ${r}`);
        continue;
      }
      here.push({ M, shape, variant: v.name, params: v.params, ms: r });
      console.log(`  M${M} ${shape} ${v.name}: ${r.toFixed(4)} ms, ${((2 * s.N * s.K) / (r * 1e6)).toFixed(0)} GB/s`);
    }
    backend.free(a);
    backend.free(out);
    rows.push(...here);
    const best = [...here].sort((x, y) => x.ms - y.ms)[0];
    const base = here.filter((x) => x.params === null).sort((x, y) => x.ms - y.ms)[0];
    if (best)
      console.log(
        `WINNER M${M} ${shape}: ${best.variant} ${((2 * s.N * s.K) / (best.ms * 1e6)).toFixed(0)} GB/s of weights${base ? ` (${(base.ms / best.ms).toFixed(2)}× the best baseline, ${base.variant})` : ''}`,
      );
  }
  const step = stepTimes(rows.filter((r) => r.M === M));
  console.log(
    `M${M} decode-step ms of these matmuls: ${step
      .slice(0, 4)
      .map(([v, ms]) => `${v} ${ms.toFixed(2)}`)
      .join('; ')}; baselines: ${step
      .filter(([v]) => v === 'gemv' || v.startsWith('sgmat split'))
      .map(([v, ms]) => `${v} ${ms.toFixed(2)}`)
      .join('; ')}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1]! : null;
  };
  const ms = opt('--m')?.split(',').map(Number) ?? TUNE_M;
  // --shapes NxK,…: the listed 8B shapes, or any others (small ones check the sweep itself on a slow device)
  const shapes =
    opt('--shapes')
      ?.split(',')
      .map((x) => {
        const [N, K] = x.split('x').map(Number) as [number, number];
        return TUNE_SHAPES.find((s) => s.N === N && s.K === K) ?? { N, K, what: 'custom', perStep: 1 };
      }) ?? TUNE_SHAPES;
  const onlyArg = opt('--only');
  if (onlyArg !== null && onlyArg !== 'mid') throw new Error(`--only takes 'mid' (got ${onlyArg})`);
  const only = onlyArg ?? undefined;
  const start = performance.now();
  const deadline = start + Number(opt('--budget-s') ?? 190) * 1000;
  const backend = await WebGpuBackend.create({ onWarning: () => {} });
  const card = cardName(backend);
  console.log(
    `${card}; subgroup sizes ${backend.caps.subgroupMinSize}-${backend.caps.subgroupMaxSize}; workgroup memory ${backend.caps.maxComputeWorkgroupStorageSize}; subgroup matrices: ${backend.caps.subgroupMatrix.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ') || 'none'}`,
  );
  await checkHostWeights(backend);
  const rows: Measured[] = [];
  const bufs: ShapeBuffers[] = [];
  for (const sh of shapes) {
    const copies = Math.max(1, Math.min(16, Math.ceil((4 * L2_BYTES) / (2 * sh.N * sh.K))));
    const ws = Array.from({ length: copies }, (_, i) =>
      backend.alloc({ dtype: 'bf16', shape: [sh.N, sh.K] }, `tune.w${i}`),
    );
    // every copy holds the same values, so the host copy checks whichever the replay reads
    for (const w of ws) fillRandom(backend, w, W_SEED);
    bufs.push({ N: sh.N, K: sh.K, ws });
    console.log(`shape ${sh.what} ${sh.N}x${sh.K}: ${copies} weight copies`);
  }
  {
    // clocks up before anything counts: one long timing of the first shape (result unused)
    const s0 = bufs[0]!;
    const a = backend.alloc({ dtype: 'f16', shape: [1, s0.K] }, 'tune.warm');
    const c = backend.alloc({ dtype: 'f16', shape: [1, s0.N] }, 'tune.warmc');
    await timeGpu(backend, (rep) => backend.run('matmul', { transB: true }, [a, s0.ws[rep]!], [c]), s0.ws.length);
    backend.free(a);
    backend.free(c);
  }
  const date = new Date().toISOString().slice(0, 10);
  const source = `bench/skinny-tune.ts on ${card}, ${date}, commit ${commitHash()}`;
  const dir = process.env.BENCH_OUT ?? join('bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `skinny-tune-${date}-${cardShort(card)}.json`);
  // written after every M, so a run cut short by its caller's timeout keeps the Ms it finished
  const save = () => {
    const buckets = bucketsFrom(rows);
    writeFileSync(file, `${JSON.stringify({ source, samples: SAMPLES, rows, buckets }, null, 2)}\n`);
    writeFileSync(join(dir, 'skinny-gemm-table.ts'), tableModule(buckets, source));
    return buckets;
  };
  for (const M of ms) {
    // a whole M or none, so every bucket compares its variants on the same shapes
    if (performance.now() > deadline) {
      console.log(`M${M}: not measured (time budget spent); its bucket stays as committed`);
      continue;
    }
    await sweepM(backend, M, bufs, rows, only);
    save();
    console.log(`M${M} done at ${((performance.now() - start) / 1000).toFixed(0)} s`);
  }
  for (const b of bufs) for (const w of b.ws) backend.free(w);
  const buckets = save();
  console.log(
    `\nbuckets: ${JSON.stringify(buckets)}\nwrote ${file} and ${join(dir, 'skinny-gemm-table.ts')} in ${((performance.now() - start) / 1000).toFixed(0)} s`,
  );
  backend.destroy();
}
