/**
 * Schedule primitives on loop-nest programs (`src/ir/tir/loop-schedule.ts`), the never-negative
 * analysis (`loop-nonneg.ts`) and what the codegen refuses. Each rewrite is checked by running the
 * generated JavaScript of the original and the scheduled program on the same seeded inputs (the
 * original's meaning is a float64 row sum computed here), and by the WGSL text where the schedule
 * is what changes it (vec4 bindings, the lane sum, the workgroup ranges of fused parts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generateLoopJs } from '../../src/compiler/codegen/js-loop-nest.js';
import { LoopCodegenError, generateLoopWgsl } from '../../src/compiler/codegen/wgsl-loop-nest.js';
import { type LoopProgram, assign, dims, forLoop, letS, store, varS } from '../../src/ir/tir/loop-nest.js';
import { nonNegativeNames } from '../../src/ir/tir/loop-nonneg.js';
import {
  ScheduleError,
  bind,
  fuse,
  fuseHorizontal,
  reorder,
  rfactor,
  split,
  vectorize,
} from '../../src/ir/tir/loop-schedule.js';
import { bin, flt, indexLoad, int, load, pvar as v } from '../../src/ir/tir/program.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
afterAll(() => console.log(`loop schedule: ${seedNote(seed)}`));

/** y[i] = Σ_j a[i, j] over an m × n matrix. */
const rowSum = (): LoopProgram => ({
  name: 'row_sum',
  inputs: [{ name: 'a', dtype: 'f32', shape: dims('m', 'n') }],
  outputs: [{ name: 'y', dtype: 'f32', shape: dims('m') }],
  body: [
    forLoop('i', int(0), v('m'), [
      varS('acc', flt(0)),
      forLoop('j', int(0), v('n'), [assign('acc', bin('+', v('acc'), load('a', [v('i'), v('j')])))]),
      store('y', [v('i')], v('acc')),
    ]),
  ],
});

function runRowSum(p: LoopProgram, m: number, n: number): { got: Float32Array; want: Float64Array } {
  const a = Float32Array.from(new Rng(seed ^ (m * 31 + n)).normals(m * n));
  const got = new Float32Array(m).fill(Number.NaN);
  const js = generateLoopJs(p);
  const env: Record<string, number> = { m, n };
  js.run(
    [a, got],
    js.dims.map((d) => env[d]!),
  );
  const want = new Float64Array(m);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) want[i] += a[i * n + j]!;
  return { got, want };
}

const close = (got: Float32Array, want: Float64Array) =>
  Array.from(got).every((g, i) => Math.abs(g - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)));

describe(`loop-nest schedule primitives (${seedNote(seed)})`, () => {
  it('split with a factor that does not divide the extent guards the tail: every output, once', () => {
    const p = bind(bind(split(rowSum(), 'i', 4, { outer: 'ib', inner: 'ir' }), 'ib', 'workgroup'), 'ir', 'thread');
    const { got, want } = runRowSum(p, 10, 7);
    expect(close(got, want)).toBe(true);
    expect(generateLoopWgsl(p).workgroupSize).toBe(4);
  });

  it('vectorize + rfactor: a vec4 dot of the row, finished by a sum of the lanes', () => {
    let p = rfactor(vectorize(rowSum(), 'j', 'jv', 'jl'), 'jv', 'jl');
    p = bind(bind(split(p, 'i', 8, { outer: 'ib', inner: 'ir' }), 'ib', 'workgroup'), 'ir', 'thread');
    const { got, want } = runRowSum(p, 9, 12);
    expect(close(got, want)).toBe(true);
    const wgsl = generateLoopWgsl(p).wgsl;
    expect(wgsl).toContain('var<storage, read> a: array<vec4<f32>>');
    expect(wgsl).toContain('dot(v_jl_part, vec4<f32>(1.0))');
  });

  it('reorder swaps two directly nested loops, and refuses bounds that depend on the outer one', () => {
    const p = reorder(split(rowSum(), 'i', 3, { outer: 'io', inner: 'ii' }), 'io', 'ii');
    expect(close(...(Object.values(runRowSum(p, 8, 5)) as [Float32Array, Float64Array]))).toBe(true);
    const tri: LoopProgram = {
      ...rowSum(),
      body: [forLoop('i', int(0), v('m'), [forLoop('j', int(0), v('i'), [])])],
    };
    expect(() => reorder(tri, 'i', 'j')).toThrow(ScheduleError);
    expect(() => reorder(rowSum(), 'i', 'j')).toThrow(/not the whole body/);
  });

  it('fuse makes one index space of two loops', () => {
    const scale: LoopProgram = {
      name: 'scale',
      inputs: [{ name: 'a', dtype: 'f32', shape: dims('m', 'n') }],
      outputs: [{ name: 'y', dtype: 'f32', shape: dims('m', 'n') }],
      body: [
        forLoop('i', int(0), v('m'), [
          forLoop('j', int(0), v('n'), [store('y', [v('i'), v('j')], bin('*', load('a', [v('i'), v('j')]), flt(2)))]),
        ]),
      ],
    };
    const p = bind(
      bind(split(fuse(scale, 'i', 'j', 'o'), 'o', 16, { outer: 'ob', inner: 'oi' }), 'ob', 'workgroup'),
      'oi',
      'thread',
    );
    const a = Float32Array.from(new Rng(seed).normals(5 * 7));
    const y = new Float32Array(35).fill(Number.NaN);
    const js = generateLoopJs(p);
    js.run(
      [a, y],
      js.dims.map((d) => ({ m: 5, n: 7 })[d]!),
    );
    expect(Array.from(y)).toEqual(Array.from(a).map((x) => Math.fround(x * 2)));
  });

  it('bind refuses a thread loop of data-dependent extent and a vector loop of other than 4 lanes', () => {
    expect(() => bind(rowSum(), 'j', 'thread')).toThrow(/constant extent/);
    expect(() => bind(split(rowSum(), 'j', 8, { outer: 'jo', inner: 'ji' }), 'ji', 'vector')).toThrow(/4 lanes/);
  });

  it('the codegen refuses a lane that is not the trailing term of the last index', () => {
    const transpose: LoopProgram = {
      name: 'transpose',
      inputs: [{ name: 'a', dtype: 'f32', shape: dims('m', 'n') }],
      outputs: [{ name: 'y', dtype: 'f32', shape: dims('n', 'm') }],
      body: [
        forLoop('i', int(0), v('m'), [
          forLoop('j', int(0), v('n'), [store('y', [v('j'), v('i')], load('a', [v('i'), v('j')]))]),
        ]),
      ],
    };
    const p = bind(vectorize(transpose, 'j'), 'i', 'workgroup');
    expect(() => generateLoopWgsl(p)).toThrow(LoopCodegenError);
  });

  it('a sum across a thread loop: a tree in workgroup memory, the guard around it a store predicate', () => {
    let p = reorder(split(rowSum(), 'j', 8, { outer: 'js', inner: 'jt' }), 'js', 'jt');
    p = bind(p, 'jt', 'thread');
    p = bind(bind(split(p, 'i', 4, { outer: 'ib', inner: 'ir' }), 'ib', 'workgroup'), 'ir', 'thread');
    const { got, want } = runRowSum(p, 10, 21);
    expect(close(got, want)).toBe(true);
    const wgsl = generateLoopWgsl(p).wgsl;
    expect(wgsl).toContain('var<workgroup> tess_red0: array<f32, 32>');
    expect(wgsl).toContain('workgroupBarrier();');
    // the guard is a predicate of the store, and of the summing loop's threads the first one writes
    expect(wgsl).toMatch(/if \(tess_p0_0 && \(\(lid \/ 1u\) % 8u == 0u\)\) \{ y\[/);
  });

  it('the codegen refuses a thread loop writing an outer variable other than as a sum', () => {
    const p: LoopProgram = {
      ...rowSum(),
      body: [
        forLoop('i', int(0), v('m'), [
          varS('last', flt(0)),
          forLoop('j', int(0), int(8), [assign('last', load('a', [v('i'), v('j')]))]),
          store('y', [v('i')], v('last')),
        ]),
      ],
    };
    expect(() => generateLoopWgsl(bind(bind(p, 'i', 'workgroup'), 'j', 'thread'))).toThrow(/other than as a sum/);
  });

  it("a split's tail guard ends the loop; a look-alike guard under a tighter bound does not", () => {
    let p = reorder(split(rowSum(), 'j', 8, { outer: 'js', inner: 'jt' }), 'js', 'jt');
    p = bind(bind(p, 'jt', 'thread'), 'i', 'workgroup');
    expect(generateLoopWgsl(p).wgsl).toContain('for (var v_js = 0; (((v_js * 8) + v_jt) < v_n); v_js++)');
    const tight: LoopProgram = {
      ...rowSum(),
      body: [
        forLoop('i', int(0), v('m'), [
          forLoop('t', int(0), int(1), [
            forLoop('s', int(0), int(3), [
              {
                k: 'if',
                c: bin('<', bin('+', bin('*', v('s'), int(2)), v('t')), v('n')),
                yes: [store('y', [v('s')], flt(1))],
              },
            ]),
          ]),
        ]),
      ],
    };
    const wgsl = generateLoopWgsl(bind(bind(tight, 'i', 'workgroup'), 't', 'thread')).wgsl;
    expect(wgsl).toContain('for (var v_s = 0; v_s < 3; v_s++)');
  });

  it('horizontal fusion puts the parts in consecutive workgroup ranges', () => {
    const part = (name: string, out: string): LoopProgram => ({
      name,
      inputs: [{ name: 'a', dtype: 'f32', shape: dims('m', 'n') }],
      outputs: [{ name: out, dtype: 'f32', shape: dims('m') }],
      body: [
        forLoop('i', int(0), v('m'), [
          forLoop('t', int(0), int(1), [store(out, [v('i')], load('a', [v('i'), int(0)]))]),
        ]),
      ],
    });
    const sched = (p: LoopProgram) => bind(bind(p, 'i', 'workgroup'), 't', 'thread');
    const fused = fuseHorizontal('two', [sched(part('p0', 'y0')), sched(part('p1', 'y1'))]);
    expect(fused.inputs.map((b) => b.name)).toEqual(['a']);
    const wgsl = generateLoopWgsl(fused).wgsl;
    // the second part starts where the first part's m workgroups end
    expect(wgsl).toContain('i32(tess_g) - (v_m - 0) + 0');
    expect(() => fuseHorizontal('bad', [rowSum()])).toThrow(/workgroup loops at the top level/);
  });
});

describe('never-negative names', () => {
  const prog = (body: LoopProgram['body']): LoopProgram => ({
    name: 'n',
    inputs: [{ name: 'ix', dtype: 'i32', shape: dims('m') }],
    outputs: [],
    body,
  });
  it('a binary search bound stays non-negative; a decrement or a loaded value is not proven', () => {
    const names = nonNegativeNames(
      prog([
        varS('lo', int(0)),
        varS('hi', v('m')),
        letS('mid', bin('floordiv', bin('+', v('lo'), v('hi')), int(2))),
        assign('lo', bin('+', v('mid'), int(1))),
        assign('hi', v('mid')),
        varS('down', v('m')),
        assign('down', bin('-', v('down'), int(1))),
        letS('col', indexLoad('ix', [int(0)])),
        forLoop('e', v('col'), v('m'), []),
      ]),
    );
    expect([...names].sort()).toEqual(['hi', 'lo', 'm', 'mid']);
  });
});
