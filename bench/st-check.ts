/**
 * The embedding encoder against sentence-transformers on the GPU machine, in one run: parity on the
 * random-weight MiniLM-L6 checkpoint (bench/st-reference.ts: token ids equal, cosine ≥ 0.9999 to
 * the float64 reference), then texts per second embedding TIMED_TEXTS texts in batches of 64,
 * against sentence-transformers' encode timed by the same script in the same run (fp32; fp16 in
 * the notes). A failed parity check exits 1 and writes nothing.
 *
 *   python3 scripts/embeddings/st_reference.py --out DIR --seed 0 --time-cuda DIR/st-timing.json
 *   node dist/bench/st-check.js DIR
 */
import { join } from 'node:path';
import { BertEncoder } from '../src/models/bert/bert-encoder.js';
import { openBench } from './attention-common.js';
import { anchorOf, cardName, median, readAnchors, row, writeResults } from './results.js';
import { MIN_COSINE, compareWithStReference } from './st-reference.js';
import { Check } from './verify.js';

const TIMED_TEXTS = 1024;
const BATCH = 64;

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node dist/bench/st-check.js <dir written by st_reference.py>');
  process.exit(2);
}
const backend = await openBench();
const card = cardName(backend);
const check = new Check('embeddings-st');
const r = await compareWithStReference(dir, backend);
try {
  check.that(
    JSON.stringify(r.ids) === JSON.stringify(r.reference.token_ids),
    'token ids equal sentence-transformers’ tokenizer',
    `${r.ids.length} sentences`,
  );
  const worst = Math.min(...r.cosines);
  check.that(
    worst >= MIN_COSINE,
    `every embedding within cosine ${MIN_COSINE} of the float64 reference`,
    `worst ${worst.toFixed(8)}`,
  );

  const texts = Array.from({ length: TIMED_TEXTS }, (_, i) => r.ids[i % r.ids.length]!);
  const tokens = Math.max(...texts.map((t) => t.length)) * BATCH;
  const enc = await BertEncoder.load(r.model, { backend, maxTokens: tokens, maxTexts: BATCH });
  const times: number[] = [];
  try {
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      await enc.embed(texts);
      if (i >= 2) times.push(performance.now() - t0);
    }
  } finally {
    enc.destroy();
  }
  const ours = TIMED_TEXTS / (Math.min(...times) / 1000);
  console.log(
    `ours: ${ours.toFixed(0)} texts/s (best of 5; median ${(TIMED_TEXTS / (median(times) / 1000)).toFixed(0)})`,
  );
  const anchors = readAnchors(join(dir, 'st-timing.json'), card);
  const fp32 = anchorOf(anchors, 'texts_per_s_fp32');
  const fp16 = anchorOf(anchors, 'texts_per_s_fp16');
  writeResults(
    'embeddings-st',
    card,
    [
      row({
        case: `MiniLM-L6 shape, ${TIMED_TEXTS} texts, batch ${BATCH}`,
        metric: 'texts/s',
        higherIsBetter: true,
        ours,
        anchor: fp32.value,
        anchorName: 'sentence-transformers fp32 (CUDA)',
        anchorWhyNull: fp32.why,
        limit: null,
        limitName: null,
      }),
    ],
    `Our encoder runs f32. sentence-transformers fp16 in the same run: ${fp16.value === null ? `none (${fp16.why})` : `${fp16.value.toFixed(0)} texts/s`}. Cosines to the float64 reference: ${r.cosines.map((c) => c.toFixed(7)).join(', ')}.`,
    check.passed(),
  );
} finally {
  await r.model.weights.close();
}
backend.destroy();
