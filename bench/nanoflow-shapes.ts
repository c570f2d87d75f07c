/**
 * The step shapes each arm of bench/nanoflow.ts meets, counted without a GPU: the serving Engine
 * drives a `StepShapeRunner` (bench/step-shape-runner.ts) through the bench's sequence (its
 * warm-up, then the offline workload with nano-batching off and then on, on one runner), and each
 * arm prints how many steps replayed a recorded stream and how many were recorded on the spot,
 * with the steps by kind and rows. `--runner-warm-up 1` first records what `LlamaRunner.warmUp`
 * records. Tokens are not computed, so only the counts mean anything.
 *
 * Usage: node dist/bench/nanoflow-shapes.js [--requests 256] [--max-total 1024] [--max-seqs 256]
 *   [--max-batch-tokens 2048] [--prefill-chunk-tokens 256] [--nano 2] [--seed 2026] [--runner-warm-up 0|1]
 */
import { Engine } from '../src/engine/engine.js';
import { Rng } from '../src/util/rng.js';
import { driveGreedy, TOKEN_IDS_ONLY } from './serving-driver.js';
import { shareGptLikeWorkload } from './serving-workload.js';
import { emptyCounts, StepShapeRunner } from './step-shape-runner.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const num = (name: string, dflt: number) => (args.has(name) ? Number(args.get(name)) : dflt);
const N = num('requests', 256);
const MAX_TOTAL = num('max-total', 1024);
const MAX_SEQS = num('max-seqs', 256);
const MAX_TOKENS = num('max-batch-tokens', 2048);
const CHUNK = num('prefill-chunk-tokens', 256);
const NANO = num('nano', 2);
const SEED = num('seed', 2026);
const PAGE = 16;

const shapes = shareGptLikeWorkload(N, MAX_TOTAL, SEED);
const numPages = shapes.reduce((a, s) => a + Math.ceil((s.prompt + s.output) / PAGE), 0) + 2 * MAX_SEQS;
const runner = new StepShapeRunner(MAX_TOKENS, MAX_SEQS, MAX_TOTAL, PAGE, numPages);
if (num('runner-warm-up', 0) === 1) runner.warmAll();

async function serve(what: string, mode: 'off' | number, prompts: number[][], outputs: number[]): Promise<void> {
  const engine = new Engine(runner, TOKEN_IDS_ONLY, {
    maxBatchTokens: MAX_TOKENS,
    prefillChunkTokens: CHUNK,
    maxRunningSeqs: MAX_SEQS,
    prefixCaching: false,
    seed: SEED,
    nanoBatches: mode,
  });
  runner.counts = emptyCounts();
  await Promise.all(prompts.map((p, i) => driveGreedy(engine, p, outputs[i]!, performance.now())));
  await engine.shutdown();
  const c = runner.counts;
  const rows = [...c.byRows.entries()]
    .sort(([a], [b]) => a.localeCompare(b) || 0)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  console.log(
    `${what}, ${mode === 'off' ? 'nano-batching off' : `${mode} nano-batches`}: ${c.steps} forwards, ${c.replayed} replayed, ` +
      `${c.recorded} recorded on the spot (${[...c.recordedByKind].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}), ${c.unrecorded} unrecorded; ${rows}`,
  );
}

const prompts = (seed: number, n: number) => {
  const rng = new Rng(seed);
  return shapes.slice(0, n).map((s) => Array.from({ length: s.prompt }, () => rng.int(0, runner.vocabSize - 1)));
};
const warm = Math.min(MAX_SEQS, 16);
for (const mode of ['off', NANO] as const)
  await serve(
    'warm-up',
    mode,
    prompts(SEED ^ 0x5eed, warm),
    shapes.slice(0, warm).map((s) => Math.min(s.output, 8)),
  );
for (const mode of ['off', NANO] as const)
  await serve(
    'offline',
    mode,
    prompts(SEED + 1, N),
    shapes.map((s) => s.output),
  );
