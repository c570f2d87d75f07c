/**
 * Float64 oracles for the attention ops: what the kernels must compute, written for clarity.
 * Log-sum-exps are base 2 (lse = log2 Σ 2^(s·log2 e)), FlashInfer's convention, so partial
 * states from split KV or a cascade merge exactly: o = Σ 2^(lse_i − lse) o_i.
 */
import { type KvLayout, kvLength, poolGeometry, poolOffset } from './kv-layout.js';
import { type MaskContext, type VariantContext, type VariantSpec, variantParts } from './variants.js';

export interface PagedAttentionArgs {
  readonly layout: KvLayout;
  readonly variant: VariantSpec;
  readonly scale?: number;
}

export interface RaggedBatch {
  readonly q: Float64Array;
  readonly qShape: readonly number[];
  readonly pool: Float64Array;
  readonly poolShape: readonly number[];
  readonly qoIndptr: Float64Array;
  readonly kvIndptr: Float64Array;
  readonly kvIndices: Float64Array;
  readonly lastPageLen: Float64Array;
  readonly mask?: Float64Array;
  readonly maskIndptr?: Float64Array;
}

/** The number of requests the arrays describe: indptr may be padded past the batch with repeats. */
export function batchSize(qoIndptr: ArrayLike<number>): number {
  return qoIndptr.length - 1;
}

export function referencePagedAttention(a: PagedAttentionArgs, x: RaggedBatch): { o: Float64Array; lse: Float64Array } {
  const [, hq, d] = x.qShape as [number, number, number];
  const g = poolGeometry(x.poolShape, a.layout);
  const group = hq / g.numKvHeads;
  const scale = a.scale ?? 1 / Math.sqrt(d);
  const parts = variantParts(a.variant);
  const vctx: VariantContext = { headDim: d, numQoHeads: hq };
  const transform = parts.find((p) => p.qkTransform)?.qkTransform;
  const o = new Float64Array(x.q.length);
  const lse = new Float64Array(x.q.length / d).fill(-Infinity);
  const qrow = new Float64Array(d);
  const krow = new Float64Array(d);
  const rotate = (row: Float64Array, pos: number, isKey: boolean): void => {
    if (!transform) return;
    const src = row.slice();
    for (let i = 0; i < d; i++) row[i] = transform.ref(src[i]!, src[(i + d / 2) % d]!, i, pos, isKey, vctx);
  };
  for (let b = 0; b < batchSize(x.qoIndptr); b++) {
    const q0 = x.qoIndptr[b]!;
    const qLen = x.qoIndptr[b + 1]! - q0;
    const kvLen = kvLength(x.kvIndptr, x.lastPageLen, g.pageSize, b);
    // keys (and values) of this request, gathered through the page table and transformed once per head
    const keys: Float64Array[][] = [];
    for (let h = 0; h < g.numKvHeads; h++) {
      keys.push([]);
      for (let j = 0; j < kvLen; j++) {
        const page = x.kvIndices[x.kvIndptr[b]! + Math.floor(j / g.pageSize)]!;
        for (let e = 0; e < d; e++) krow[e] = x.pool[poolOffset(g, page, 0, j % g.pageSize, h, e)]!;
        rotate(krow, j, true);
        keys[h]!.push(krow.slice());
      }
    }
    const value = (h: number, j: number, e: number): number =>
      x.pool[poolOffset(g, x.kvIndices[x.kvIndptr[b]! + Math.floor(j / g.pageSize)]!, 1, j % g.pageSize, h, e)]!;
    for (let qi = 0; qi < qLen; qi++) {
      const qpos = kvLen - qLen + qi;
      for (let head = 0; head < hq; head++) {
        const h = Math.floor(head / group);
        const base = ((q0 + qi) * hq + head) * d;
        for (let e = 0; e < d; e++) qrow[e] = x.q[base + e]!;
        rotate(qrow, qpos, false);
        const logits = new Float64Array(kvLen).fill(-Infinity);
        let max = -Infinity;
        for (let j = 0; j < kvLen; j++) {
          const c: MaskContext = {
            b,
            qi,
            qpos,
            kpos: j,
            head,
            kvLen,
            numQoHeads: hq,
            mask: x.mask,
            maskOffset: x.maskIndptr?.[b],
          };
          if (!parts.every((p) => !p.mask || p.mask.ref(c))) continue;
          let s = 0;
          const k = keys[h]![j]!;
          for (let e = 0; e < d; e++) s += qrow[e]! * k[e]!;
          s *= scale;
          for (const p of parts) if (p.logits) s = p.logits.ref(s, c);
          logits[j] = s * Math.LOG2E;
          max = Math.max(max, logits[j]!);
        }
        if (max === -Infinity) continue; // no visible key: o = 0, lse = −∞
        let sum = 0;
        for (let j = 0; j < kvLen; j++) sum += 2 ** (logits[j]! - max);
        for (let j = 0; j < kvLen; j++) {
          const p = 2 ** (logits[j]! - max) / sum;
          if (p === 0) continue;
          for (let e = 0; e < d; e++) o[base + e] += p * value(h, j, e);
        }
        for (const p of parts) if (p.output) for (let e = 0; e < d; e++) o[base + e] = p.output.ref(o[base + e]!, head);
        lse[(q0 + qi) * hq + head] = max + Math.log2(sum);
      }
    }
  }
  return { o, lse };
}

/** merge_states: (va, sa) ⊕ (vb, sb) per row of D values, lse base 2. */
export function referenceMergeStates(
  va: Float64Array,
  sa: Float64Array,
  vb: Float64Array,
  sb: Float64Array,
  d: number,
): { v: Float64Array; s: Float64Array } {
  const v = new Float64Array(va.length);
  const s = new Float64Array(sa.length);
  for (let r = 0; r < sa.length; r++) {
    const m = Math.max(sa[r]!, sb[r]!);
    if (m === -Infinity) {
      s[r] = -Infinity;
      continue;
    }
    const wa = 2 ** (sa[r]! - m);
    const wb = 2 ** (sb[r]! - m);
    const sum = wa + wb;
    for (let e = 0; e < d; e++) v[r * d + e] = (wa * va[r * d + e]! + wb * vb[r * d + e]!) / sum;
    s[r] = m + Math.log2(sum);
  }
  return { v, s };
}

/**
 * append_kv: the pool with request b's new tokens (k/v rows appendIndptr[b]…[b+1]) written at the
 * end of its KV, whose page table already counts them.
 */
export function referenceAppendKv(
  layout: KvLayout,
  pool: Float64Array,
  poolShape: readonly number[],
  k: Float64Array,
  v: Float64Array,
  appendIndptr: ArrayLike<number>,
  kvIndptr: ArrayLike<number>,
  kvIndices: ArrayLike<number>,
  lastPageLen: ArrayLike<number>,
): Float64Array {
  const g = poolGeometry(poolShape, layout, 'append_kv');
  const out = pool.slice();
  const row = g.numKvHeads * g.headDim;
  for (let b = 0; b < appendIndptr.length - 1; b++) {
    const n = appendIndptr[b + 1]! - appendIndptr[b]!;
    const kvLen = kvLength(kvIndptr, lastPageLen, g.pageSize, b);
    for (let i = 0; i < n; i++) {
      const pos = kvLen - n + i;
      const page = kvIndices[kvIndptr[b]! + Math.floor(pos / g.pageSize)]!;
      const t = appendIndptr[b]! + i;
      for (let h = 0; h < g.numKvHeads; h++) {
        for (let e = 0; e < g.headDim; e++) {
          out[poolOffset(g, page, 0, pos % g.pageSize, h, e)] = k[t * row + h * g.headDim + e]!;
          out[poolOffset(g, page, 1, pos % g.pageSize, h, e)] = v[t * row + h * g.headDim + e]!;
        }
      }
    }
  }
  return out;
}
