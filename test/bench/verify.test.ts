/**
 * A benchmark whose answer is wrong exits 1 and writes no result file. Pure TypeScript (no GPU):
 * a small GEMM with one corrupted output entry goes through the same check bench/gemm.ts uses,
 * then through writeResults; `process.exit` is intercepted so the test sees the exit code.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { row, writeResults } from '../../bench/results.js';
import { Check, type Verified, checkSampledProduct, compareGreedy } from '../../bench/verify.js';
import { Rng } from '../../src/util/rng.js';
import { f16Bits, f16ToNumber } from '../../src/tensor/dtype.js';

const SEED = 4242;

class Exit extends Error {
  constructor(readonly code: number | string | null | undefined) {
    super(`process.exit(${code})`);
  }
}

/** A K-deep f16 product computed like the device does (f32 accumulation, f16 output), as float64 readers. */
function smallGemm(M: number, N: number, K: number, seed: number) {
  const rng = new Rng(seed);
  const f16 = (x: number) => f16ToNumber(f16Bits(x));
  const a = Float64Array.from({ length: M * K }, () => f16(rng.uniform(-1, 1)));
  const b = Float64Array.from({ length: K * N }, () => f16(rng.uniform(-1, 1)));
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc = Math.fround(acc + a[i * K + k]! * b[k * N + j]!);
      c[i * N + j] = f16(acc);
    }
  }
  return { a, b, c };
}

function check(M: number, N: number, K: number, c: Float64Array, a: Float64Array, b: Float64Array, samples: number) {
  return checkSampledProduct({
    M,
    N,
    K,
    a: (i, k) => a[i * K + k]!,
    b: (k, j) => b[k * N + j]!,
    c: (i, j) => c[i * N + j]!,
    acc: 'f32',
    out: 'f16',
    exactProducts: true,
    samples,
    seed: SEED,
  });
}

describe(`a benchmark that gets its answer wrong (seed ${SEED})`, () => {
  let out: string;
  let exit: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    out = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
    vi.stubEnv('BENCH_OUT', out);
    exit = vi.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Exit(code);
    });
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'log').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
    rmSync(out, { recursive: true, force: true });
  });

  /** The end of a GEMM bench: check, then write; returns the exit code (null when it wrote). */
  function gemmBench(
    c: Float64Array,
    a: Float64Array,
    b: Float64Array,
    M: number,
    N: number,
    K: number,
  ): number | string | null | undefined {
    try {
      const v = new Check('gemm-selftest');
      // sampled like the device bench, densely enough (seeded) that every entry is drawn here
      const r = check(M, N, K, c, a, b, 20 * M * N);
      v.that(
        r.worst <= 1,
        `${M}x${N}x${K} within tolerance of float64`,
        `worst ${r.worst.toFixed(3)}× at ${r.at.join(',')}`,
      );
      writeResults(
        'gemm-selftest',
        'cpu (test)',
        [
          row({
            case: 'tiny',
            metric: 'TFLOP/s',
            higherIsBetter: true,
            ours: 1,
            anchor: null,
            anchorName: null,
            limit: null,
            limitName: null,
            anchorWhyNull: 'test',
          }),
        ],
        'test',
        v.passed(),
      );
      return null;
    } catch (e) {
      if (e instanceof Exit) return e.code;
      throw e;
    }
  }

  it('a correct tiny GEMM passes and writes its result', () => {
    const { a, b, c } = smallGemm(8, 12, 512, SEED);
    expect(gemmBench(c, a, b, 8, 12, 512)).toBeNull();
    expect(readdirSync(out)).toHaveLength(1);
  });

  it('one corrupted output entry exits 1 and writes nothing', () => {
    const { a, b, c } = smallGemm(8, 12, 512, SEED);
    // a missing 16-deep slice of the dot product: small next to Σ|ab|, far outside the tolerance
    let slice = 0;
    for (let k = 0; k < 16; k++) slice += a[3 * 512 + k]! * b[k * 12 + 5]!;
    c[3 * 12 + 5] = f16ToNumber(f16Bits(c[3 * 12 + 5]! - slice));
    expect(Math.abs(slice)).toBeGreaterThan(0.05);
    expect(gemmBench(c, a, b, 8, 12, 512)).toBe(1);
    expect(exit).toHaveBeenCalledWith(1);
    expect(readdirSync(out)).toHaveLength(0);
  });

  it('a NaN output exits 1', () => {
    const { a, b, c } = smallGemm(4, 4, 64, SEED + 1);
    c[0] = NaN;
    expect(gemmBench(c, a, b, 4, 4, 64)).toBe(1);
    expect(readdirSync(out)).toHaveLength(0);
  });

  it('writeResults refuses without a passed check, with a forged token, or with an unexplained null anchor', () => {
    const rows = [
      row({
        case: 'x',
        metric: 'ms',
        higherIsBetter: false,
        ours: 1,
        anchor: null,
        anchorName: null,
        limit: null,
        limitName: null,
        anchorWhyNull: 'test',
      }),
    ];
    const attempt = (f: () => void) => {
      try {
        f();
        return null;
      } catch (e) {
        if (e instanceof Exit) return e.code;
        throw e;
      }
    };
    expect(attempt(() => writeResults('x', 'cpu', rows, '', { bench: 'x', checks: [] } as unknown as Verified))).toBe(
      1,
    );
    expect(attempt(() => writeResults('x', 'cpu', rows, '', undefined as unknown as Verified))).toBe(1);
    const other = new Check('y');
    other.that(true, 'something');
    expect(attempt(() => writeResults('x', 'cpu', rows, '', other.passed()))).toBe(1);
    expect(attempt(() => new Check('x').passed())).toBe(1);
    const ok = new Check('x');
    ok.that(true, 'something');
    const bare = [
      row({
        case: 'x',
        metric: 'ms',
        higherIsBetter: false,
        ours: 1,
        anchor: null,
        anchorName: null,
        limit: null,
        limitName: null,
      }),
    ];
    expect(attempt(() => writeResults('x', 'cpu', bare, '', ok.passed()))).toBe(1);
    expect(existsSync(join(out, 'x'))).toBe(false);
    expect(readdirSync(out)).toHaveLength(0);
  });
});

describe('greedy tokens against a reference', () => {
  const step = (token: number, values: number[]) => ({
    token,
    topIds: values.map((_, k) => token + k),
    topValues: values,
    maxAbsLogit: 10,
  });
  it('accepts identical picks and a swap at a near-tie, rejects a swap outside it', () => {
    const ref = [step(5, [9, 8.99, 7]), step(7, [9, 8, 7]), step(1, [9, 8, 7])];
    const near = compareGreedy([5, 7, 1], ref, 0.02);
    expect(near).toMatchObject({ identical: 3, wrong: null });
    const tie = compareGreedy([6, 7, 1], ref, 0.02);
    expect(tie.nearTies).toEqual([{ step: 0, ours: 6, theirs: 5, margin: expect.closeTo(0.001, 6) }]);
    expect(tie.wrong).toBeNull();
    const wrong = compareGreedy([5, 8, 1], ref, 0.02);
    expect(wrong.wrong).toMatchObject({ step: 1, ours: 8, theirs: 7 });
    expect(compareGreedy([5, 7, 99], ref, 0.02).wrong?.why).toMatch(/not in the reference's top 3/);
  });
});
