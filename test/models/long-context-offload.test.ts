/**
 * Moving KV pages to the long-context store on each backend: the K/V the store holds are the
 * pages' (as the pool stores them, rounded to f16), and the codes the device computed for the keys
 * (matmul against the directions, then `simhash_pack`) are the host's SimHash of those keys except
 * within rounding of a hyperplane.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { f16Bits, f16ToNumber, toFloat64 } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const SEED = 20261219;
const P = 16;
const gpu = await gpuBackend();

async function check(backend: Backend): Promise<void> {
  const model = await openLlamaModel(builtinModelPath());
  const runner = await LlamaRunner.load(model, {
    backend,
    actDtype: 'f32',
    maxTokens: 256,
    maxSeqs: 1,
    numPages: 20,
    pageSize: P,
  });
  await model.weights.close();
  try {
    const rng = new Rng(SEED);
    const prompt = Array.from({ length: 200 }, () => rng.int(3, 4000));
    const pages = Array.from({ length: 13 }, (_, i) => i);
    await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages }] });
    const cfg = { bits: 8, tables: 16 };
    runner.longContext.configure({ threshold: 1, K: cfg.bits, L: cfg.tables, sinks: P, window: 4 * P, seed: SEED });
    await runner.longContext.offload(7, pages.slice(1, 9), 1, 256);
    const poolTensor = runner.kv.pools[2]!;
    const pool = toFloat64(poolTensor.dtype, await backend.read(poolTensor));
    const { headDim: D, numKvHeads: H } = runner.config;
    let differ = 0;
    let bits = 0;
    for (let h = 0; h < H; h++) {
      const st = runner.longContext.stream(7, 2, h)!;
      expect(st.n).toBe(8 * P);
      const keys = st.keyRows(0, st.n);
      // position 16·4 + 5 (page 4, slot 5) as the pool holds it (HND: page, K|V, head, slot), rounded to f16
      const at = (((4 * 2 + 0) * H + h) * P + 5) * D;
      for (let e = 0; e < D; e++) expect(keys[(3 * P + 5) * D + e]).toBe(f16ToNumber(f16Bits(pool[at + e]!)));
      const host = st.hash.simhash.hashRows(Float32Array.from(keys), st.n);
      const w = st.hash.simhash.directions;
      for (let i = 0; i < st.n; i++) {
        const got = st.keyCodes(i);
        for (let t = 0; t < cfg.tables; t++)
          for (let b = 0; b < cfg.bits; b++) {
            bits++;
            if (((got[t]! >> b) & 1) === ((host[i * cfg.tables + t]! >> b) & 1)) continue;
            differ++;
            let s = 0;
            let mag = 0;
            for (let e = 0; e < D; e++) {
              const x = w[(t * cfg.bits + b) * D + e]! * keys[i * D + e]!;
              s += x;
              mag += Math.abs(x);
            }
            // the device sums in f32 and rounds the projection to the pool's dtype before its sign is read
            expect(Math.abs(s)).toBeLessThan(mag * 2 ** -10);
          }
      }
    }
    console.log(
      `${backend.name}: ${differ} of ${bits} key code bits differ from the host's SimHash (all at hyperplanes)`,
    );
    runner.longContext.release(7);
  } finally {
    runner.destroy();
  }
}

describe(`pages moved to the long-context store (seed ${SEED})`, () => {
  it('cpu backend', async () => check(new CpuBackend()));
  it.skipIf(!gpu)(`webgpu backend${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, async () => check(gpu!));
});
