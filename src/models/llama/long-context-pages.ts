/**
 * KV pages leaving the device for the long-context store: every layer's pages gathered into one
 * tensor (an `embedding` row gather over the pool viewed as [pages, page elements]), their rows
 * hashed there (a matmul against the SimHash directions in the pool's dtype, then `simhash_pack`),
 * and the K/V and the keys' codes read back, per layer and KV head in position order.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { poolGeometry, poolOffset } from '../../attention/kv-layout.js';
import { type HostArray, toFloat64 } from '../../tensor/dtype.js';

export interface MovedHead {
  /** [pages·P, D] */
  readonly keys: Float64Array;
  readonly values: Float64Array;
  /** [pages·P, L]; zeros when K = 0 (every key in every bucket). */
  readonly codes: Uint16Array;
}

/** [layer][kv head] of the `pages` (in position order); `directions` [L·K, D] is null for K = 0. */
export async function gatherPages(
  backend: Backend,
  pools: readonly Tensor[],
  layout: 'NHD' | 'HND',
  pages: readonly number[],
  directions: Tensor | null,
  K: number,
  L: number,
): Promise<MovedHead[][]> {
  const ids = backend.alloc({ dtype: 'i32', shape: [pages.length] }, 'longctx.offload_ids');
  const temps: Tensor[] = [ids];
  try {
    backend.write(ids, Int32Array.from(pages));
    const reads: Promise<[HostArray, HostArray | null]>[] = [];
    for (const pool of pools) {
      const D = pool.shape[4]!;
      const rowElems = pool.shape.slice(1).reduce((a, b) => a * b, 1);
      const table = backend.view(pool, [pool.shape[0]!, rowElems]);
      const out = backend.alloc({ dtype: pool.dtype, shape: [pages.length, rowElems] }, 'longctx.offload');
      temps.push(out);
      backend.run('embedding', {}, [table, ids], [out]);
      let codes: Tensor | null = null;
      if (directions) {
        // every row of D (keys and values alike: the pool interleaves them by page) times the directions
        const rows = (pages.length * rowElems) / D;
        const proj = backend.alloc({ dtype: pool.dtype, shape: [rows, L * K] }, 'longctx.offload_proj');
        codes = backend.alloc({ dtype: 'u32', shape: [rows, Math.ceil(L / 2)] }, 'longctx.offload_codes');
        temps.push(proj, codes);
        backend.run(
          'matmul',
          { transB: true, outDtype: pool.dtype },
          [backend.view(out, [rows, D]), directions],
          [proj],
        );
        backend.run('simhash_pack', { bits: K, tables: L }, [proj], [codes]);
      }
      const c = codes;
      reads.push(Promise.all([backend.read(out), c ? backend.read(c) : Promise.resolve(null)]));
    }
    const data = await Promise.all(reads);
    const words = Math.ceil(L / 2);
    return data.map(([raw, rawCodes], layer) => {
      const pool = pools[layer]!;
      const x = toFloat64(pool.dtype, raw);
      // codes u32 [rows, ⌈L/2⌉] read as u16: row r's L codes start at u16 index r·2·words
      const packed = rawCodes ? new Uint16Array(rawCodes.buffer, rawCodes.byteOffset, rawCodes.length * 2) : null;
      const g = { ...poolGeometry(pool.shape, layout), numPages: pages.length };
      const { pageSize: P, headDim: D, numKvHeads } = g;
      const n = pages.length * P;
      return Array.from({ length: numKvHeads }, (_, h) => {
        const keys = new Float64Array(n * D);
        const values = new Float64Array(n * D);
        const codes = new Uint16Array(n * L);
        for (let p = 0; p < pages.length; p++)
          for (let t = 0; t < P; t++) {
            const kAt = poolOffset(g, p, 0, t, h, 0);
            const vAt = poolOffset(g, p, 1, t, h, 0);
            const row = p * P + t;
            keys.set(x.subarray(kAt, kAt + D), row * D);
            values.set(x.subarray(vAt, vAt + D), row * D);
            if (packed) codes.set(packed.subarray((kAt / D) * 2 * words, (kAt / D) * 2 * words + L), row * L);
          }
        return { keys, values, codes };
      });
    });
  } finally {
    // temps only: the pool views share the pools' storage
    for (const t of temps) backend.free(t);
  }
}
