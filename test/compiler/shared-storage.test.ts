/**
 * Shared storage (`VmOptions.sharedUpTo`, storage-pool.ts): every storage token is one allocation
 * sized for the dimension bounds, and each call's tensors are prefix views of it. Calls at any
 * dimensions up to the bounds, in any order, compute what a float64 reference written here
 * computes; after the first call none allocates; a call past the bounds grows the token and stays
 * correct. On WebGPU, streams recorded at several dimensions in one shared storage replay correctly
 * in any order, and hold far less memory than one storage per dimension.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, RecordedStream, Tensor } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { compileModule } from '../../src/compiler/compile.js';
import { mlpFunc } from '../../src/compiler/demo-models.js';
import { VirtualMachine } from '../../src/compiler/vm.js';
import { moduleOf } from '../../src/ir/graph.js';
import { toFloat64, toHost } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const D = { dIn: 8, hidden: 48, dOut: 12 };
const BOUND = 64;

/** y = relu(x·w1 + b1)·w2 + b2 in float64. */
function reference(x: Float64Array, n: number, w: readonly Float64Array[]): Float64Array {
  const [w1, b1, w2, b2] = w as [Float64Array, Float64Array, Float64Array, Float64Array];
  const y = new Float64Array(n * D.dOut);
  const h = new Float64Array(D.hidden);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < D.hidden; j++) {
      let s = b1[j]!;
      for (let k = 0; k < D.dIn; k++) s += x[i * D.dIn + k]! * w1[k * D.hidden + j]!;
      h[j] = Math.max(0, s);
    }
    for (let j = 0; j < D.dOut; j++) {
      let s = b2[j]!;
      for (let k = 0; k < D.hidden; k++) s += h[k]! * w2[k * D.dOut + j]!;
      y[i * D.dOut + j] = s;
    }
  }
  return y;
}

function expectClose(got: Float64Array, want: Float64Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    if (!(Math.abs(got[i]! - want[i]!) <= 1e-4 * (1 + Math.abs(want[i]!))))
      expect.fail(`${what}: element ${i} is ${got[i]}, the reference ${want[i]}`);
}

/** The unfused MLP (kernels and tensor programs, several tokens of different shapes), its weights, and inputs at `ns`. */
function setup(backend: Backend, ns: readonly number[]) {
  const rng = new Rng(seed);
  const { executable } = compileModule(moduleOf([mlpFunc({ ...D, maxN: 4096 })]), { fuse: false });
  const shapes = [[D.dIn, D.hidden], [D.hidden], [D.hidden, D.dOut], [D.dOut]];
  const w = shapes.map((s) =>
    toFloat64(
      'f32',
      toHost(
        'f32',
        rng.normals(
          s.reduce((a, d) => a * d, 1),
          0.4,
        ),
      ),
    ),
  );
  const weights = shapes.map((shape, i) => {
    const t = backend.alloc({ dtype: 'f32', shape });
    backend.write(t, toHost('f32', w[i]!));
    return t;
  });
  const inputs = new Map<number, { x: Tensor; want: Float64Array }>();
  for (const n of ns) {
    const xd = toFloat64('f32', toHost('f32', rng.normals(n * D.dIn)));
    const x = backend.alloc({ dtype: 'f32', shape: [n, D.dIn] });
    backend.write(x, toHost('f32', xd));
    inputs.set(n, { x, want: reference(xd, n, w) });
  }
  return { executable, weights, inputs };
}

describe(`shared storage on the CPU backend (${seedNote(seed)})`, () => {
  it('runs calls at any n up to the bound in one allocation per token, then grows past it', async () => {
    const b = new CpuBackend();
    const ns = [1, 17, BOUND, 5, 33, BOUND + 36];
    const { executable, weights, inputs } = setup(b, ns);
    const vm = new VirtualMachine(executable, b, { sharedUpTo: { n: BOUND } });
    let afterFirst = -1;
    for (const n of ns) {
      const { x, want } = inputs.get(n)!;
      const y = (await vm.run('main', [x, ...weights])) as Tensor;
      expect(y.shape).toEqual([n, D.dOut]);
      expectClose(toFloat64('f32', await b.read(y)), want, `n=${n}`);
      if (afterFirst < 0) afterFirst = vm.stats.allocations;
      // sized for the bound by the first call: no call within it allocates
      else if (n <= BOUND) expect(vm.stats.allocations, `n=${n}`).toBe(afterFirst);
    }
    expect(vm.stats.allocations, 'a call past the bound grows its tokens').toBeGreaterThan(afterFirst);
    // every call within the bound shares the allocations of the first: one per token and returned tensor
    const plan = executable.funcs.get('main')!.plan;
    expect(afterFirst).toBe(plan.tokens.length + 1);
    vm.release();
  });
});

const gpu = await gpuBackend();

describe.skipIf(!gpu)(`shared storage, recorded on WebGPU${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('replays streams recorded at eight n in any order, holding the storage of the largest', async () => {
    const g = gpu!;
    const ns = [3, BOUND, 1, 40, 9, 64 - 1, 24, 2];
    const { executable, weights, inputs } = setup(g, ns);
    await g.flush();
    const held = async (vm: VirtualMachine, streams: Map<number, RecordedStream>, outs: Map<number, Tensor>) => {
      const before = g.memory().totalBytes;
      for (const n of ns)
        streams.set(
          n,
          g.record(() => outs.set(n, vm.runSync('main', [inputs.get(n)!.x, ...weights]) as Tensor)),
        );
      await g.flush();
      return g.memory().totalBytes - before;
    };
    const shared = new VirtualMachine(executable, g, { sharedUpTo: { n: BOUND } });
    const streams = new Map<number, RecordedStream>();
    const outs = new Map<number, Tensor>();
    const sharedBytes = await held(shared, streams, outs);
    // replays in an order unlike the recording's: each overwrites the shared storage before its output is read
    for (const n of [...ns].reverse().concat(ns)) {
      streams.get(n)!.replay();
      expectClose(toFloat64('f32', await g.read(outs.get(n)!)), inputs.get(n)!.want, `replay n=${n}`);
    }
    const apart = new VirtualMachine(executable, g, { stableStorage: true });
    const apartBytes = await held(apart, new Map(), new Map());
    console.log(`device bytes of ${ns.length} recordings: shared ${sharedBytes}, one storage per n ${apartBytes}`);
    // the storage of one call at the bound, against the sum over eight n (about 3.2 times the bound's)
    expect(sharedBytes).toBeLessThan(apartBytes / 2);
    for (const s of streams.values()) s.destroy();
    shared.release();
  });
});
