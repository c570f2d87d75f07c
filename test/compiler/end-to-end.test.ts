/**
 * One compiled artifact serves every n: the MLP and the Llama block are compiled once and run
 * for sampled n in 1…4096 against plain float64 references written here (not the compiler's).
 */
import { describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { compileModule } from '../../src/compiler/compile.js';
import { llamaBlockFunc, mlpFunc, type BlockDims } from '../../src/compiler/demo-models.js';
import { ShapeMismatchError, VirtualMachine } from '../../src/compiler/vm.js';
import { moduleOf } from '../../src/ir/graph.js';
import { hasOp } from '../../src/ops/registry.js';
import { type DType, toFloat64, toHost } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();

function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      for (let j = 0; j < n; j++) c[i * n + j] += av * b[p * n + j]!;
    }
  return c;
}

function upload(b: Backend, shape: number[], data: Float64Array, dtype: DType = 'f32'): Tensor {
  const t = b.alloc({ dtype, shape });
  b.write(t, toHost(dtype, data));
  return t;
}

/** n values: the ends of the range and a few random ones (from the printed test seed). */
function sampleNs(rng: Rng, count: number, max = 4096): number[] {
  const ns = new Set([1, max]);
  while (ns.size < count) ns.add(rng.int(2, max - 1));
  return [...ns];
}

function expectClose(got: Float64Array, want: Float64Array, tol: number, what: string): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!));
    if (!(err <= tol)) expect.fail(`${what}: element ${i} got ${got[i]} want ${want[i]}`);
    worst = Math.max(worst, err);
  }
}

const MLP = { dIn: 8, hidden: 16, dOut: 4 };

function mlpReference(x: Float64Array, n: number, w: Record<string, Float64Array>): Float64Array {
  const h = matmul(x, w.w1!, n, MLP.dIn, MLP.hidden).map((v, i) => Math.max(0, v + w.b1![i % MLP.hidden]!));
  return matmul(h, w.w2!, n, MLP.hidden, MLP.dOut).map((v, i) => v + w.b2![i % MLP.dOut]!);
}

async function runMlp(backend: Backend, fuse: boolean, ns: number[], dtype: DType = 'f32'): Promise<void> {
  const rng = new Rng(seed);
  const { executable, module } = compileModule(moduleOf([mlpFunc({ ...MLP, dtype })]), { fuse });
  const compileId = executable.compileId;
  const vm = new VirtualMachine(executable, backend);
  const before = { ...vm.stats };
  const w = {
    w1: rng.normals(MLP.dIn * MLP.hidden, 0.3),
    b1: rng.normals(MLP.hidden),
    w2: rng.normals(MLP.hidden * MLP.dOut, 0.3),
    b2: rng.normals(MLP.dOut),
  };
  const shapes: Record<string, number[]> = {
    w1: [MLP.dIn, MLP.hidden],
    b1: [MLP.hidden],
    w2: [MLP.hidden, MLP.dOut],
    b2: [MLP.dOut],
  };
  const weights = (['w1', 'b1', 'w2', 'b2'] as const).map((k) => upload(backend, shapes[k]!, w[k], dtype));
  // the reference sees the stored (rounded) inputs; 16-bit intermediates round once more per step
  const wr = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, toFloat64(dtype, toHost(dtype, v))]));
  const tol = dtype === 'f32' ? 1e-4 : 2e-2;
  for (const n of ns) {
    const xd = toFloat64(dtype, toHost(dtype, rng.normals(n * MLP.dIn)));
    const x = upload(backend, [n, MLP.dIn], xd, dtype);
    const y = (await vm.run('main', [x, ...weights])) as Tensor;
    expect(y.shape).toEqual([n, MLP.dOut]);
    expectClose(toFloat64(dtype, await backend.read(y)), mlpReference(xd, n, wr), tol, `mlp ${dtype} n=${n}`);
    backend.free(x);
    backend.free(y);
  }
  // one artifact for every n: no recompilation happened, and the program set is what compile made
  expect(executable.compileId).toBe(compileId);
  expect(Object.isFrozen(executable)).toBe(true);
  expect(executable.programs.size).toBe(module.programs.size);
  // fused: both bias adds and the relu ride in GEMM epilogues, so a call is exactly two kernels
  if (fuse)
    expect([vm.stats.kernels - before.kernels, vm.stats.programs - before.programs]).toEqual([2 * ns.length, 0]);
  else
    expect([vm.stats.kernels - before.kernels, vm.stats.programs - before.programs]).toEqual([
      2 * ns.length,
      3 * ns.length,
    ]);
  vm.release();
  weights.forEach((t) => backend.free(t));
}

describe(`end to end on the CPU backend (${seedNote(seed)})`, () => {
  it('runs one compiled MLP for sampled n in 1…4096, fused (epilogues into GEMMs)', async () => {
    await runMlp(new CpuBackend(), true, sampleNs(new Rng(seed), 4));
  });

  it('runs the unfused MLP (tensor programs as generated JavaScript)', async () => {
    await runMlp(new CpuBackend(), false, sampleNs(new Rng(seed ^ 1), 3, 300));
  });

  it('runs an f16 MLP whose tensor programs read and write packed 16-bit values', async () => {
    await runMlp(new CpuBackend(), false, [1, 6, 33], 'f16');
  });

  it('allocates planned storage once: repeated calls at one n allocate only the returned tensor', async () => {
    const b = new CpuBackend();
    const { executable, plans } = compileModule(moduleOf([mlpFunc(MLP)]), { fuse: false });
    const vm = new VirtualMachine(executable, b);
    const args = [[5, MLP.dIn], [MLP.dIn, MLP.hidden], [MLP.hidden], [MLP.hidden, MLP.dOut], [MLP.dOut]].map((s) =>
      b.alloc({ dtype: 'f32', shape: s }),
    );
    await vm.run('main', args);
    const first = vm.stats.allocations;
    // every planned token got a tensor (they all have distinct shapes or dtypes here at most once each)
    expect(first).toBeGreaterThan(plans.get('main')!.tokens.length);
    for (let i = 0; i < 3; i++) await vm.run('main', args);
    expect(vm.stats.allocations - first).toBe(3);
    // new dimensions replace the old storage instead of piling up; stableStorage keeps both
    const held = vm.heldTensors();
    const args7 = [b.alloc({ dtype: 'f32', shape: [7, MLP.dIn] }), ...args.slice(1)];
    await vm.run('main', args7);
    expect(vm.heldTensors()).toBe(held);
    const keep = new VirtualMachine(executable, b, { stableStorage: true });
    await keep.run('main', args);
    await keep.run('main', args7);
    expect(keep.heldTensors()).toBe(2 * held);
  });

  it('runs a whole call synchronously (runSync): tensor programs are generated JavaScript, run in place', async () => {
    const b = new CpuBackend();
    const vm = new VirtualMachine(compileModule(moduleOf([mlpFunc(MLP)]), { fuse: false }).executable, b);
    const rng = new Rng(seed ^ 3);
    const n = 2;
    const shapes = [[n, MLP.dIn], [MLP.dIn, MLP.hidden], [MLP.hidden], [MLP.hidden, MLP.dOut], [MLP.dOut]];
    const data = shapes.map((s) =>
      toFloat64(
        'f32',
        toHost(
          'f32',
          rng.normals(
            s.reduce((a, d) => a * d, 1),
            0.5,
          ),
        ),
      ),
    );
    const args = shapes.map((s, i) => upload(b, s, data[i]!));
    const y = vm.runSync('main', args) as Tensor;
    expect(vm.stats.programs).toBeGreaterThan(0);
    const w = { w1: data[1]!, b1: data[2]!, w2: data[3]!, b2: data[4]! };
    expectClose(toFloat64('f32', await b.read(y)), mlpReference(data[0]!, n, w), 1e-5, 'runSync');
    [...args, y].forEach((t) => b.free(t));
    vm.release();
  });

  it('rejects inputs that break the symbolic contract with a message naming the binding and axis', async () => {
    const b = new CpuBackend();
    const vm = new VirtualMachine(compileModule(moduleOf([mlpFunc({ ...MLP, maxN: 64 })])).executable, b);
    const w = [[MLP.dIn, MLP.hidden], [MLP.hidden], [MLP.hidden, MLP.dOut], [MLP.dOut]].map((s) =>
      b.alloc({ dtype: 'f32', shape: s }),
    );
    const bad = b.alloc({ dtype: 'f32', shape: [3, MLP.dIn + 1] });
    await expect(vm.run('main', [bad, ...w])).rejects.toThrow(
      /function 'main': 'x' has 9 at axis 1 but its type says 8/,
    );
    const big = b.alloc({ dtype: 'f32', shape: [65, MLP.dIn] });
    await expect(vm.run('main', [big, ...w])).rejects.toThrow(
      /'n' = 65 \(from 'x' axis 0\) exceeds the upper bound 64/,
    );
    await expect(
      vm.run('main', [
        b.alloc({ dtype: 'f32', shape: [2, MLP.dIn] }),
        b.alloc({ dtype: 'f32', shape: [7, 16] }),
        ...w.slice(1),
      ]),
    ).rejects.toThrow(ShapeMismatchError);
  });
});

// ---------------- the Llama block ----------------

const BLOCK: BlockDims = { hidden: 16, heads: 4, kvHeads: 2, headDim: 4, ffn: 24, eps: 1e-5, theta: 10000, maxN: 4096 };
const BLOCK_SHAPES: Record<string, number[]> = {
  attn_norm: [16],
  wq: [16, 16],
  wk: [16, 8],
  wv: [16, 8],
  wo: [16, 16],
  mlp_norm: [16],
  w_gate: [16, 24],
  w_up: [16, 24],
  w_down: [24, 16],
};

function rmsnorm(x: Float64Array, w: Float64Array, n: number, d: number, eps: number): Float64Array {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[i * d + j]! ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) y[i * d + j] = x[i * d + j]! * inv * w[j]!;
  }
  return y;
}

/** Rotate-half RoPE (Llama layout) on [n, H, D]; position i for row i. */
function rope(x: Float64Array, n: number, h: number, d: number, theta: number): Float64Array {
  const y = new Float64Array(x);
  const half = d / 2;
  for (let t = 0; t < n; t++)
    for (let hh = 0; hh < h; hh++)
      for (let i = 0; i < half; i++) {
        const ang = t * theta ** ((-2 * i) / d);
        const o = (t * h + hh) * d;
        const a = x[o + i]!;
        const b = x[o + i + half]!;
        y[o + i] = a * Math.cos(ang) - b * Math.sin(ang);
        y[o + i + half] = b * Math.cos(ang) + a * Math.sin(ang);
      }
  return y;
}

function causalAttention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  n: number,
  hq: number,
  hk: number,
  d: number,
): Float64Array {
  const o = new Float64Array(n * hq * d);
  const scale = 1 / Math.sqrt(d);
  for (let h = 0; h < hq; h++) {
    const kh = Math.floor(h / (hq / hk));
    for (let i = 0; i < n; i++) {
      const s = new Float64Array(i + 1);
      let mx = -Infinity;
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(i * hq + h) * d + c]! * k[(j * hk + kh) * d + c]!;
        s[j] = dot * scale;
        mx = Math.max(mx, s[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) {
        s[j] = Math.exp(s[j]! - mx);
        sum += s[j]!;
      }
      for (let j = 0; j <= i; j++)
        for (let c = 0; c < d; c++) o[(i * hq + h) * d + c] += (s[j]! / sum) * v[(j * hk + kh) * d + c]!;
    }
  }
  return o;
}

function blockReference(x: Float64Array, n: number, w: Record<string, Float64Array>): Float64Array {
  const { hidden: D, heads: H, kvHeads: K, headDim: hd, ffn: F } = BLOCK;
  const h = rmsnorm(x, w.attn_norm!, n, D, BLOCK.eps!);
  const q = rope(matmul(h, w.wq!, n, D, H * hd), n, H, hd, BLOCK.theta!);
  const k = rope(matmul(h, w.wk!, n, D, K * hd), n, K, hd, BLOCK.theta!);
  const v = matmul(h, w.wv!, n, D, K * hd);
  const o = causalAttention(q, k, v, n, H, K, hd);
  const x1 = matmul(o, w.wo!, n, H * hd, D).map((val, i) => val + x[i]!);
  const h2 = rmsnorm(x1, w.mlp_norm!, n, D, BLOCK.eps!);
  const gate = matmul(h2, w.w_gate!, n, D, F);
  const up = matmul(h2, w.w_up!, n, D, F);
  const g = gate.map((a, i) => (a / (1 + Math.exp(-a))) * up[i]!);
  return matmul(g, w.w_down!, n, F, D).map((val, i) => val + x1[i]!);
}

const blockKernelsReady = hasOp('rope') && hasOp('attention');

async function runBlock(backend: Backend, ns: number[], tol: number): Promise<void> {
  const rng = new Rng(seed ^ 0xb10c);
  const { executable } = compileModule(moduleOf([llamaBlockFunc(BLOCK)]));
  const compileId = executable.compileId;
  const vm = new VirtualMachine(executable, backend);
  const wv: Record<string, Float64Array> = {};
  const weights = Object.entries(BLOCK_SHAPES).map(([k, s]) => {
    const scale = s.length === 1 ? 1 : 1 / Math.sqrt(s[0]!);
    wv[k] = toFloat64(
      'f32',
      toHost('f32', s.length === 1 ? rng.normals(s[0]!, 0.1).map((v) => 1 + v) : rng.normals(s[0]! * s[1]!, scale)),
    );
    return upload(backend, s, wv[k]!);
  });
  for (const n of ns) {
    const xd = toFloat64('f32', toHost('f32', rng.normals(n * BLOCK.hidden)));
    const x = upload(backend, [n, BLOCK.hidden], xd);
    const y = (await vm.run('main', [x, ...weights])) as Tensor;
    expectClose(toFloat64('f32', await backend.read(y)), blockReference(xd, n, wv), tol, `llama block n=${n}`);
    backend.free(x);
    backend.free(y);
  }
  expect(executable.compileId).toBe(compileId);
  vm.release();
  weights.forEach((t) => backend.free(t));
}

/**
 * Until the library's `rope` and `attention` ops are both in src/ops, the compiler's side of the
 * block is checked on a CPU backend whose missing ops come from this file's references.
 */
class CpuWithReferenceAttention extends CpuBackend {
  private missing(op: string): boolean {
    return (op === 'rope' || op === 'attention') && !hasOp(op);
  }
  override supportsOp(op: string): boolean {
    return this.missing(op) || super.supportsOp(op);
  }
  override run(
    op: string,
    attrs: Record<string, unknown>,
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
  ): void {
    if (!this.missing(op)) {
      super.run(op, attrs, inputs, outputs);
      return;
    }
    // run() is synchronous, so read the CPU tensor's host array directly (CpuBackend keeps it on the tensor)
    const read = (t: Tensor) =>
      toFloat64(t.dtype, (t as Tensor & { data: import('../../src/tensor/dtype.js').HostArray }).data);
    const [t0] = inputs as [Tensor];
    const out =
      op === 'rope'
        ? rope(read(t0), t0.shape[0]!, t0.shape[1]!, t0.shape[2]!, attrs.theta as number)
        : causalAttention(
            read(t0),
            read(inputs[1]!),
            read(inputs[2]!),
            t0.shape[0]!,
            t0.shape[1]!,
            inputs[1]!.shape[1]!,
            t0.shape[2]!,
          );
    super.write(outputs[0]!, toHost('f32', out));
  }
}

describe(`Llama block end to end (${seedNote(seed)})`, () => {
  it('compiles once and runs for sampled n (rope/attention from the test references where src/ops lacks them)', async () => {
    const backend = blockKernelsReady ? new CpuBackend() : new CpuWithReferenceAttention();
    await runBlock(backend, sampleNs(new Rng(seed ^ 3), 3, 200), 1e-4);
  });

  it.skipIf(!blockKernelsReady)('runs one compiled block for sampled n on the CPU backend', async () => {
    // attention is quadratic in n on the float64 oracle: CI samples n up to 300
    await runBlock(new CpuBackend(), sampleNs(new Rng(seed ^ 2), 4, 300), 1e-4);
  });
});

const gpu = await gpuBackend();

describe.skipIf(!gpu)(`end to end on WebGPU (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  // one test per build: each compiles its own pipelines, which on lavapipe take seconds apiece
  const mlps: [boolean, number[], DType][] = [
    [true, [1, 37, 4096], 'f32'],
    [false, [1, 5, 300], 'f32'],
    [false, [1, 6, 33], 'f16'],
    [true, [3, 64], 'bf16'],
  ];
  for (const [fuse, ns, dtype] of mlps) {
    it(`runs the ${fuse ? 'fused' : 'unfused'} ${dtype} MLP through generated WGSL and library kernels (n = ${ns.join(', ')})`, async () => {
      await runMlp(gpu!, fuse, ns, dtype);
    });
  }

  it('enqueues a whole call synchronously, so a fixed-n call can be recorded as a dispatch stream and replayed', async () => {
    const b = gpu!;
    const rng = new Rng(seed ^ 9);
    // stable storage: a recorded stream must never see a slot re-allocated under it
    const vm = new VirtualMachine(compileModule(moduleOf([mlpFunc(MLP)]), { fuse: false }).executable, b, {
      stableStorage: true,
    });
    const n = 9;
    const shapes = [[n, MLP.dIn], [MLP.dIn, MLP.hidden], [MLP.hidden], [MLP.hidden, MLP.dOut], [MLP.dOut]];
    const data = shapes.map((s) =>
      toFloat64(
        'f32',
        toHost(
          'f32',
          rng.normals(
            s.reduce((a, d) => a * d, 1),
            0.5,
          ),
        ),
      ),
    );
    const args = shapes.map((s, i) => upload(b, s, data[i]!));
    let y: Tensor | undefined;
    const stream = b.record(() => {
      y = vm.runSync('main', args) as Tensor;
    });
    expect(stream.length).toBe(vm.stats.kernels + vm.stats.programs);
    const w = { w1: data[1]!, b1: data[2]!, w2: data[3]!, b2: data[4]! };
    for (let rep = 0; rep < 2; rep++) {
      const xd = toFloat64('f32', toHost('f32', rng.normals(n * MLP.dIn)));
      b.write(args[0]!, toHost('f32', xd));
      stream.replay();
      expectClose(toFloat64('f32', await b.read(y!)), mlpReference(xd, n, w), 1e-4, `replay ${rep}`);
    }
    stream.destroy();
    args.forEach((t) => b.free(t));
    b.free(y!);
    vm.release();
  });

  it.skipIf(!blockKernelsReady)('runs one compiled Llama block', async () => {
    await runBlock(gpu!, [1, 13, 130], 2e-3);
  });
});
