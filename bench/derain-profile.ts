/**
 * Where the de-raining filter's GPU time goes: one call at each size run dispatch by dispatch with
 * timestamps, grouped by kernel label, beside the whole call's time by replay. Random weights
 * (seeded), so it runs without a trained model, on a software adapter too (128² and 256² there).
 *
 *   node dist/bench/derain-profile.js [sizes, default 128,256]
 */
import type { Tensor } from '../src/backends/backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { DEFAULT_DERAIN_CONFIG } from '../src/models/derain/derain-config.js';
import { DerainModel } from '../src/models/derain/derain-model.js';
import { randomDerainWeights } from '../src/models/derain/random-weights.js';
import { cardName, fillRandom, timeGpu } from './results.js';

const SEED = 7;
const sides = (process.argv[2] ?? '128,256').split(',').map(Number);
const backend = await WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
const model = DerainModel.fromWeights(
  DEFAULT_DERAIN_CONFIG,
  randomDerainWeights(DEFAULT_DERAIN_CONFIG, SEED),
  backend,
  {
    stableStorage: true,
  },
);
console.log(`adapter: ${cardName(backend)}; weights seed ${SEED}`);
for (const side of sides) {
  const x = backend.alloc({ dtype: 'f32', shape: [1, side, side, 3] });
  const r = backend.alloc({ dtype: 'f32', shape: [1, side, side, 3] });
  fillRandom(backend, x, 1, 0.5);
  fillRandom(backend, r, 2, 0.5);
  backend.free(model.call(x, r));
  await backend.flush();
  // the recorded stream writes its output to the same tensor every replay: freed once it is gone
  let out: Tensor | undefined;
  const wholeMs = await timeGpu(
    backend,
    () => {
      out = model.call(x, r);
    },
    1,
    40,
    3,
  );
  if (out) backend.free(out);
  if (!backend.startProfiling()) {
    console.log('no timestamp queries on this adapter: whole-call time only');
    console.log(`${side}x${side}: ${wholeMs.toFixed(2)} ms per call`);
    continue;
  }
  backend.free(model.call(x, r));
  const entries = await backend.stopProfiling();
  const by = new Map<string, { ms: number; n: number }>();
  for (const e of entries) {
    const k = e.label;
    const s = by.get(k) ?? { ms: 0, n: 0 };
    s.ms += e.ms;
    s.n++;
    by.set(k, s);
  }
  const total = [...by.values()].reduce((a, s) => a + s.ms, 0);
  console.log(
    `\n${side}x${side}: ${wholeMs.toFixed(2)} ms per call (replay median); profiled ${entries.length} dispatches, ${total.toFixed(2)} ms of kernel time`,
  );
  for (const [k, s] of [...by].sort((a, b) => b[1].ms - a[1].ms))
    console.log(
      `  ${k.padEnd(60)} ${String(s.n).padStart(3)}×  ${s.ms.toFixed(3)} ms  ${((100 * s.ms) / total).toFixed(1)}%`,
    );
  backend.free(x);
  backend.free(r);
}
model.destroy();
backend.destroy();
