/**
 * Accuracy of the long-context mode's policies on the retrieval model and evaluation sets that
 * scripts/longctx/train_retrieval.py writes (needle, multi-key recall, variable tracking at 16K
 * and 32K tokens): full attention on the GPU, the mode with the middle attended exactly,
 * MagicPIG at several (K, L), oracle TopK and Quest at MagicPIG's measured budget, StreamingLLM.
 *
 * Each example's prompt but its last token is prefilled densely once; then, per policy, the pages
 * between SINKS and the last WINDOW tokens move to the CPU store and the last prompt token and the
 * answer are decoded in the mode with teacher forcing: the example counts when every answer token
 * is the argmax (what greedy decoding gives). The answer's predictions therefore all come from
 * steps of the mode. TopK's k and Quest's pages match the mean number of keys MagicPIG (the first
 * (K, L) listed) attended per (layer, head) on the same examples.
 *
 * The check: the mode with the exact policy gives the same verdict as full attention on at least
 * 95% of the examples (the rest are near-ties of f16 rounding).
 *
 * Usage: node dist/bench/magicpig-quality.js OUTDIR   (train_retrieval.py's output folder)
 * Environment: EVAL_N (examples per set, default 20), KL (default 10x150,8x75,6x40), SINKS (16),
 * WINDOW (64), TASKS / LENGTHS (default: all in the index).
 */
import '../src/register-all.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import type { LongContextOptions } from '../src/longctx/options.js';
import type { MiddlePolicy } from '../src/longctx/policies.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { type BenchRow, cardName, row, writeResults } from './results.js';
import { Check, argmax, fail } from './verify.js';

interface Example {
  task: string;
  length: number;
  file: string;
  offset: number;
  prompt: number;
  answer: number[];
}

const env = (k: string, d: string) => process.env[k] ?? d;
const dir = process.argv[2];
if (!dir) fail('magicpig-quality: give the folder train_retrieval.py wrote');
const EVAL_N = Number(env('EVAL_N', '20'));
const KL = env('KL', '10x150,8x75,6x40')
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number]);
const SINKS = Number(env('SINKS', '16'));
const WINDOW = Number(env('WINDOW', '64'));
const P = 16;
const CHUNK = 4096;

const index = JSON.parse(readFileSync(join(dir, 'eval', 'index.json'), 'utf8')) as { examples: Example[] };
const tasks = env('TASKS', [...new Set(index.examples.map((e) => e.task))].join(',')).split(',');
const lengths = env('LENGTHS', [...new Set(index.examples.map((e) => e.length))].join(','))
  .split(',')
  .map(Number);
const sets = new Map<string, Example[]>();
for (const e of index.examples) {
  if (!tasks.includes(e.task) || !lengths.includes(e.length)) continue;
  const key = `${e.task}-${e.length}`;
  const list = sets.get(key) ?? [];
  if (list.length < EVAL_N) list.push(e);
  sets.set(key, list);
}
const files = new Map<string, Uint16Array>();
const promptOf = (e: Example): number[] => {
  let data = files.get(e.file);
  if (!data) {
    const b = readFileSync(join(dir, 'eval', e.file));
    data = new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
    files.set(e.file, data);
  }
  return Array.from(data.subarray(e.offset, e.offset + e.prompt));
};

const backend = await WebGpuBackend.create();
const card = cardName(backend);
const check = new Check('magicpig-quality');
const m = await openLlamaModel(dir);
const maxLen = Math.max(...lengths) + 8;
const runner = await LlamaRunner.load(m, {
  backend,
  actDtype: 'f16',
  maxTokens: CHUNK,
  maxSeqs: 1,
  numPages: Math.ceil(maxLen / P) + 2,
  pageSize: P,
});
await m.weights.close();
const lc = runner.longContext;
const pages = Array.from({ length: runner.numPages }, (_, i) => i);

/** The argmax after the last prompt token and after each answer token but the last (teacher forcing). */
async function decodeAnswer(
  prompt: number[],
  answer: number[],
  longContext: number | undefined,
  seqPages: number[],
): Promise<number[]> {
  const feed = [prompt[prompt.length - 1]!, ...answer.slice(0, -1)];
  const picks: number[] = [];
  for (let j = 0; j < feed.length; j++) {
    const start = prompt.length - 1 + j;
    const logits = await runner.forward({
      seqs: [{ tokens: [feed[j]!], start, pages: seqPages, ...(longContext !== undefined ? { longContext } : {}) }],
    });
    picks.push(argmax(logits));
  }
  return picks;
}

type Policy = { name: string; options: Omit<LongContextOptions, 'threshold' | 'sinks' | 'window'> | null };
const magicpigs: Policy[] = KL.map(([K, L]) => ({ name: `MagicPIG K${K} L${L}`, options: { K, L } }));
const policiesFor = (budget: number): Policy[] => [
  { name: 'full attention (GPU)', options: null },
  { name: 'exact middle (CPU)', options: { K: 0, L: 2, policy: { kind: 'exact' } } },
  ...magicpigs,
  {
    name: `TopK k=${Math.round(budget)}`,
    options: { K: 0, L: 2, policy: { kind: 'topk', k: Math.round(budget) } as MiddlePolicy },
  },
  {
    name: `Quest ${Math.ceil(budget / P)} pages`,
    options: { K: 0, L: 2, policy: { kind: 'quest', pageSize: P, pages: Math.ceil(budget / P) } as MiddlePolicy },
  },
  { name: 'StreamingLLM', options: { K: 0, L: 2, policy: { kind: 'streaming' } } },
];

// the budget first: MagicPIG's mean attended keys per (layer, head) over the first set's examples
const picks = new Map<string, Map<string, number[][]>>();
let budget = 0;
{
  const first = magicpigs[0]!;
  const before = { ...lc.stats };
  for (const examples of sets.values())
    for (const e of examples.slice(0, 4)) {
      const prompt = promptOf(e);
      await prefill(prompt);
      await inMode(first, prompt, e.answer);
    }
  const tasksRun = lc.stats.middleTasks - before.middleTasks;
  budget = Math.max(1, (lc.stats.middleCandidates - before.middleCandidates) / Math.max(1, tasksRun));
  console.log(
    `${first.name}: ${budget.toFixed(0)} keys attended per (layer, head) of ${((lc.stats.middleKeys - before.middleKeys) / Math.max(1, tasksRun)).toFixed(0)} in the middle`,
  );
}

async function prefill(prompt: number[]): Promise<void> {
  const body = prompt.slice(0, -1);
  for (let at = 0; at < body.length; at += CHUNK)
    await runner.forward({ seqs: [{ tokens: body.slice(at, at + CHUNK), start: at, pages }] }, { readLogits: false });
}

/** One policy on the prefilled example: move the middle, decode the answer, drop the store. */
async function inMode(p: Policy, prompt: number[], answer: number[]): Promise<number[]> {
  const need = Math.ceil((prompt.length + answer.length) / P);
  const seqPages = pages.slice(0, need);
  if (!p.options) return decodeAnswer(prompt, answer, undefined, seqPages);
  lc.configure({ threshold: 1, sinks: SINKS, window: WINDOW, seed: 1, ...p.options });
  const sinkPages = Math.ceil(SINKS / P);
  const moveTo = Math.floor((prompt.length - 1) / P) - Math.ceil(WINDOW / P);
  await lc.offload(1, seqPages.slice(sinkPages, moveTo), sinkPages, prompt.length + answer.length);
  const moved = seqPages.map((pg, i) => (i >= sinkPages && i < moveTo ? -1 : pg));
  try {
    return await decodeAnswer(prompt, answer, 1, moved);
  } finally {
    lc.release(1);
  }
}

const policies = policiesFor(budget);
for (const [key, examples] of sets) {
  const perPolicy = new Map<string, number[][]>();
  picks.set(key, perPolicy);
  for (const e of examples) {
    const prompt = promptOf(e);
    await prefill(prompt);
    for (const p of policies) {
      const list = perPolicy.get(p.name) ?? [];
      list.push(await inMode(p, prompt, e.answer));
      perPolicy.set(p.name, list);
    }
  }
  console.log(`${key}: ${policies.map((p) => `${p.name} ${right(key, p.name)}/${examples.length}`).join(', ')}`);
}

/** Examples of `set` whose every answer token `policy` predicted. */
function right(set: string, policy: string): number {
  const examples = sets.get(set)!;
  return picks
    .get(set)!
    .get(policy)!
    .filter((ps, i) => ps.every((t, j) => t === examples[i]!.answer[j])).length;
}

let same = 0;
let total = 0;
for (const perPolicy of picks.values()) {
  const full = perPolicy.get(policies[0]!.name)!.flat();
  const exact = perPolicy.get(policies[1]!.name)!.flat();
  full.forEach((t, i) => {
    total++;
    if (t === exact[i]) same++;
  });
}
check.that(
  same >= 0.95 * total,
  "the mode with the exact policy predicts full attention's tokens (teacher-forced steps)",
  `${same}/${total}`,
);

const rows: BenchRow[] = [];
for (const key of picks.keys()) {
  const n = sets.get(key)!.length;
  const fullAcc = (100 * right(key, policies[0]!.name)) / n;
  for (const p of policies) {
    rows.push(
      row({
        case: `${key} ${p.name}`,
        metric: 'accuracy %',
        higherIsBetter: true,
        ours: (100 * right(key, p.name)) / n,
        anchor: p.options ? fullAcc : null,
        anchorName: p.options ? 'full attention (GPU)' : null,
        anchorWhyNull: p.options ? null : 'the reference row',
        limit: null,
        limitName: null,
      }),
    );
  }
}
writeResults(
  'magicpig-quality',
  card,
  rows,
  `Model and sets: ${dir} (train_retrieval.py). ${EVAL_N} examples per set; f16 activations and KV; sinks ${SINKS}, window ${WINDOW} tokens on the GPU; the last prompt token and the answer decoded in the mode (teacher forcing), an example right when every answer token is the argmax. TopK/Quest budget: ${budget.toFixed(0)} keys per (layer, head), MagicPIG ${magicpigs[0]!.name}'s mean.`,
  check.passed(),
);
runner.destroy();
backend.destroy();
