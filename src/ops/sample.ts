/**
 * `sample`: one token per row of logits [R, V], with per-row parameters in a u32 [R, 8] tensor
 * (`packSampleParams`): temperature, top-k, top-p, min-p, and the (seed, stream, step) that name
 * the row's uniform number u = uniformAt(seed, stream, step) (`util/rng.ts`, reproduced in WGSL).
 * Seeds live with the request, not the batch row, so a request draws the same tokens whatever
 * batch it rides in; `stream` separates parallel samples (n > 1) of one seed.
 *
 * Semantics (HF's warper order: temperature, top-k, top-p, min-p), all as thresholds on the logit:
 * - temperature ≤ 0: greedy (argmax, ties → lowest index); otherwise w_i = exp((x_i − max)/T);
 * - top-k (0 < k < V): keep x ≥ the k-th largest logit (ties at the boundary all kept, as HF);
 * - top-p (0 < p < 1): among the top-k survivors, keep x ≥ v where v is the value at which the mass
 *   of strictly larger logits is < p·Z ≤ the mass of logits ≥ v (all ties of the boundary kept);
 * - min-p (p > 0): keep w_i ≥ minP (min-p relative to the top token);
 * then u picks token i whose interval [C_{i−1}, C_i) of the kept weights' running sum, in index
 * order, holds u·Σw (an inverse CDF; no sort needed).
 */
import { uniformAt } from '../util/rng.js';
import { toHost } from '../tensor/dtype.js';
import { argmaxRow } from './argmax.js';
import { defineOp } from './op-spec.js';
import { FLOAT_DTYPES } from './test-data.js';

export interface SampleRowParams {
  /** ≤ 0 means greedy. */
  readonly temperature: number;
  /** 0 (or ≥ V) disables. */
  readonly topK?: number;
  /** Outside (0, 1) disables. */
  readonly topP?: number;
  /** ≤ 0 disables. */
  readonly minP?: number;
  readonly seed: number;
  readonly stream?: number;
  readonly step: number;
}

export const SAMPLE_PARAM_WORDS = 8;

/** Row layout: [temperature f32 bits, topK, topP f32 bits, minP f32 bits, seed, stream, step, 0]. */
export function packSampleParams(rows: readonly SampleRowParams[], padTo = rows.length): Uint32Array {
  // rows past the given ones are zeros: temperature 0, a greedy draw (the pad rows of a batch bucket)
  const out = new Uint32Array(Math.max(padTo, rows.length) * SAMPLE_PARAM_WORDS);
  const f = new Float32Array(out.buffer);
  rows.forEach((r, i) => {
    const o = i * SAMPLE_PARAM_WORDS;
    f[o] = r.temperature;
    out[o + 1] = Math.max(0, Math.floor(r.topK ?? 0));
    f[o + 2] = r.topP ?? 1;
    f[o + 3] = r.minP ?? 0;
    out[o + 4] = r.seed >>> 0;
    out[o + 5] = (r.stream ?? 0) >>> 0;
    out[o + 6] = r.step >>> 0;
  });
  return out;
}

/** Decodes one row of the params tensor (as the reference sees it: float64 copies of u32 words). */
export function unpackSampleParams(p: ArrayLike<number>, row: number): Required<SampleRowParams> {
  const w = new Uint32Array(SAMPLE_PARAM_WORDS);
  for (let i = 0; i < SAMPLE_PARAM_WORDS; i++) w[i] = p[row * SAMPLE_PARAM_WORDS + i]!;
  const f = new Float32Array(w.buffer);
  return { temperature: f[0]!, topK: w[1]!, topP: f[2]!, minP: f[3]!, seed: w[4]!, stream: w[5]!, step: w[6]! };
}

/** Float64 weights exp((x − max)/T) of one row. */
export function rowWeights(x: ArrayLike<number>, o: number, V: number, T: number): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, x[o + i]!);
  const w = new Float64Array(V);
  for (let i = 0; i < V; i++) w[i] = Math.exp((x[o + i]! - m) / T);
  return w;
}

/** The k-th largest value of the row (top-k threshold). */
export function topKThreshold(x: ArrayLike<number>, o: number, V: number, k: number): number {
  const s = Float64Array.from({ length: V }, (_, i) => x[o + i]!).sort();
  return s[V - k]!;
}

/**
 * Top-p boundary candidates: distinct logits v (among those ≥ floor) taken in decreasing order with
 * their cumulative mass; the boundary is the first whose cumulative mass reaches p·Z. With slack
 * `eps` (a fraction of Z), every value whose mass interval comes within eps of p·Z is returned:
 * those a slightly different float sum could choose.
 */
export function topPCandidates(
  x: ArrayLike<number>,
  o: number,
  V: number,
  w: Float64Array,
  floor: number,
  p: number,
  eps: number,
): number[] {
  const idx = [...Array(V).keys()].filter((i) => x[o + i]! >= floor).sort((a, b) => x[o + b]! - x[o + a]!);
  let Z = 0;
  for (const i of idx) Z += w[i]!;
  const target = p * Z;
  const out: number[] = [];
  let before = 0;
  for (let j = 0; j < idx.length; ) {
    const v = x[o + idx[j]!]!;
    let mass = 0;
    for (; j < idx.length && x[o + idx[j]!]! === v; j++) mass += w[idx[j]!]!;
    const after = before + mass;
    if (eps === 0 ? after >= target : after >= target - eps * Z && before < target + eps * Z) out.push(v);
    if (eps === 0 && out.length) break;
    before = after;
  }
  return out.length ? out : [x[o + idx[idx.length - 1]!]!];
}

/** Token whose CDF interval (index order, weights of x ≥ thr) holds u; also the interval. */
export function drawToken(
  x: ArrayLike<number>,
  o: number,
  V: number,
  w: Float64Array,
  thr: number,
  u: number,
): { token: number; cdf: Float64Array; Z: number } {
  const cdf = new Float64Array(V);
  let Z = 0;
  for (let i = 0; i < V; i++) cdf[i] = Z += x[o + i]! >= thr ? w[i]! : 0;
  const target = u * Z;
  let token = -1;
  for (let i = 0; i < V && token < 0; i++) if (x[o + i]! >= thr && target < cdf[i]!) token = i;
  if (token < 0) for (let i = V - 1; i >= 0 && token < 0; i--) if (x[o + i]! >= thr) token = i;
  return { token, cdf, Z };
}

/** Keep-set thresholds of a row: exact (eps = 0), or every threshold a nearly-equal float computation could produce. */
export function rowThresholds(
  x: ArrayLike<number>,
  o: number,
  V: number,
  prm: Required<SampleRowParams>,
  w: Float64Array,
  eps: number,
): number[] {
  const tk = prm.topK > 0 && prm.topK < V ? topKThreshold(x, o, V, prm.topK) : -Infinity;
  const tps = prm.topP > 0 && prm.topP < 1 ? topPCandidates(x, o, V, w, tk, prm.topP, eps) : [-Infinity];
  let tms = [-Infinity];
  if (prm.minP > 0) {
    let m = -Infinity;
    for (let i = 0; i < V; i++) m = Math.max(m, x[o + i]!);
    const tm = m + prm.temperature * Math.log(prm.minP);
    const slack = eps * (Math.abs(m) + Math.abs(tm) + 1);
    // the sets {x ≥ τ} for τ in [tm − slack, tm + slack]: one per logit inside the band, and the strictest
    tms = [tm + slack];
    for (let i = 0; i < V; i++) if (Math.abs(x[o + i]! - tm) <= slack) tms.push(x[o + i]!);
    if (eps === 0) tms = [tm];
  }
  const out = new Set<number>();
  for (const a of tps) for (const b of tms) out.add(Math.max(tk, a, b));
  return [...out];
}

/** Slack, as a fraction of the row's total weight, for f32 sums of V weights on a GPU. */
export function sampleEps(V: number): number {
  return 1e-5 + 5e-10 * V;
}

function checkShapes(inputs: readonly { dtype: string; shape: readonly number[] }[]): { R: number; V: number } {
  if (inputs.length !== 2) throw new Error(`sample: takes 2 inputs (logits, params), ${inputs.length} given`);
  const [x, p] = inputs as [{ dtype: string; shape: readonly number[] }, { dtype: string; shape: readonly number[] }];
  if (x.shape.length !== 2 || !FLOAT_DTYPES.includes(x.dtype as never))
    throw new Error(`sample: logits must be a float [R, V] tensor, got ${x.dtype} [${x.shape.join(', ')}]`);
  const [R, V] = x.shape as [number, number];
  if (V < 1) throw new Error('sample: empty vocabulary');
  if (p.dtype !== 'u32' || p.shape.length !== 2 || p.shape[0] !== R || p.shape[1] !== SAMPLE_PARAM_WORDS) {
    throw new Error(
      `sample: params must be u32 [${R}, ${SAMPLE_PARAM_WORDS}] (see packSampleParams), got ${p.dtype} [${p.shape.join(', ')}]`,
    );
  }
  return { R, V };
}

export interface SampleAttrs {
  readonly [key: string]: unknown;
}

export const sampleOp = defineOp<SampleAttrs>({
  name: 'sample',
  outputs(_attrs, inputs) {
    const { R } = checkShapes(inputs);
    return [{ dtype: 'i32', shape: [R] }];
  },
  reference(_attrs, [x, params], inDescs) {
    const { R, V } = checkShapes(inDescs);
    const out = new Float64Array(R);
    for (let r = 0; r < R; r++) {
      const prm = unpackSampleParams(params!, r);
      if (!(prm.temperature > 0)) {
        out[r] = argmaxRow(x!, r * V, V);
        continue;
      }
      const w = rowWeights(x!, r * V, V, prm.temperature);
      const [thr] = rowThresholds(x!, r * V, V, prm, w, 0);
      out[r] = drawToken(x!, r * V, V, w, thr!, uniformAt(prm.seed, prm.stream, prm.step)).token;
    }
    return [out];
  },
  cases(rng, { big }) {
    const shapes: [number, number][] = [
      [3, 1],
      [rng.int(4, 9), rng.int(2, 9) | 1],
      [rng.int(5, 12), rng.int(100, 400) | 1],
      [rng.int(3, 6), rng.int(1500, 3000)],
      [2, rng.int(4097, 6000)],
    ];
    if (big) shapes.push([8, 128256], [64, 32000]);
    return shapes.map(([R, V]) => {
      const dtype = rng.pick(FLOAT_DTYPES);
      const ties = rng.next() < 0.3;
      // logits ~N(0, 2²): dozens of tokens share the mass, so a wrong filter or draw picks a different one
      const vals = rng.normals(R * V, 2).map((v) => (ties ? Math.round(v * 2) / 2 : v));
      const rows: SampleRowParams[] = Array.from({ length: R }, () => ({
        temperature: rng.next() < 0.15 ? 0 : rng.uniform(0.3, 1.6),
        topK: rng.pick([0, 0, 1, 3, 20, V, V + 5]),
        topP: rng.pick([1, 1, 0.95, 0.7, 0.3]),
        minP: rng.pick([0, 0, 0.02, 0.2]),
        seed: rng.int(0, 0xffffffff),
        stream: rng.pick([0, rng.int(0, 0xffffffff)]),
        step: rng.int(0, 100000),
      }));
      return {
        label: `${dtype} ${ties ? 'ties ' : ''}${R}x${V}`,
        attrs: {},
        inputs: [
          { desc: { dtype, shape: [R, V] }, data: toHost(dtype, vals) },
          { desc: { dtype: 'u32' as const, shape: [R, SAMPLE_PARAM_WORDS] }, data: packSampleParams(rows) },
        ],
      };
    });
  },
  tolerance() {
    return { abs: 0, rel: 0 };
  },
  check: checkSampled,
});

/**
 * Accepts token g of a row when g is greedy's argmax (temperature ≤ 0), or when, for some keep-set
 * a float32 computation could have produced, g is kept and u lies within eps of g's CDF interval
 * [C_{g−1}, C_g)/Z. A wrong filter, draw or index lands outside those intervals except with
 * probability ~eps per row.
 */
export function checkSampled(
  _attrs: SampleAttrs,
  [x, params]: readonly Float64Array[],
  [got]: readonly Float64Array[],
): string | null {
  const R = got!.length;
  const V = x!.length / R;
  const eps = sampleEps(V);
  for (let r = 0; r < R; r++) {
    const g = got![r]!;
    const o = r * V;
    const prm = unpackSampleParams(params!, r);
    if (!(prm.temperature > 0)) {
      const want = argmaxRow(x!, o, V);
      if (g !== want) return `row ${r} (greedy): token ${g}, want ${want}`;
      continue;
    }
    if (!Number.isInteger(g) || g < 0 || g >= V) return `row ${r}: token ${g} is not in [0, ${V})`;
    const u = uniformAt(prm.seed, prm.stream, prm.step);
    const w = rowWeights(x!, o, V, prm.temperature);
    const thresholds = rowThresholds(x!, o, V, prm, w, eps);
    const ok = thresholds.some((thr) => {
      if (!(x![o + g]! >= thr)) return false;
      const { cdf, Z } = drawToken(x!, o, V, w, thr, u);
      const lo = (g > 0 ? cdf[g - 1]! : 0) / Z;
      const hi = cdf[g]! / Z;
      return u >= lo - eps && u <= hi + eps;
    });
    if (!ok) {
      const want = sampleOp.reference(
        {},
        [x!, params!],
        [
          { dtype: 'f32', shape: [R, V] },
          { dtype: 'u32', shape: [R, SAMPLE_PARAM_WORDS] },
        ],
        [],
      )[0]![r];
      return `row ${r}: token ${g} is outside its CDF interval for u = ${u} (float64 draws ${want}; params ${JSON.stringify(prm)})`;
    }
  }
  return null;
}
