/**
 * Does this driver overlap work of different kinds inside one queue? On one layer of the
 * Llama-3-8B shape (seeded f32 weights made on the device, a paged KV pool; no checkpoint), it times
 *
 *   (a) gemm        the layer's GEMM chain over a batch of B rows (QKV, O, gate-up, down), alone
 *   (b) attention   decode attention of B requests at mixed context lengths (log-uniform), alone
 *   (c) upload      a host→device writeBuffer (the step's page table, and a 32 MiB block), alone
 *   (d) one pass    (a) and (b) as independent dispatches in one compute pass of one command buffer
 *       (a)+(c)     the upload written while the GEMM chain runs
 *   (e) fused       the chain with its gate-up GEMM and the attention in one partitioned dispatch
 *                   (src/attention/partitioned-kernel.ts) at several workgroup shares
 *   (f) layer       the layer with its real dependencies over the whole batch, and as two
 *                   nano-batches: back to back, pipelined (each one's attention beside the other's
 *                   GEMM) as separate dispatches, and pipelined with those pairs fused
 *
 * Every combined time is a row whose anchor is the sum of its parts alone (ratio > 1: the driver
 * overlapped them) and whose limit is the larger part (perfect overlap); the nano-batched layers'
 * anchor is the plain layer (ratio > 1: nano-batching wins). Kernels are the partitioned kernel's
 * own naive f32 ones (no tensor cores): the question is overlap, not speed. The clock and its
 * bounded cost: nanoflow-overlap-timer.ts.
 *
 * Checked first, at every batch size before any is timed: the fused dispatch's outputs at shares
 * ¼, ½, ¾ on sampled rows and requests against the float64 oracle (nanoflow-overlap-check.ts). Rows
 * are printed as they are measured; the result file (and the plan cache) is rewritten after each
 * batch size with every row so far, so a run cut short keeps the batch sizes it finished.
 * --budget-s stops starting batch sizes that would not finish in time (estimated from the last
 * one, whose work is proportional to B).
 *
 * The alone-times also make the cost table of the nano-batch search (src/engine/nano-search.ts); the
 * plans it gives are printed, and with --write-plan FILE cached for `tessera serve --nano-batches auto`.
 * Those costs are the naive f32 kernels' (a layer's GEMMs here run an order of magnitude slower than
 * the engine's bf16 tensor-core ones), so the plans are a model of this probe's step, not the
 * engine's; the table's `source` field says so in the file.
 *
 * Usage: node dist/bench/nanoflow-overlap.js [--tiny] [--batches 256,512,1024] [--seed N] [--budget-s S]
 *          [--write-plan FILE --model-name NAME]   (NAME: the served model's name, the cache's key with the card)
 */
import '../src/register-all.js';
import { writeFileSync } from 'node:fs';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { type NanoCostTable, NanoPlanCache, nanoCostProblem, nanoPlanKey } from '../src/engine/nano-search.js';
import { checkFused } from './nanoflow-overlap-check.js';
import { type BatchCosts, FUSED_SHARES, measureBatch } from './nanoflow-overlap-measure.js';
import { LLAMA3_8B_LAYER, type LayerShape, ProbeBatch, ProbeDevice, TINY_LAYER } from './nanoflow-overlap-setup.js';
import { DEFAULT_TIMER, makeTimer, type TimerOptions } from './nanoflow-overlap-timer.js';
import { type BenchRow, cardName, median, writeResults } from './results.js';
import { Check } from './verify.js';

export { LLAMA3_8B_LAYER, type LayerShape, TINY_LAYER };

/**
 * The nano-batch search's cost table (src/engine/nano-search.ts) from the probe's measurements:
 * the GEMM chain and attention alone per batch size, times the layers; attention's saturation as
 * the smallest fraction of its grid that runs within 10% of the whole grid's time at the largest
 * batch; a stage's fixed cost as one dispatch with no work per layer. Every figure is ms per step
 * of the probe's naive f32 kernels, not of the engine's (the table's `source` says so).
 */
export function costTableFrom(results: readonly { batch: number; r: BatchCosts }[], layers: number): NanoCostTable {
  const sorted = [...results].sort((a, b) => a.batch - b.batch);
  const largest = sorted[sorted.length - 1]!.r;
  const saturating = largest.attentionAtShare.filter(([, ms]) => ms <= 1.1 * largest.attentionMs).map(([f]) => f);
  return {
    gemm: sorted.map(({ batch, r }) => [batch, r.gemmMs * layers] as const),
    attention: sorted.map(({ batch, r }) => [batch, r.attentionMs * layers] as const),
    attentionSaturation: saturating.length ? Math.min(...saturating) : 1,
    stageMs: median(sorted.map(({ r }) => r.stageMs)) * layers,
    source: `bench/nanoflow-overlap.ts: naive f32 kernels of src/attention/partitioned-kernel.ts, one layer × ${layers}`,
  };
}

export interface ProbeOptions {
  timer?: Partial<TimerOptions>;
  /** Seconds from the start after which no new batch size is started (one that would end past it is skipped). */
  budgetS?: number;
  /** Called after each batch size with every row and the cost table so far (the bench writes its files here). */
  onBatch?: (rows: readonly BenchRow[], costs: NanoCostTable) => void;
}

/** The fused dispatch of every batch size checked against the oracle, before anything is timed. */
async function checkAll(p: ProbeDevice, batches: readonly number[], seed: number, check: Check): Promise<void> {
  for (const batch of batches) {
    const b = new ProbeBatch(p, batch, seed);
    const worst = { gemm: 0, attention: 0, gemmTol: 0, attentionTol: 0 };
    for (const share of FUSED_SHARES) {
      const r = await checkFused(b, share);
      worst.gemm = Math.max(worst.gemm, r.gemmErr);
      worst.attention = Math.max(worst.attention, r.attentionErr);
      worst.gemmTol = r.gemmTol;
      worst.attentionTol = r.attentionTol;
    }
    const at = `at shares ${FUSED_SHARES.join(', ')}`;
    check.that(
      worst.gemm <= worst.gemmTol,
      `B${batch}: fused dispatch's gate-up GEMM matches the float64 oracle on sampled outputs`,
      `max error ${worst.gemm.toExponential(2)} ≤ ${worst.gemmTol.toExponential(2)} ${at}`,
    );
    check.that(
      worst.attention <= worst.attentionTol,
      `B${batch}: fused dispatch's attention matches the float64 oracle on sampled requests`,
      `max error ${worst.attention.toExponential(2)} ≤ ${worst.attentionTol.toExponential(2)} ${at}`,
    );
  }
}

/** The probe at each batch size, checked; the rows, the cost table for the nano-batch search, and the batch sizes skipped. */
export async function runOverlapProbe(
  backend: WebGpuBackend,
  shape: LayerShape,
  batches: readonly number[],
  seed: number,
  check: Check,
  opts: ProbeOptions = {},
): Promise<{ rows: BenchRow[]; costs: NanoCostTable | null; skipped: number[] }> {
  const t0 = performance.now();
  const since = () => (performance.now() - t0) / 1000;
  const p = new ProbeDevice(backend.device, shape, Math.max(...batches), seed);
  const rows: BenchRow[] = [];
  const results: { batch: number; r: BatchCosts }[] = [];
  try {
    await checkAll(p, batches, seed, check);
    console.log(`inputs made and ${batches.length} batch size(s) checked in ${since().toFixed(1)} s`);
    const time = makeTimer(p.device, p.pipeline, { ...DEFAULT_TIMER, ...opts.timer });
    let last: { batch: number; s: number } | null = null;
    for (const [i, batch] of batches.entries()) {
      const expect = last ? (last.s * batch) / last.batch : 0;
      if (opts.budgetS !== undefined && last && since() + expect > opts.budgetS) {
        console.log(
          `B${batches.slice(i).join(', B')}: not started (${since().toFixed(0)} s gone, B${batch} expected to take ~${expect.toFixed(0)} s, budget ${opts.budgetS} s)`,
        );
        return { rows, costs: results.length ? costTableFrom(results, shape.layers) : null, skipped: batches.slice(i) };
      }
      const start = since();
      const r = await measureBatch(new ProbeBatch(p, batch, seed), time, (x) => {
        const anchor = x.anchor?.toFixed(3) ?? '—';
        console.log(`  ${x.case} ${x.metric}: ${x.ours.toFixed(3)} (anchor ${anchor}) [${since().toFixed(1)} s]`);
        rows.push(x);
      });
      last = { batch, s: since() - start };
      console.log(`B${batch}: measured in ${last.s.toFixed(1)} s (${since().toFixed(0)} s since the start)`);
      results.push({ batch, r });
      opts.onBatch?.(rows, costTableFrom(results, shape.layers));
    }
    return { rows, costs: costTableFrom(results, shape.layers), skipped: [] };
  } finally {
    await p.destroy();
  }
}

/** The plans the costs give, printed, and cached for `tessera serve --nano-batches auto --nano-plan FILE`. */
function writePlans(
  costs: NanoCostTable,
  batches: readonly number[],
  key: string,
  planFile: string | undefined,
  check: Check,
): void {
  const why = nanoCostProblem(costs);
  check.that(
    why === null,
    'the cost table is a measurement (ascending samples; a stage costs less than the smallest GEMM chain)',
    why ??
      `stage ${costs.stageMs.toFixed(3)} ms, GEMMs ${costs.gemm.map(([t, ms]) => `${t}: ${ms.toFixed(1)}`).join(', ')} ms per step`,
  );
  const cache = new NanoPlanCache(key, costs);
  for (const b of batches) {
    const plan = cache.plan({ decodeTokens: b, prefillTokens: 0 });
    console.log(
      `B${b} decode: ${plan.nano} nano-batch(es), GEMM share ${plan.share.toFixed(3)}, modelled step (all layers, the probe's f32 kernels) ${plan.ms.toFixed(2)} ms vs plain ${plan.plainMs.toFixed(2)} ms`,
    );
  }
  if (planFile) {
    writeFileSync(planFile, `${JSON.stringify(cache, null, 2)}\n`);
    console.log(`nano plan cache (${cache.key}) → ${planFile}`);
  }
}

async function main(): Promise<void> {
  const tiny = process.argv.includes('--tiny');
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const batches = (arg('--batches') ?? (tiny ? '4,8' : '256,512,1024')).split(',').map(Number);
  const seed = Number(arg('--seed') ?? 20261207);
  const budget = arg('--budget-s');
  const budgetS = budget === undefined ? undefined : Number(budget);
  console.log(
    `nanoflow-overlap: ${tiny ? 'tiny' : 'Llama-3-8B'} layer, batches ${batches.join(', ')}, seed ${seed}${budgetS ? `, budget ${budgetS} s` : ''}`,
  );
  const backend = await WebGpuBackend.create();
  const card = cardName(backend);
  const check = new Check('nanoflow-overlap');
  const key = nanoPlanKey(arg('--model-name') ?? (tiny ? 'tiny' : 'llama3-8b'), card);
  const notes =
    `${tiny ? 'tiny' : 'Llama-3-8B'} layer shape, f32 naive kernels of src/attention/partitioned-kernel.ts; seed ${seed}. ` +
    'ratio > 1 on a combined row: the driver overlapped the parts (anchor = parts one after another, limit = the larger part).';
  const done: number[] = [];
  const { skipped } = await runOverlapProbe(backend, tiny ? TINY_LAYER : LLAMA3_8B_LAYER, batches, seed, check, {
    budgetS,
    onBatch: (rows, costs) => {
      done.push(batches[done.length]!);
      const measured = `${notes} Batch sizes measured: ${done.join(', ')}.`;
      // the cost table is checked first: a failed check writes neither file
      writePlans(costs, done, key, arg('--write-plan'), check);
      writeResults('nanoflow-overlap', card, rows, measured, check.passed());
    },
  });
  if (skipped.length) console.log(`not measured (budget): B${skipped.join(', B')}`);
  backend.destroy();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
