import { describe, expect, it } from 'vitest';
import { LshIndex, SimHash } from '../../src/longctx/index.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 20261209;

describe('LshIndex', () => {
  it('candidates are the keys colliding in at least T tables, counted by brute force', () => {
    console.log(`lsh-index seed ${SEED}`);
    const rng = new Rng(SEED);
    const d = 16;
    const n = 400;
    const keys = Float32Array.from(rng.normals(n * d));
    for (const cfg of [
      { bits: 3, tables: 6, minCollisions: 2, seed: SEED },
      { bits: 4, tables: 10, minCollisions: 3, seed: SEED + 1 },
      { bits: 2, tables: 4, minCollisions: 1, seed: SEED + 2 },
    ]) {
      const index = LshIndex.build(keys, n, d, cfg);
      const h = new SimHash(d, cfg);
      const keyCodes = h.hashRows(keys, n);
      for (let qi = 0; qi < 5; qi++) {
        const q = Float32Array.from(rng.normals(d));
        const qc = new Uint16Array(cfg.tables);
        h.hashRow(q, 0, qc);
        const lo = qi === 4 ? 37 : 0;
        const hi = qi === 4 ? 301 : n;
        const want: number[] = [];
        for (let i = lo; i < hi; i++) {
          let c = 0;
          for (let t = 0; t < cfg.tables; t++) c += keyCodes[i * cfg.tables + t] === qc[t] ? 1 : 0;
          if (c >= cfg.minCollisions) want.push(i);
        }
        expect([...index.candidates(q, lo, hi)]).toEqual(want);
        // the collision counts are cleared between queries: the same query gives the same set
        expect([...index.candidates(q, lo, hi)]).toEqual(want);
      }
    }
  });

  it('with no bits every key collides in every table', () => {
    const rng = new Rng(SEED + 3);
    const keys = Float32Array.from(rng.normals(10 * 4));
    const index = LshIndex.build(keys, 10, 4, { bits: 0, tables: 3, minCollisions: 3, seed: 1 });
    expect([...index.candidates(Float32Array.from(rng.normals(4)))]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
