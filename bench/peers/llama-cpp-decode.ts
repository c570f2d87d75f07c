/**
 * llama.cpp decode speed through `node-llama-cpp` on a GGUF written by bench/peers/write-gguf: the
 * llama.cpp peer row of the decode benchmark, with the same prompts as bench/decode.ts (sequence s,
 * position i: 100 + ((s·7919 + i·104729) mod 120000)), greedy.
 *
 * Batch b = b sequences of one llama.cpp context, each decoding its own stream; their next-token
 * evaluations are awaited together, so node-llama-cpp puts all b tokens in one llama_decode batch
 * (it dispatches at once when every sequence has queued). A step's time is the host clock around
 * that: one batched forward plus node-llama-cpp's per-sequence sampling. Reported: b × 1000 / median
 * step ms.
 *
 * node-llama-cpp is loaded by ./node-llama-cpp.ts (LLAMA_CPP_MODULE names its package folder).
 *
 * Usage: LLAMA_CPP_MODULE=.peers/unpacked/node_modules/node-llama-cpp \
 *   node dist/bench/peers/llama-cpp-decode.js MODEL.gguf OUT.json [--gpu vulkan|cuda|cpu]
 *   [--batches 1,16,64] [--prompt 128] [--steps 32] [--threads N] [--allow-no-device]
 */
import { writeFileSync } from 'node:fs';
import { GgufFile } from '../../src/io/gguf-file.js';
import { countDecodeBatches, openLlamaCpp } from './node-llama-cpp.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const VALUE_FLAGS = ['--gpu', '--batches', '--prompt', '--steps', '--threads'];
const [modelPath, outPath] = process.argv
  .slice(2)
  .filter((a, i, all) => !a.startsWith('--') && !VALUE_FLAGS.includes(all[i - 1] ?? ''));
if (modelPath === undefined || outPath === undefined) {
  console.error(
    'usage: node dist/bench/peers/llama-cpp-decode.js MODEL.gguf OUT.json [--gpu vulkan|cuda|cpu] [--batches 1,16,64] [--prompt 128] [--steps 32] [--threads N]',
  );
  process.exit(2);
}
const gpu = option('gpu', 'vulkan');
const batches = option('batches', '1,16,64').split(',').map(Number);
const PROMPT = Number(option('prompt', '128'));
const STEPS = Number(option('steps', '32'));
const threads = process.argv.includes('--threads') ? Number(option('threads', '0')) : undefined;

const gguf = await GgufFile.open(modelPath);
const vocab = gguf.metadata.get('llama.vocab_size');
await gguf.close();
if (typeof vocab !== 'number')
  throw new Error(`${modelPath}: no llama.vocab_size metadata (write it with bench/peers/write-gguf)`);
// The bench formula's ids reach 120099; a smaller vocabulary (the built-in test model) wraps sooner.
const span = Math.min(120000, vocab - 100);
const promptOf = (s: number) => Array.from({ length: PROMPT }, (_, i) => 100 + ((s * 7919 + i * 104729) % span));

const { llama, version, devices, card } = await openLlamaCpp(gpu, threads, process.argv.includes('--allow-no-device'));

const t0 = performance.now();
const model = await llama.loadModel({ modelPath, gpuLayers: gpu === 'cpu' ? 0 : 'max' });
console.log(
  `node-llama-cpp ${version} (${llama.llamaCppRelease.repo} ${llama.llamaCppRelease.release}), ${llama.gpu || 'cpu'} on ${devices.join(', ') || 'cpu'}; loaded ${modelPath} in ${((performance.now() - t0) / 1e3).toFixed(1)} s`,
);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const cases: Record<string, number> = {};
const msPerStep: Record<string, number> = {};
const tokens: Record<string, number[]> = {};
const tokensPerDecode: Record<string, number[] | null> = {};
for (const b of batches) {
  const context = await model.createContext({
    sequences: b,
    contextSize: PROMPT + STEPS + 8,
    batchSize: Math.max(512, b),
    ...(threads ? { threads } : {}),
  });
  const batchSizes = countDecodeBatches(context);
  const streams = Array.from({ length: b }, (_, s) =>
    context.getSequence().evaluate(promptOf(s), { temperature: 0, yieldEogToken: true }),
  );
  const take = async () =>
    (await Promise.all(streams.map((it) => it.next()))).map((r, s) => {
      if (r.done) throw new Error(`sequence ${s} ended early`);
      return r.value;
    });
  const tp = performance.now();
  const seq0 = [(await take())[0]!]; // prefill of all b prompts, and each one's first token
  const prefillMs = performance.now() - tp;
  batchSizes?.splice(0);
  const times: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const ts = performance.now();
    const next = await take();
    times.push(performance.now() - ts);
    seq0.push(next[0]!);
  }
  await Promise.all(streams.map((it) => it.return()));
  await context.dispose();
  const ms = median(times);
  cases[`b${b}`] = (b * 1000) / ms;
  msPerStep[`b${b}`] = ms;
  tokens[`b${b}`] = seq0.slice(0, 32);
  tokensPerDecode[`b${b}`] = batchSizes && [...new Set(batchSizes)];
  if (batchSizes && batchSizes.some((n) => n !== b))
    console.warn(`batch ${b}: decode steps were not single batches of ${b} tokens: ${batchSizes.join(' ')}`);
  console.log(
    `batch ${b}: step ${ms.toFixed(2)} ms, ${cases[`b${b}`]!.toFixed(1)} tokens/s (prefill of ${b}×${PROMPT} tokens ${prefillMs.toFixed(0)} ms; context ${context.contextSize} per sequence)`,
  );
}
await model.dispose();
await llama.dispose();
const result = {
  peer: `llama.cpp (node-llama-cpp ${version}, prebuilt ${String(llama.gpu || 'cpu')} binary)`,
  card,
  // bench/results.ts uses a peer's figures only from the run that names it
  runId: process.env.BENCH_RUN_ID ?? null,
  devices,
  llamaCppRelease: llama.llamaCppRelease,
  model: modelPath,
  prompt: PROMPT,
  steps: STEPS,
  note: "tokens/s = b × 1000 / median ms of one decode step for b sequences (one llama_decode batch plus per-sequence greedy sampling); tokensPerDecode: the distinct llama_decode batch sizes seen in the timed steps; tokens: sequence 0, the prefill's greedy token first",
  cases,
  msPerStep,
  tokensPerDecode,
  tokens,
};
writeFileSync(outPath, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${outPath}`);
