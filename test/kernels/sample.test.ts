import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { type SampleRowParams, checkSampled, packSampleParams, sampleOp } from '../../src/ops/sample.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const gpus = await gpuBackends();
const all: { name: string; backend: Backend }[] = [{ name: 'cpu', backend: new CpuBackend() }, ...gpus];

async function sample(b: Backend, logits: Float32Array, V: number, rows: SampleRowParams[]): Promise<number[]> {
  const R = rows.length;
  const x = b.alloc({ dtype: 'f32', shape: [R, V] });
  const p = b.alloc({ dtype: 'u32', shape: [R, 8] });
  const y = b.alloc({ dtype: 'i32', shape: [R] });
  b.write(x, logits);
  b.write(p, packSampleParams(rows));
  b.run('sample', {}, [x, p], [y]);
  await b.flush();
  const out = [...(await b.read(y))];
  for (const t of [x, p, y]) b.free(t);
  return out;
}

function tile(row: number[], R: number): Float32Array {
  const out = new Float32Array(R * row.length);
  for (let r = 0; r < R; r++) out.set(row, r * row.length);
  return out;
}

const LOGITS = [1.0, 0.2, 2.0, -0.5, 1.5, 0.0];
const probs = (keep: number[]) => {
  const w = LOGITS.map((v, i) => (keep.includes(i) ? Math.exp(v) : 0));
  const z = w.reduce((a, b) => a + b);
  return w.map((v) => v / z);
};

describe('sample draws from the right distribution', () => {
  const R = 3000;
  const cases: [string, Partial<SampleRowParams>, number[]][] = [
    ['plain', {}, [0, 1, 2, 3, 4, 5]],
    ['top-k 2', { topK: 2 }, [2, 4]],
    ['top-p 0.6', { topP: 0.6 }, [2, 4]], // p(2) ≈ 0.38 < 0.6 ≤ p(2) + p(4) ≈ 0.61
    ['min-p 0.3', { minP: 0.3 }, [0, 2, 4]], // exp(x − 2) ≥ 0.3 ⇔ x ≥ 0.796
  ];
  for (const { name, backend } of all) {
    for (const [label, extra, keep] of cases) {
      it(`${name}: ${label}: frequencies within 5σ of the renormalised probabilities`, async () => {
        const rows = Array.from({ length: R }, (_, i) => ({ temperature: 1, seed: 99, step: i, ...extra }));
        const got = await sample(backend, tile(LOGITS, R), LOGITS.length, rows);
        const p = probs(keep);
        for (let v = 0; v < LOGITS.length; v++) {
          const n = got.filter((t) => t === v).length;
          if (p[v] === 0) expect(n, `token ${v} must never be drawn`).toBe(0);
          else expect(Math.abs(n / R - p[v]!)).toBeLessThan(5 * Math.sqrt((p[v]! * (1 - p[v]!)) / R));
        }
      });
    }
    it(`${name}: temperature 0 is greedy, ties to the lowest index`, async () => {
      const got = await sample(
        backend,
        tile([0, 3, 1, 3], 4),
        4,
        Array.from({ length: 4 }, (_, i) => ({ temperature: 0, seed: i, step: i })),
      );
      expect(got).toEqual([1, 1, 1, 1]);
    });
  }
});

describe('the conformance check can fail', () => {
  // flat-ish logits: many tokens share the mass, so a wrong token rarely sits within eps of u's interval
  const rng = new Rng(5);
  const R = 200;
  const V = 64;
  const x = Float64Array.from(rng.normals(R * V));
  const rows = Array.from({ length: R }, (_, i) => ({ temperature: 1, topK: i % 2 ? 10 : 0, seed: 7, step: i }));
  const params = Float64Array.from(packSampleParams(rows));
  const descs = [
    { dtype: 'f32' as const, shape: [R, V] },
    { dtype: 'u32' as const, shape: [R, 8] },
  ];
  const want = sampleOp.reference({}, [x, params], descs, [])[0]!;
  const rejected = (tokens: Float64Array) => {
    let n = 0;
    for (let r = 0; r < R; r++) {
      const one = Float64Array.from(tokens.subarray(r, r + 1));
      if (checkSampled({}, [x.subarray(r * V, r * V + V), params.subarray(r * 8, r * 8 + 8)], [one])) n++;
    }
    return n;
  };
  it('accepts the float64 draw', () => {
    expect(checkSampled({}, [x, params], [want])).toBeNull();
  });
  it('rejects neighbours of the right token, greedy tokens and constant tokens', () => {
    expect(rejected(want.map((t) => (t + 1) % V))).toBeGreaterThan(R * 0.9);
    const greedy = Float64Array.from({ length: R }, (_, r) => {
      let b = 0;
      for (let i = 1; i < V; i++) if (x[r * V + i]! > x[r * V + b]!) b = i;
      return b;
    });
    expect(rejected(greedy)).toBeGreaterThan(R * 0.6);
    expect(rejected(new Float64Array(R).fill(3))).toBeGreaterThan(R * 0.9);
  });
});

describe('sample on a 128256-token vocabulary', () => {
  for (const { name, backend } of gpusOrSkip(gpus)) {
    it(`${name}: top-k, top-p and min-p rows agree with the float64 draw`, async () => {
      const rng = new Rng(11);
      const V = 128256;
      const rows = [
        { temperature: 0.8, topK: 50, topP: 0.9, seed: 1, step: 17 },
        { temperature: 1.0, seed: 2, step: 3 },
        { temperature: 0.7, topP: 0.95, minP: 0.05, seed: 3, step: 9 },
        { temperature: 0, seed: 4, step: 1 },
      ];
      const logits = Float32Array.from(rng.normals(rows.length * V, 3));
      const got = await sample(backend, logits, V, rows);
      const msg = checkSampled(
        {},
        [Float64Array.from(logits), Float64Array.from(packSampleParams(rows))],
        [Float64Array.from(got)],
      );
      expect(msg).toBeNull();
    });
  }
});

describe('sample with masked (−inf) logits, as grammar-constrained decoding produces', () => {
  for (const { name, backend } of all) {
    it(`${name}: only unmasked tokens are drawn, under every filter`, async () => {
      const V = 300;
      const allowed = [7, 150, 151, 299];
      const row = Array.from({ length: V }, (_, i) => (allowed.includes(i) ? (i % 5) * 0.3 : -Infinity));
      const filters = [{}, { topK: 2 }, { topK: 50 }, { topP: 0.5 }, { minP: 0.1 }, { temperature: 0 }];
      const rows = Array.from({ length: 240 }, (_, i) => ({
        temperature: 1,
        seed: 5,
        step: i,
        ...filters[i % filters.length],
      }));
      const got = await sample(backend, tile(row, rows.length), V, rows);
      expect(got.every((t) => allowed.includes(t))).toBe(true);
      expect(new Set(got).size).toBeGreaterThan(1);
    });
  }
});

describe('sample inputs', () => {
  it('rejects params of the wrong shape or type', () => {
    expect(() =>
      sampleOp.outputs({}, [
        { dtype: 'f32', shape: [2, 9] },
        { dtype: 'u32', shape: [2, 4] },
      ]),
    ).toThrow(/params must be u32 \[2, 8\]/);
    expect(() =>
      sampleOp.outputs({}, [
        { dtype: 'f32', shape: [2, 9] },
        { dtype: 'f32', shape: [2, 8] },
      ]),
    ).toThrow(/packSampleParams/);
    expect(() =>
      sampleOp.outputs({}, [
        { dtype: 'i32', shape: [2, 9] },
        { dtype: 'u32', shape: [2, 8] },
      ]),
    ).toThrow(/logits must be a float/);
  });
});
