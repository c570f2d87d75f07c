/**
 * The sparse kernels generated from loop-nest programs (what `spmm_*`, `sddmm_csr` and `rgcn_csr`
 * run) against the hand-written WGSL templates they replaced (`sparse-template-*.ts`), on the same
 * device, the same resident matrices and the same schedules. Noisy devices (lavapipe shares its cores) are
 * handled by alternating: each round times the template then the loop nest (a recorded stream of
 * `reps` dispatches, replayed), and the medians over rounds are compared. Both outputs are checked
 * equal to each other within the f32 summation bound's order (1e-4 relative) before timing.
 *
 * Usage (bundled, e.g. `npx esbuild bench/sparse-tir-vs-template.ts --bundle --platform=node
 * --format=esm --packages=external --outfile=.build-cmp/cmp.mjs && node .build-cmp/cmp.mjs [--rounds N]
 * [--sddmm]`; `--sddmm` times only the SDDMM rows).
 */
import '../src/register-all.js';
import type { Tensor } from '../src/backends/backend.js';
import type { GpuTensor } from '../src/backends/webgpu/kernel.js';
import { grid2d } from '../src/backends/webgpu/grid.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import {
  type Coo,
  type FormatSpec,
  type SpmmSchedule,
  defaultSchedule,
  formatName,
  rmatCoo,
  randomCoo,
  spmm,
  toFormat,
  upload,
  withDenseRow,
} from '../src/sparse/index.js';
import { heteroInputs } from '../src/sparse/rgcn.js';
import { randomHetero } from '../src/sparse/hetero.js';
import { scheduleName } from '../src/sparse/schedule.js';
import { Rng } from '../src/util/rng.js';
import { cardName } from './results.js';
import { RGCN_WORKGROUP, rgcnWgsl } from './sparse-template-rgcn.js';
import { sddmmWgsl } from './sparse-template-sddmm.js';
import {
  bsrIteration,
  cooIteration,
  csrIteration,
  ellIteration,
  hybUniforms,
  hybWgsl,
  spmmWgsl,
} from './sparse-template-spmm.js';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] ?? 0) || 9;
const REPS = 10;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeStream(b: WebGpuBackend, enqueue: () => void): Promise<number> {
  const stream = b.record(() => {
    for (let r = 0; r < REPS; r++) enqueue();
  });
  try {
    stream.replay(1);
    await b.flush();
    const t0 = performance.now();
    stream.replay(1);
    await b.flush();
    return (performance.now() - t0) / REPS;
  } finally {
    stream.destroy();
  }
}

/** The template SpMM of the resident matrix, dispatched as the registered kernel used to. */
function templateSpmm(
  b: WebGpuBackend,
  spec: FormatSpec,
  dev: ReturnType<typeof upload>,
  s: SpmmSchedule,
  x: Tensor,
  y: Tensor,
) {
  const ctx = b.kernelContext();
  const [k, f] = x.shape as [number, number];
  const fv = s.vec4 ? f / 4 : f;
  const bufs = [...dev.tensors, x, y] as GpuTensor[];
  if (spec.kind === 'hyb') {
    const layout = (dev.attrs as { layout: Parameters<typeof hybWgsl>[0] }).layout;
    const { words, workgroups } = hybUniforms(layout, s, fv);
    ctx.dispatch(
      {
        label: `tmpl.hyb.${layout.parts.length}.${scheduleName(s)}`,
        wgsl: hybWgsl(layout, s),
        access: ['read', 'read', 'read', 'rw', 'uniform'],
      },
      bufs,
      words,
      grid2d(workgroups, b.caps.maxComputeWorkgroupsPerDimension),
    );
    return;
  }
  if (spec.kind === 'csc') throw new Error('no template SpMM reads CSC');
  const it =
    spec.kind === 'csr'
      ? csrIteration()
      : spec.kind === 'coo'
        ? cooIteration()
        : spec.kind === 'ell'
          ? ellIteration()
          : bsrIteration(spec.block);
  const word = spec.kind === 'coo' ? dev.tensors[0]!.shape[0]! : spec.kind === 'ell' ? dev.tensors[0]!.shape[1]! : 0;
  ctx.dispatch(
    {
      label: `tmpl.${formatName(spec)}.${scheduleName(s)}`,
      wgsl: spmmWgsl(it, s),
      access: [...it.decls.map(() => 'read' as const), 'read', 'rw', 'uniform'],
    },
    bufs,
    new Uint32Array([dev.m, fv, k, word]),
    grid2d(Math.ceil(dev.m / s.rowsPerWorkgroup), b.caps.maxComputeWorkgroupsPerDimension),
  );
}

function agree(a: Float32Array, c: Float32Array): string | null {
  for (let i = 0; i < a.length; i++) {
    const tol = 1e-4 * Math.max(1, Math.abs(a[i]!));
    if (!(Math.abs(a[i]! - c[i]!) <= tol)) return `element ${i}: template ${a[i]}, loop nest ${c[i]}`;
  }
  return null;
}

interface Row {
  readonly what: string;
  readonly templateMs: number;
  readonly tirMs: number;
}

async function compareSpmm(
  b: WebGpuBackend,
  name: string,
  a: Coo,
  spec: FormatSpec,
  f: number,
  s: SpmmSchedule,
): Promise<Row> {
  const dev = upload(b, toFormat(a, spec), name);
  const x = b.alloc({ dtype: 'f32', shape: [a.k, f] }, 'x');
  const y1 = b.alloc({ dtype: 'f32', shape: [a.m, f] }, 'y.tmpl');
  const y2 = b.alloc({ dtype: 'f32', shape: [a.m, f] }, 'y.tir');
  try {
    b.write(x, Float32Array.from(new Rng(a.m + f).normals(a.k * f)));
    templateSpmm(b, spec, dev, s, x, y1);
    spmm(b, dev, s, x, y2);
    const bad = agree((await b.read(y1)) as Float32Array, (await b.read(y2)) as Float32Array);
    if (bad) throw new Error(`${name} ${formatName(spec)} f${f}: outputs differ, ${bad}`);
    const t: number[] = [];
    const g: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      t.push(await timeStream(b, () => templateSpmm(b, spec, dev, s, x, y1)));
      g.push(await timeStream(b, () => spmm(b, dev, s, x, y2)));
    }
    return { what: `${name} ${formatName(spec)} f${f} ${scheduleName(s)}`, templateMs: median(t), tirMs: median(g) };
  } finally {
    dev.free();
    [x, y1, y2].forEach((t) => b.free(t));
  }
}

async function compareRgcn(b: WebGpuBackend): Promise<Row> {
  const p = { m: 2048, k: 2048, relations: 8, meanDegree: 8 };
  const fin = 16;
  const fout = 16;
  const g = randomHetero(7, p);
  const rng = new Rng(11);
  const ins = [
    ...heteroInputs(g),
    { desc: { dtype: 'f32' as const, shape: [p.k, fin] }, data: Float32Array.from(rng.normals(p.k * fin)) },
    {
      desc: { dtype: 'f32' as const, shape: [p.relations, fin, fout] },
      data: Float32Array.from(rng.normals(p.relations * fin * fout)),
    },
  ];
  const ts = ins.map((i, n) => {
    const t = b.alloc(i.desc, `rgcn.${n}`);
    b.write(t, i.data);
    return t;
  });
  const y1 = b.alloc({ dtype: 'f32', shape: [p.m, fout] }, 'y.tmpl');
  const y2 = b.alloc({ dtype: 'f32', shape: [p.m, fout] }, 'y.tir');
  const tmpl = () =>
    b.kernelContext().dispatch(
      {
        label: 'tmpl.rgcn',
        wgsl: rgcnWgsl(),
        access: ['read', 'read', 'read', 'read', 'read', 'read', 'rw', 'uniform'],
      },
      [...ts, y1] as GpuTensor[],
      new Uint32Array([p.m, fout, fin, 0]),
      grid2d(Math.ceil((p.m * fout) / RGCN_WORKGROUP), b.caps.maxComputeWorkgroupsPerDimension),
    );
  const tir = () => b.run('rgcn_csr', {}, ts, [y2]);
  try {
    tmpl();
    tir();
    const bad = agree((await b.read(y1)) as Float32Array, (await b.read(y2)) as Float32Array);
    if (bad) throw new Error(`rgcn: outputs differ, ${bad}`);
    const t: number[] = [];
    const q: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      t.push(await timeStream(b, tmpl));
      q.push(await timeStream(b, tir));
    }
    return {
      what: `rgcn ${p.m} nodes R${p.relations} deg${p.meanDegree} fin${fin} fout${fout}`,
      templateMs: median(t),
      tirMs: median(q),
    };
  } finally {
    [...ts, y1, y2].forEach((t) => b.free(t));
  }
}

/** SDDMM's template against the loop nest at one schedule (lanes threads per entry). */
async function compareSddmm(b: WebGpuBackend, name: string, a: Coo, d: number, lanes: number): Promise<Row> {
  const csr = toFormat(a, { kind: 'csr' }) as Extract<ReturnType<typeof toFormat>, { kind: 'csr' }>;
  const rng = new Rng(a.m + d);
  const ins = [
    { desc: { dtype: 'i32' as const, shape: [csr.indptr.length] }, data: csr.indptr },
    { desc: { dtype: 'i32' as const, shape: [csr.indices.length] }, data: csr.indices },
    { desc: { dtype: 'f32' as const, shape: [a.m, d] }, data: Float32Array.from(rng.normals(a.m * d)) },
    { desc: { dtype: 'f32' as const, shape: [a.k, d] }, data: Float32Array.from(rng.normals(a.k * d)) },
  ];
  const ts = ins.map((i, n) => {
    const t = b.alloc(i.desc, `sddmm.${n}`);
    b.write(t, i.data);
    return t;
  });
  const nnz = csr.indices.length;
  const y1 = b.alloc({ dtype: 'f32', shape: [nnz] }, 'out.tmpl');
  const y2 = b.alloc({ dtype: 'f32', shape: [nnz] }, 'out.tir');
  const s = { lanes, nnzPerWorkgroup: Math.max(1, 64 / lanes), vec4: d % 4 === 0 };
  const tmpl = () =>
    b.kernelContext().dispatch(
      {
        label: `tmpl.sddmm.l${s.lanes}n${s.nnzPerWorkgroup}${s.vec4 ? 'v4' : ''}`,
        wgsl: sddmmWgsl(s),
        access: ['read', 'read', 'read', 'read', 'rw', 'uniform'],
      },
      [...ts, y1] as GpuTensor[],
      new Uint32Array([nnz, a.m, s.vec4 ? d / 4 : d, 0]),
      grid2d(Math.ceil(nnz / s.nnzPerWorkgroup), b.caps.maxComputeWorkgroupsPerDimension),
    );
  const tir = () => b.run('sddmm_csr', { schedule: s }, ts, [y2]);
  try {
    tmpl();
    tir();
    const bad = agree((await b.read(y1)) as Float32Array, (await b.read(y2)) as Float32Array);
    if (bad) throw new Error(`sddmm: outputs differ, ${bad}`);
    const t: number[] = [];
    const q: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      t.push(await timeStream(b, tmpl));
      q.push(await timeStream(b, tir));
    }
    return { what: `sddmm ${name} d${d} l${s.lanes}n${s.nnzPerWorkgroup}`, templateMs: median(t), tirMs: median(q) };
  } finally {
    [...ts, y1, y2].forEach((t) => b.free(t));
  }
}

function report(b: WebGpuBackend, rows: readonly Row[]): void {
  console.log(`\n${ROUNDS} alternating rounds of ${REPS} dispatches, medians; device: ${cardName(b)}`);
  console.log('| case | template ms | loop nest ms | loop nest / template |\n|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.what} | ${r.templateMs.toFixed(3)} | ${r.tirMs.toFixed(3)} | ${(r.tirMs / r.templateMs).toFixed(2)} |`,
    );
  const ratios = rows.map((r) => Math.log(r.tirMs / r.templateMs));
  console.log(
    `geometric mean loop nest / template: ${Math.exp(ratios.reduce((x, y) => x + y, 0) / ratios.length).toFixed(3)}`,
  );
}

async function main(): Promise<void> {
  const b = await WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
  const matrices: [string, Coo][] = [
    ['rmat 2^12 ef8', rmatCoo(1, { scale: 12, edgeFactor: 8 })],
    ['random 4096² d0.002', randomCoo(2, 4096, 4096, 0.002)],
    ['huge row 4096² d0.001', withDenseRow(3, randomCoo(4, 4096, 4096, 0.001), 100)],
  ];
  const formats: FormatSpec[] = [
    { kind: 'csr' },
    { kind: 'coo' },
    { kind: 'ell' },
    { kind: 'bsr', block: 4 },
    { kind: 'hyb', maxWidth: 8 },
  ];
  const rows: Row[] = [];
  const sddmmOnly = args.includes('--sddmm');
  for (const [name, a] of sddmmOnly ? [] : matrices)
    for (const f of [32, 64])
      for (const spec of formats) {
        if (spec.kind === 'ell' && name.startsWith('huge')) continue; // the huge row pads every row to 4096
        if (spec.kind === 'ell' && name.startsWith('rmat')) continue;
        const s = defaultSchedule(f);
        const row = await compareSpmm(b, name, a, spec, f, s);
        rows.push(row);
        console.log(`${row.what}: template ${row.templateMs.toFixed(3)} ms, loop nest ${row.tirMs.toFixed(3)} ms`);
      }
  if (!sddmmOnly) {
    const narrow: SpmmSchedule = { threadsPerRow: 1, rowsPerWorkgroup: 64, vec4: false };
    rows.push(await compareSpmm(b, 'rmat 2^12 ef8', matrices[0]![1], { kind: 'csr' }, 32, narrow));
    rows.push(await compareRgcn(b));
  }
  for (const [d, lanes] of [
    [32, 8],
    [128, 16],
    [64, 1],
  ] as const)
    rows.push(await compareSddmm(b, 'rmat 2^12 ef8', matrices[0]![1], d, lanes));
  report(b, rows);
  b.destroy();
}

await main();
