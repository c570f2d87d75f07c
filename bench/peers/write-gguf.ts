/**
 * Writes an HF Llama checkpoint folder as a llama GGUF file for llama.cpp (the decode benchmark's
 * llama.cpp peer reads the same weights as Tessera), one tensor at a time.
 * Usage: node dist/bench/peers/write-gguf.js HF_FOLDER OUT.gguf [--type F16|BF16|Q8_0|Q4_0|Q4_K|Q6_K|Q4_K_M]
 * (Q4_K_M: llama.cpp's mix of Q4_K and Q6_K, src/models/llama/gguf-q4-k-m.ts)
 */
import { writeLlamaGguf, type GgufMatrixType } from '../../src/models/llama/gguf-from-hf.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';

const [folder, out] = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--type');
const typeArg = process.argv.indexOf('--type');
const type = (typeArg > 0 ? process.argv[typeArg + 1] : 'F16') as GgufMatrixType;
const TYPES: readonly string[] = ['F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q6_K', 'Q4_K_M'];
if (folder === undefined || out === undefined || !TYPES.includes(type)) {
  console.error(`usage: node dist/bench/peers/write-gguf.js HF_FOLDER OUT.gguf [--type ${TYPES.join('|')}]`);
  process.exit(2);
}
const t0 = performance.now();
const m = await openLlamaModel(folder);
try {
  let last = 0;
  const report = await writeLlamaGguf(m.weights, m.config, out, {
    type,
    name: folder.split('/').filter(Boolean).pop() ?? 'model',
    onTensor: (name, i, total) => {
      if (performance.now() - last < 5000 && i + 1 < total) return;
      last = performance.now();
      console.log(`  ${i + 1}/${total} ${name}`);
    },
  });
  const s = (performance.now() - t0) / 1e3;
  console.log(
    `wrote ${out}: ${report.tensors} tensors, ${(report.bytes / 1e9).toFixed(2)} GB ${type} in ${s.toFixed(0)} s; ${report.inexact} values rounded by the conversion`,
  );
} finally {
  await m.weights.close();
}
