/**
 * The attention oracle against a second, dense float64 implementation written here from the
 * definitions (softmax(q·k·scale + bias) over the visible keys, query position kvLen − qLen + i,
 * query head h reading KV head ⌊h / group⌋), over a scrambled page table with a partial last page,
 * several requests, GQA, both layouts and the built-in variants. Also merge_states and append_kv
 * against their formulas. Fixed seed 4242.
 */
import { describe, expect, it } from 'vitest';
import { type KvLayout, poolOffset, poolShape } from '../../src/attention/kv-layout.js';
import { referenceAppendKv, referenceMergeStates, referencePagedAttention } from '../../src/attention/reference.js';
import type { VariantSpec } from '../../src/attention/variants.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 4242;

interface Req {
  qLen: number;
  kvLen: number;
}
interface Built {
  q: number[][][]; // [token][head][e] of the whole batch
  k: number[][][][]; // [request][kvHead][j][e]
  v: number[][][][];
  batch: Parameters<typeof referencePagedAttention>[1];
}

function build(rng: Rng, reqs: Req[], hq: number, hk: number, d: number, pageSize: number, layout: KvLayout): Built {
  const pagesPer = reqs.map((r) => Math.ceil(r.kvLen / pageSize));
  const numPages = pagesPer.reduce((a, b) => a + b, 0) + 2;
  // scrambled page ids: request pages are not contiguous or increasing
  const ids = Array.from({ length: numPages }, (_, i) => i);
  for (let i = numPages - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const g = { numPages, pageSize, numKvHeads: hk, headDim: d, layout };
  const pool = new Float64Array(poolShape(g).reduce((a, b) => a * b, 1)).map(() => rng.normal());
  const kvIndptr = [0];
  const kvIndices: number[] = [];
  const lastPageLen: number[] = [];
  const k: number[][][][] = [];
  const v: number[][][][] = [];
  let next = 0;
  reqs.forEach((r, b) => {
    const pages = ids.slice(next, next + pagesPer[b]!);
    next += pagesPer[b]!;
    kvIndices.push(...pages);
    kvIndptr.push(kvIndices.length);
    lastPageLen.push(r.kvLen === 0 ? 0 : r.kvLen - (pagesPer[b]! - 1) * pageSize);
    const kb: number[][][] = [];
    const vb: number[][][] = [];
    for (let h = 0; h < hk; h++) {
      kb.push([]);
      vb.push([]);
      for (let j = 0; j < r.kvLen; j++) {
        const kr: number[] = [];
        const vr: number[] = [];
        for (let e = 0; e < d; e++) {
          const kv = rng.normal();
          const vv = rng.normal();
          pool[poolOffset(g, pages[Math.floor(j / pageSize)]!, 0, j % pageSize, h, e)] = kv;
          pool[poolOffset(g, pages[Math.floor(j / pageSize)]!, 1, j % pageSize, h, e)] = vv;
          kr.push(kv);
          vr.push(vv);
        }
        kb[h]!.push(kr);
        vb[h]!.push(vr);
      }
    }
    k.push(kb);
    v.push(vb);
  });
  const tokens = reqs.reduce((a, r) => a + r.qLen, 0);
  const q = Array.from({ length: tokens }, () =>
    Array.from({ length: hq }, () => Array.from({ length: d }, () => rng.normal())),
  );
  const qoIndptr = [0];
  for (const r of reqs) qoIndptr.push(qoIndptr.at(-1)! + r.qLen);
  return {
    q,
    k,
    v,
    batch: {
      q: Float64Array.from(q.flat(2)),
      qShape: [tokens, hq, d],
      pool,
      poolShape: poolShape(g),
      qoIndptr: Float64Array.from(qoIndptr),
      kvIndptr: Float64Array.from(kvIndptr),
      kvIndices: Float64Array.from(kvIndices),
      lastPageLen: Float64Array.from(lastPageLen),
    },
  };
}

/** Dense attention from the definitions; `visible` and `bias` stand in for the variant. */
function dense(
  x: Built,
  reqs: Req[],
  hq: number,
  hk: number,
  d: number,
  scale: number,
  visible: (qpos: number, kpos: number) => boolean,
  logit: (s: number, head: number, qpos: number, kpos: number) => number,
) {
  const o: number[] = [];
  const lse: number[] = [];
  let t = 0;
  reqs.forEach((r, b) => {
    for (let i = 0; i < r.qLen; i++, t++) {
      const qpos = r.kvLen - r.qLen + i;
      for (let h = 0; h < hq; h++) {
        const kvh = Math.floor(h / (hq / hk));
        const s: number[] = [];
        for (let j = 0; j < r.kvLen; j++) {
          if (!visible(qpos, j)) continue;
          let dot = 0;
          for (let e = 0; e < d; e++) dot += x.q[t]![h]![e]! * x.k[b]![kvh]![j]![e]!;
          s.push(logit(dot * scale, h, qpos, j), j);
        }
        if (s.length === 0) {
          o.push(...new Array(d).fill(0));
          lse.push(-Infinity);
          continue;
        }
        const logits = s.filter((_, n) => n % 2 === 0);
        const keys = s.filter((_, n) => n % 2 === 1);
        const m = Math.max(...logits);
        const w = logits.map((l) => Math.exp(l - m));
        const z = w.reduce((a, c) => a + c, 0);
        for (let e = 0; e < d; e++) o.push(w.reduce((a, wi, n) => a + wi * x.v[b]![kvh]![keys[n]!]![e]!, 0) / z);
        lse.push((m + Math.log(z)) / Math.LN2);
      }
    }
  });
  return { o, lse };
}

function close(got: ArrayLike<number>, want: number[]): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (want[i] === -Infinity) expect(got[i], `[${i}]`).toBe(-Infinity);
    else expect(Math.abs(got[i]! - want[i]!), `[${i}] ${got[i]} vs ${want[i]}`).toBeLessThan(1e-10);
  }
}

const reqs: Req[] = [
  { qLen: 3, kvLen: 7 }, // prefill chunk over a partial last page
  { qLen: 1, kvLen: 4 }, // decode, last page exactly full
  { qLen: 0, kvLen: 2 }, // no queries
  { qLen: 2, kvLen: 2 }, // prompt
];
const slopes8 = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => 2 ** -i);

describe(`paged attention oracle against dense attention (seed ${SEED})`, () => {
  const cases: [
    string,
    VariantSpec,
    (qpos: number, kpos: number) => boolean,
    (s: number, h: number, qpos: number, kpos: number) => number,
  ][] = [
    ['plain', {}, () => true, (s) => s],
    ['causal', { causal: true }, (qp, kp) => kp <= qp, (s) => s],
    ['causal + window 2', { causal: true, windowLeft: 2 }, (qp, kp) => kp <= qp && qp - kp <= 2, (s) => s],
    ['window 0 (own key only)', { causal: true, windowLeft: 0 }, (qp, kp) => kp === qp, (s) => s],
    ['soft-cap 1.5', { softCap: 1.5 }, () => true, (s) => 1.5 * Math.tanh(s / 1.5)],
    ['alibi (8 heads)', { alibi: true }, () => true, (s, h, qp, kp) => s + slopes8[h]! * (kp - qp)],
  ];
  for (const layout of ['NHD', 'HND'] as const) {
    for (const [name, variant, visible, logit] of cases) {
      it(`${layout} ${name}: 8 query heads on 2 KV heads, page size 3`, () => {
        const rng = new Rng(SEED);
        const [hq, hk, d] = [8, 2, 4];
        const x = build(rng, reqs, hq, hk, d, 3, layout);
        const got = referencePagedAttention({ layout, variant }, x.batch);
        const want = dense(x, reqs, hq, hk, d, 1 / Math.sqrt(d), visible, logit);
        close(got.o, want.o);
        close(got.lse, want.lse);
      });
    }
  }
  it('an explicit scale replaces 1/√D; one KV head serves every query head', () => {
    const rng = new Rng(SEED + 1);
    const x = build(rng, reqs, 3, 1, 2, 2, 'NHD');
    const got = referencePagedAttention({ layout: 'NHD', variant: { causal: true }, scale: 0.3 }, x.batch);
    const want = dense(
      x,
      reqs,
      3,
      1,
      2,
      0.3,
      (qp, kp) => kp <= qp,
      (s) => s,
    );
    close(got.o, want.o);
    close(got.lse, want.lse);
  });
  it('rope: keys and queries rotated by their positions before the dot product', () => {
    const rng = new Rng(SEED + 2);
    const d = 4;
    const r: Req[] = [{ qLen: 2, kvLen: 3 }];
    const x = build(rng, r, 2, 2, d, 2, 'NHD');
    const rot = (row: number[], pos: number) => {
      const f = [1, 0.01]; // 10000^(−2i/4)
      return row.map((val, i) => {
        const a = pos * f[i % 2]!;
        return i < 2 ? val * Math.cos(a) - row[i + 2]! * Math.sin(a) : val * Math.cos(a) + row[i - 2]! * Math.sin(a);
      });
    };
    const rotated: Built = {
      ...x,
      q: x.q.map((tok, i) => tok.map((h) => rot(h, 1 + i))),
      k: x.k.map((b) => b.map((h) => h.map((row, j) => rot(row, j)))),
    };
    const got = referencePagedAttention({ layout: 'NHD', variant: { rope: { theta: 10000 } } }, x.batch);
    const want = dense(
      rotated,
      r,
      2,
      2,
      d,
      1 / Math.sqrt(d),
      () => true,
      (s) => s,
    );
    close(got.o, want.o);
    close(got.lse, want.lse);
  });
});

describe('merge_states and append_kv by their formulas', () => {
  it('merges (v, lse) pairs with weights 2^lse, −∞ states contributing nothing', () => {
    const va = Float64Array.from([1, 2, 5, 6, 9, 9]);
    const vb = Float64Array.from([3, 4, 7, 8, 1, 1]);
    const sa = Float64Array.from([1, -Infinity, 0]);
    const sb = Float64Array.from([3, 2, -Infinity]);
    const { v, s } = referenceMergeStates(va, sa, vb, sb, 2);
    // row 0: weights 2 and 8 → (2·1 + 8·3)/10, (2·2 + 8·4)/10; lse log2 10
    expect(v[0]).toBeCloseTo(2.6, 14);
    expect(v[1]).toBeCloseTo(3.6, 14);
    expect(s[0]).toBeCloseTo(Math.log2(10), 14);
    expect([v[2], v[3], s[1]]).toEqual([7, 8, 2]);
    expect([v[4], v[5], s[2]]).toEqual([9, 9, 0]);
    const none = referenceMergeStates(
      Float64Array.from([1]),
      Float64Array.from([-Infinity]),
      Float64Array.from([2]),
      Float64Array.from([-Infinity]),
      1,
    );
    expect(none.s[0]).toBe(-Infinity);
  });

  it('writes each new token at the end of its request, through the page table', () => {
    // page size 2, 1 head, D 1; request 0 holds pages [3, 1] with 3 tokens (2 new), request 1 page [0] with 1 token (1 new)
    const g = { numPages: 4, pageSize: 2, numKvHeads: 1, headDim: 1, layout: 'NHD' as const };
    const pool = new Float64Array(16).fill(-1);
    const out = referenceAppendKv(
      'NHD',
      pool,
      poolShape(g),
      Float64Array.from([10, 11, 12]),
      Float64Array.from([20, 21, 22]),
      [0, 2, 3],
      [0, 2, 3],
      [3, 1, 0],
      [1, 1],
    );
    // request 0: positions 1 and 2 → page 3 slot 1, page 1 slot 0; request 1: position 0 → page 0 slot 0
    const at = (page: number, kv: 0 | 1, slot: number) => out[poolOffset(g, page, kv, slot, 0, 0)];
    expect([at(3, 0, 1), at(1, 0, 0), at(0, 0, 0)]).toEqual([10, 11, 12]);
    expect([at(3, 1, 1), at(1, 1, 0), at(0, 1, 0)]).toEqual([20, 21, 22]);
    expect(out.filter((x) => x === -1)).toHaveLength(16 - 6);
    expect(pool.every((x) => x === -1)).toBe(true);
  });
});
