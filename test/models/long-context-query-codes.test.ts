/**
 * Under MagicPIG the runner hashes each layer's queries on the device (a matmul against the SimHash
 * directions, then `simhash_pack`, as moved keys are hashed) and reads the codes back beside q. The
 * codes read back must be SimHash's codes of the q read back, row for row (every query head of
 * every token), computed here in float64 with the same seeded, f16-rounded directions; a table
 * may differ only where one of its projections is within rounding of zero. The scan's candidates
 * are the keys those codes select (≥ 2 colliding tables), head by head.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { HeapSimHash } from '../../src/longctx/heap-simhash.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import type { HostArray } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const SEED = 20261207;
const P = 16;
const PROMPT = 160;
const [K, L] = [4, 32];

async function codesOfOneStep(backend: Backend) {
  const model = await openLlamaModel(builtinModelPath());
  const runner = await LlamaRunner.load(model, {
    backend,
    actDtype: 'f32',
    maxTokens: 256,
    maxSeqs: 2,
    numPages: 32,
    pageSize: P,
  });
  await model.weights.close();
  try {
    const lc = runner.longContext;
    lc.configure({ threshold: 1, K, L, sinks: P, window: 4 * P, seed: SEED });
    const rng = new Rng(SEED);
    const prompt = Array.from({ length: PROMPT }, () => rng.int(3, 4000));
    const pages = Array.from({ length: PROMPT / P + 1 }, (_, i) => i);
    await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages }] });
    const moved = pages.slice(1, PROMPT / P - 4);
    await lc.offload(7, moved, 1, PROMPT + 1);
    const candidates0 = lc.stats.middleCandidates;
    const reads: { label: string; data: HostArray }[] = [];
    const read = backend.read.bind(backend);
    backend.read = async (t: Tensor) => {
      const data = await read(t);
      reads.push({ label: t.label ?? '', data });
      return data;
    };
    try {
      await runner.forward({
        seqs: [{ tokens: [5], start: PROMPT, pages: pages.map((p) => (moved.includes(p) ? -1 : p)), longContext: 7 }],
      });
    } finally {
      backend.read = read;
    }
    // candidates by the host's codes of the queries read back: keys colliding in ≥ 2 tables
    const { numLayers, numHeads: H, numKvHeads, headDim: D } = runner.config;
    const { simhash } = new HeapSimHash(D, { bits: K, tables: L, minCollisions: 2, seed: SEED });
    const qReads = reads.filter((r) => r.data.length === H * D);
    let hostCandidates = 0;
    for (let layer = 0; layer < numLayers; layer++) {
      const qCodes = simhash.hashRows(qReads[layer]!.data, H);
      for (let h = 0; h < H; h++) {
        const stream = lc.stream(7, layer, Math.floor(h / (H / numKvHeads)))!;
        const keyCodes = stream.codeRows(0, stream.n);
        for (let i = 0; i < stream.n; i++) {
          let hits = 0;
          for (let t = 0; t < L; t++) if (keyCodes[i * L + t] === qCodes[h * L + t]) hits++;
          if (hits >= 2) hostCandidates++;
        }
      }
    }
    lc.release(7);
    return { reads, cfg: runner.config, hostCandidates, candidates: lc.stats.middleCandidates - candidates0 };
  } finally {
    runner.destroy();
  }
}

async function expectHostCodes(backend: Backend) {
  const { reads, cfg, hostCandidates, candidates } = await codesOfOneStep(backend);
  // the scan took each head's candidates by its own query's device codes
  expect(candidates).toBe(hostCandidates);
  const D = cfg.headDim;
  const H = cfg.numHeads;
  const codeReads = reads.filter((r) => r.label.startsWith('longctx.query_codes'));
  const qReads = reads.filter((r) => r.data.length === H * D);
  expect(codeReads.length).toBe(cfg.numLayers);
  expect(qReads.length).toBe(cfg.numLayers);
  const { simhash } = new HeapSimHash(D, { bits: K, tables: L, minCollisions: 2, seed: SEED });
  const words = Math.ceil(L / 2);
  let compared = 0;
  let nearZero = 0;
  for (let layer = 0; layer < cfg.numLayers; layer++) {
    const q = qReads[layer]!.data;
    const raw = codeReads[layer]!.data as Uint32Array;
    const got = new Uint16Array(raw.buffer, raw.byteOffset, raw.length * 2);
    const want = simhash.hashRows(q, H);
    for (let r = 0; r < H; r++)
      for (let t = 0; t < L; t++) {
        compared++;
        if (got[2 * words * r + t] === want[r * L + t]) continue;
        // a differing table must have a projection within rounding of zero
        let smallest = Infinity;
        let scale = 0;
        for (let b = 0; b < K; b++) {
          let s = 0;
          let norm = 0;
          for (let e = 0; e < D; e++) {
            const x = simhash.directions[(t * K + b) * D + e]! * q[r * D + e]!;
            s += x;
            norm += Math.abs(x);
          }
          smallest = Math.min(smallest, Math.abs(s));
          scale = Math.max(scale, norm);
        }
        expect(smallest).toBeLessThan(1e-5 * scale);
        nearZero++;
      }
  }
  console.log(
    `${backend.name}: ${compared} query codes compared, ${nearZero} differ at a projection within rounding of 0; ${candidates} candidates`,
  );
}

const gpu = await gpuBackend();

describe(`query codes hashed on the device (built-in model, K=${K} L=${L}, seed ${SEED})`, () => {
  it('CPU backend: SimHash codes of the queries read back', async () => {
    await expectHostCodes(new CpuBackend());
  });

  it.skipIf(!gpu)(`WebGPU: the same${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, async () => {
    await expectHostCodes(gpu!);
  });
});
