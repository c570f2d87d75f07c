/**
 * Fusion: one Llama block (Llama-3-8B shapes by default: hidden 4096, 32 heads, 8 KV heads, head
 * 128, FFN 14336) compiled twice — with and without fusion — each compiled once and run at
 * several token counts n. Per call: dispatches, GPU time (timestamps, median of reps) and wall
 * time (enqueue + GPU, flushed). The unfused build is the anchor, so ratio > 1 means fusion wins.
 * Both builds must agree, and at the smallest n the fused output must match a float64 block
 * computed on the host from the same weights read back (bench/verify.ts fails the bench if not).
 *
 * Usage: node .build/bench/fusion.js [--small] [--n 1,16,128,1024] [--reps 20]
 */
import '../src/register-all.js';
import type { Tensor } from '../src/backends/backend.js';
import { compileModule } from '../src/compiler/compile.js';
import { type BlockDims, BLOCK_PARAMS, llamaBlockFunc } from '../src/compiler/demo-models.js';
import { VirtualMachine } from '../src/compiler/vm.js';
import { CpuBackend } from '../src/backends/cpu/cpu-backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { moduleOf } from '../src/ir/graph.js';
import { toFloat64 } from '../src/tensor/dtype.js';
import { type BenchRow, cardName, fillRandom, median, row, timeGpu, writeResults } from './results.js';
import { Check } from './verify.js';

/**
 * Fused output against the float64 oracle, as max |f − ref| / (1 + |ref|). f32 GEMMs of K ≤ 14336
 * are off by ≤ 8·√K·2⁻²⁴ ≈ 6e-5 of Σ|ab| each (bench/verify.ts's bound) and a block chains four
 * through norms and the residual, so 1e-3 leaves margin; a wrong op moves outputs by O(1).
 */
export const FUSION_ORACLE_TOL = 1e-3;

/** The unfused build run by the CPU backend (float64 references) on the same data read back. */
async function oracleOutput(
  backend: WebGpuBackend,
  build: ReturnType<typeof compileModule>,
  args: readonly Tensor[],
): Promise<Float64Array> {
  const cpu = new CpuBackend();
  const hostArgs = await Promise.all(
    args.map(async (t) => {
      const h = cpu.alloc({ dtype: t.dtype, shape: t.shape }, t.label);
      cpu.write(h, await backend.read(t));
      return h;
    }),
  );
  const vm = new VirtualMachine(build.executable, cpu);
  const out = (await vm.run('main', hostArgs)) as Tensor;
  const res = toFloat64('f32', await cpu.read(out));
  vm.release();
  return res;
}

const LLAMA3_8B: BlockDims = {
  hidden: 4096,
  heads: 32,
  kvHeads: 8,
  headDim: 128,
  ffn: 14336,
  maxN: 4096,
  eps: 1e-5,
  theta: 500000,
};
const SMALL: BlockDims = { hidden: 256, heads: 8, kvHeads: 2, headDim: 32, ffn: 688, maxN: 4096 };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Parameter shapes in BLOCK_PARAMS order (x excluded). */
function weightShapes(d: BlockDims): number[][] {
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  return [
    [d.hidden],
    [d.hidden, q],
    [d.hidden, kv],
    [d.hidden, kv],
    [q, d.hidden],
    [d.hidden],
    [d.hidden, d.ffn],
    [d.hidden, d.ffn],
    [d.ffn, d.hidden],
  ];
}

export async function benchFusion(
  backend: WebGpuBackend,
  dims: BlockDims,
  ns: readonly number[],
  reps: number,
): Promise<{ rows: BenchRow[]; maxRelDiff: number; oracleRelDiff: number; counts: Record<string, number> }> {
  const builds = {
    fused: compileModule(moduleOf([llamaBlockFunc(dims)])),
    unfused: compileModule(moduleOf([llamaBlockFunc(dims)]), { fuse: false }),
  };
  const vms = {
    fused: new VirtualMachine(builds.fused.executable, backend),
    unfused: new VirtualMachine(builds.unfused.executable, backend),
  };
  const weights = weightShapes(dims).map((s, i) => {
    const t = backend.alloc({ dtype: 'f32', shape: s }, `w.${BLOCK_PARAMS[i + 1]}`);
    // norms near 1, projections scaled like an initialised model
    fillRandom(backend, t, 100 + i, s.length === 1 ? 1 : 1 / Math.sqrt(s[0]!));
    return t;
  });
  const rows: BenchRow[] = [];
  const counts: Record<string, number> = {};
  let maxRelDiff = 0;
  let oracleRelDiff = NaN;
  for (const n of ns) {
    const x = backend.alloc({ dtype: 'f32', shape: [n, dims.hidden] }, 'x');
    fillRandom(backend, x, n, 1);
    const args = [x, ...weights];
    const outs: Tensor[] = [];
    const call = (which: 'fused' | 'unfused') => {
      outs.push(vms[which].runSync('main', args) as Tensor);
    };
    const result: Record<string, { dispatches: number; gpuMs: number; wallMs: number; out: Float64Array }> = {};
    for (const which of ['fused', 'unfused'] as const) {
      call(which); // first call allocates the planned storage
      await backend.flush();
      const before = backend.dispatchCount;
      call(which);
      const dispatches = backend.dispatchCount - before;
      const out = toFloat64('f32', await backend.read(outs[outs.length - 1]!));
      const gpuMs = await timeGpu(backend, () => call(which), reps, 2);
      const walls: number[] = [];
      for (let r = 0; r < Math.max(5, Math.floor(reps / 2)); r++) {
        const t0 = performance.now();
        call(which);
        await backend.flush();
        walls.push(performance.now() - t0);
      }
      result[which] = { dispatches, gpuMs, wallMs: median(walls), out };
      outs.splice(0).forEach((t) => backend.free(t));
    }
    const f = result.fused!;
    const u = result.unfused!;
    // the float64 oracle at the first (smallest) n only: the host runs the whole block
    if (n === ns[0]) {
      const want = await oracleOutput(backend, builds.unfused, args);
      oracleRelDiff = want.reduce(
        (m, w, i) => Math.max(m, Number.isNaN(f.out[i]!) ? Infinity : Math.abs(f.out[i]! - w) / (1 + Math.abs(w))),
        0,
      );
    }
    for (let i = 0; i < f.out.length; i++)
      maxRelDiff = Math.max(maxRelDiff, Math.abs(f.out[i]! - u.out[i]!) / (1 + Math.abs(u.out[i]!)));
    counts[`n=${n} fused`] = f.dispatches;
    counts[`n=${n} unfused`] = u.dispatches;
    const tag = `llama block n=${n}`;
    rows.push(
      row({
        case: `${tag} dispatches`,
        metric: 'dispatches/call',
        higherIsBetter: false,
        ours: f.dispatches,
        anchor: u.dispatches,
        anchorName: 'unfused',
        limit: null,
        limitName: null,
      }),
    );
    rows.push(
      row({
        case: `${tag} GPU time`,
        metric: 'ms/call',
        higherIsBetter: false,
        ours: f.gpuMs,
        anchor: u.gpuMs,
        anchorName: 'unfused',
        limit: null,
        limitName: null,
      }),
    );
    rows.push(
      row({
        case: `${tag} wall time`,
        metric: 'ms/call',
        higherIsBetter: false,
        ours: f.wallMs,
        anchor: u.wallMs,
        anchorName: 'unfused',
        limit: null,
        limitName: null,
      }),
    );
    backend.free(x);
  }
  vms.fused.release();
  vms.unfused.release();
  weights.forEach((t) => backend.free(t));
  return { rows, maxRelDiff, oracleRelDiff, counts };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const small = process.argv.includes('--small');
  const dims = small ? SMALL : LLAMA3_8B;
  const ns = (arg('--n') ?? (small ? '1,16,128' : '1,16,128,1024,4096')).split(',').map(Number);
  const reps = Number(arg('--reps') ?? 20);
  const backend = await WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
  const card = cardName(backend);
  const { rows, maxRelDiff, oracleRelDiff } = await benchFusion(backend, dims, ns, reps);
  const check = new Check('fusion');
  check.that(
    oracleRelDiff <= FUSION_ORACLE_TOL,
    `fused block at n=${ns[0]} within ${FUSION_ORACLE_TOL} of the float64 oracle`,
    `max |Δ|/(1+|ref|) ${oracleRelDiff.toExponential(2)}`,
  );
  check.that(
    maxRelDiff <= FUSION_ORACLE_TOL,
    `fused and unfused builds agree within ${FUSION_ORACLE_TOL} at every n`,
    `max ${maxRelDiff.toExponential(2)}`,
  );
  const shape = `hidden ${dims.hidden}, heads ${dims.heads}/${dims.kvHeads}, head ${dims.headDim}, FFN ${dims.ffn}, f32`;
  writeResults(
    'fusion',
    card,
    rows,
    `Llama block (${shape}), one compiled artifact per build for all n; anchor = same block compiled without fusion; ` +
      `GPU time from per-dispatch timestamps (median of ${reps}), wall = enqueue + flush (median); fused vs unfused max relative difference ${maxRelDiff.toExponential(2)}; fused vs float64 oracle at n=${ns[0]} ${oracleRelDiff.toExponential(2)}`,
    check.passed(),
  );
  backend.destroy();
}
