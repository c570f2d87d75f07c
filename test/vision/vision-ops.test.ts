/**
 * The NHWC image ops through the whole compiler (legalize → fuse → plan → lower) on the CPU
 * backend and on WebGPU, against the float64 loops of src/vision/reference-ops.ts, at odd image
 * sizes: one compiled function per case serves every height and width.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { compileModule } from '../../src/compiler/compile.js';
import { VirtualMachine } from '../../src/compiler/vm.js';
import { FunctionBuilder } from '../../src/ir/builder.js';
import { moduleOf } from '../../src/ir/graph.js';
import { op } from '../../src/ir/op.js';
import { sym } from '../../src/ir/sym/sym.js';
import { visitExpr } from '../../src/ir/tir/program.js';
import { tensorType } from '../../src/ir/types.js';
import { toFloat64, toHost } from '../../src/tensor/dtype.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import {
  type MapF64,
  concatChannelsF64,
  conv2dF64,
  geluF64,
  mapOf,
  resizeNearestF64,
} from '../../src/vision/reference-ops.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const C = 5;
const O = 6;
const SIZES: [number, number][] = [
  [13, 17],
  [1, 1],
  [2, 9],
  [8, 8],
];

interface ConvCase {
  readonly k: number;
  readonly stride: number;
  readonly padding: number;
  /** Grouped cases set their own channel counts (C and O divisible by groups). */
  readonly groups?: number;
  readonly c?: number;
  readonly o?: number;
}
const CONVS: ConvCase[] = [
  { k: 3, stride: 1, padding: 1 },
  { k: 3, stride: 2, padding: 1 },
  { k: 1, stride: 1, padding: 0 },
  { k: 3, stride: 1, padding: 0 },
  { k: 3, stride: 1, padding: 1, groups: 6, c: 6, o: 6 },
  { k: 3, stride: 2, padding: 1, groups: 3, c: 6, o: 9 },
];
const chans = (cc: ConvCase) => ({ c: cc.c ?? C, o: cc.o ?? O, groups: cc.groups ?? 1 });

/** gelu(conv2d(x, w) + b), resized to 2H × 2W, concatenated with a 2H × 2W skip input. */
function buildCase(cc: ConvCase) {
  const { c, o, groups } = chans(cc);
  const b = new FunctionBuilder('main', { upper: { h: 64, w: 64 } });
  const x = b.param('x', tensorType('f32', [1, 'h', 'w', c]));
  const w = b.param('w', tensorType('f32', [o, c / groups, cc.k, cc.k]));
  const bias = b.param('bias', tensorType('f32', [o]));
  const skip = b.param('skip', tensorType('f32', [1, sym('h').mul(2), sym('w').mul(2), 2]));
  const out = b.dataflow(() => {
    const y = b.emit(op.gelu(op.conv2d(x, w, { stride: cc.stride, padding: cc.padding, groups, bias })), 'y');
    const up = b.emit(op.resizeNearest(y, sym('h').mul(2), sym('w').mul(2)), 'up');
    return b.emit(op.concat([up, skip], -1), 'out');
  });
  return b.finish(out);
}

function reference(cc: ConvCase, x: MapF64, w: Float64Array, bias: Float64Array, skip: MapF64): MapF64 {
  const { o, groups } = chans(cc);
  const y = conv2dF64(x, w, o, cc.k, { stride: cc.stride, padding: cc.padding, groups, bias });
  const g = mapOf(y.n, y.h, y.w, y.c, y.data.map(geluF64));
  return concatChannelsF64(resizeNearestF64(g, 2 * x.h, 2 * x.w), skip);
}

function upload(be: Backend, shape: number[], data: Float64Array): Tensor {
  const t = be.alloc({ dtype: 'f32', shape });
  be.write(t, toHost('f32', data));
  return t;
}

async function runCase(be: Backend, cc: ConvCase): Promise<void> {
  const rng = new Rng(seed ^ (cc.k * 131 + cc.stride * 17 + cc.padding + (cc.groups ?? 0) * 1009));
  const { executable } = compileModule(moduleOf([buildCase(cc)]));
  const vm = new VirtualMachine(executable, be);
  const round = (a: Float64Array) => toFloat64('f32', toHost('f32', a));
  const { c, o, groups } = chans(cc);
  const w = round(rng.normals(((o * c) / groups) * cc.k * cc.k, 0.4));
  const bias = round(rng.normals(o, 0.2));
  for (const [h, wd] of SIZES) {
    if (h < cc.k - 2 * cc.padding || wd < cc.k - 2 * cc.padding) continue;
    const x = mapOf(1, h, wd, c, round(rng.normals(h * wd * c)));
    const skip = mapOf(1, 2 * h, 2 * wd, 2, round(rng.normals(4 * h * wd * 2)));
    const want = reference(cc, x, w, bias, skip);
    const args = [
      upload(be, [1, h, wd, c], x.data),
      upload(be, [o, c / groups, cc.k, cc.k], w),
      upload(be, [o], bias),
      upload(be, [1, 2 * h, 2 * wd, 2], skip.data),
    ];
    const y = (await vm.run('main', args)) as Tensor;
    expect(y.shape).toEqual([1, want.h, want.w, want.c]);
    const got = toFloat64('f32', await be.read(y));
    let worst = 0;
    for (let i = 0; i < got.length; i++) {
      const err = Math.abs(got[i]! - want.data[i]!) / (1 + Math.abs(want.data[i]!));
      if (!(err <= 1e-4)) expect.fail(`${h}×${wd} element ${i}: got ${got[i]} want ${want.data[i]}`);
      worst = Math.max(worst, err);
    }
    [...args, y].forEach((t) => be.free(t));
  }
  vm.release();
}

const title = (cc: ConvCase) =>
  `conv ${cc.k}×${cc.k} stride ${cc.stride} padding ${cc.padding}${cc.groups ? ` groups ${cc.groups} (${cc.c}→${cc.o} channels)` : ''} + bias + gelu, ×2 resize, concat`;

describe(`vision ops on the CPU backend (${seedNote(seed)})`, () => {
  for (const cc of CONVS) it(title(cc), async () => runCase(new CpuBackend(), cc));

  it('deduces symbolic output sizes: ⌊(h + 2p − k)/s⌋ + 1', () => {
    const f = buildCase(CONVS[1]!);
    const y = f.blocks[0]!.bindings.find((bd) => bd.var.name === 'y')!;
    expect(String(y.var.type.k === 'tensor' && y.var.type.shape)).toMatch(/floordiv/);
  });

  it('keeps a thread per output for convolutions, fused bias and GELU included (their reductions are short, their outputs many)', () => {
    // 32 input channels: a reduction of 288 terms, past the length that gets a workgroup elsewhere
    const b = new FunctionBuilder('wide', { upper: { h: 64, w: 64 } });
    const x = b.param('x', tensorType('f32', [1, 'h', 'w', 32]));
    const w = b.param('w', tensorType('f32', [8, 32, 3, 3]));
    const bias = b.param('bias', tensorType('f32', [8]));
    const y = b.dataflow(() => b.emit(op.gelu(op.conv2d(x, w, { padding: 1, bias }))));
    const { module } = compileModule(moduleOf([b.finish(y)]));
    const convs = [...module.programs.values()].filter((p) => p.name.includes('conv2d'));
    expect(convs.length).toBeGreaterThan(0);
    for (const p of convs) {
      expect(p.schedule.reduction).toBe('thread');
      expect(p.epilogue).toBeDefined();
    }
  });

  it('keeps a resize + concat (and the zero padding) before a convolution as its own pass, the weight output-channel minor', () => {
    const b = new FunctionBuilder('decoder', { upper: { h: 64, w: 64 } });
    const x = b.param('x', tensorType('f32', [1, 'h', 'w', 8]));
    const skip = b.param('skip', tensorType('f32', [1, sym('h').mul(2), sym('w').mul(2), 4]));
    const w = b.param('w', tensorType('f32', [4, 12, 3, 3]));
    const y = b.dataflow(() => {
      const up = b.emit(op.concat([op.resizeNearest(x, sym('h').mul(2), sym('w').mul(2)), skip], -1), 'up');
      return b.emit(op.conv2d(up, w, { padding: 1 }));
    });
    const { module } = compileModule(moduleOf([b.finish(y)]));
    const progs = [...module.programs.values()];
    const convs = progs.filter((p) => p.kind === 'reduction');
    expect(convs.length).toBe(1);
    expect(convs[0]!.inputs.length).toBe(2);
    // the weight arrives as [KH, KW, C, O]: consecutive threads (output channels) read consecutive weights
    expect(convs[0]!.inputs.map((i) => i.shape.map(String).join('×'))).toContain('3×3×12×4');
    // the padding is applied in that pass too: each term is a multiply of two loads, nothing else
    const kinds = new Set<string>();
    visitExpr(convs[0]!.body, (e) => {
      kinds.add(e.k === 'bin' ? e.op : e.k);
    });
    expect(kinds.has('floordiv')).toBe(false);
    expect(kinds.has('select')).toBe(false);
    expect(kinds.has('min')).toBe(false);
    expect(progs.some((p) => p.kind === 'injective' && p.name.includes('resize_nearest'))).toBe(true);
  });

  it('rejects a weight whose input channels differ from the image', () => {
    const b = new FunctionBuilder('bad');
    const x = b.param('x', tensorType('f32', [1, 'h', 'w', 3]));
    const w = b.param('w', tensorType('f32', [4, 2, 3, 3]));
    expect(() => b.dataflow(() => b.emit(op.conv2d(x, w, { padding: 1 })))).toThrow(/input channels differ/);
  });
});

const gpu = await gpuBackend();
describe.skipIf(!gpu)(`vision ops on WebGPU (${seedNote(seed)})${gpu ? '' : ` — skipped: ${gpuSkipReason()}`}`, () => {
  for (const cc of CONVS) it(title(cc), async () => runCase(gpu!, cc));
});
