// Decode tokens/s of the built-in model in Node (after `npx tsc -p tsconfig.build.json`): greedy,
// prompt 0 of models/builtin/reference.json, 32 tokens, the first pass a warm-up; prints the median
// of the timed passes and whether the tokens equal PyTorch's stored ones (exit 1 if not).
// Usage: PASSES=21 node scripts/node-decode-speed.mjs cpu|webgpu
import { readFileSync } from 'node:fs';
const root = process.cwd();
await import(`${root}/dist/src/register-all.js`);
const { loadModel } = await import(`${root}/dist/src/models/load-model.js`);
const { openBackend } = await import(`${root}/dist/src/backends/open.js`);
const which = process.argv[2] ?? 'cpu';
const ref = JSON.parse(readFileSync(`${root}/models/builtin/reference.json`, 'utf8')).references[0];
const STEPS = 32,
  PASSES = Number(process.env.PASSES ?? 6);
const backend = await openBackend({ prefer: which });
const model = await loadModel(`${root}/models/builtin`, { backend, actDtype: 'f32' });
const rates = [];
let tokens = [];
for (let pass = 0; pass < PASSES; pass++) {
  const req = await model.engine.submit(ref.ids, { temperature: 0, maxTokens: STEPS, ignoreEos: true });
  const ids = [];
  let first = 0;
  for await (const ev of req)
    if (ev.type === 'delta') {
      if (!ids.length) first = performance.now();
      ids.push(...ev.tokens.map((t) => t.id));
    }
  const end = performance.now();
  if (pass === 0) tokens = ids;
  else rates.push(((STEPS - 1) / (end - first)) * 1000);
}
const ok = tokens.join() === ref.greedy.slice(0, STEPS).join();
rates.sort((a, b) => a - b);
console.log(
  `${which}: greedy equals reference: ${ok}; decode-alone tok/s median ${rates[(rates.length - 1) >> 1].toFixed(1)}`,
);
await model.close();
process.exit(ok ? 0 : 1);
