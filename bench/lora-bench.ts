/**
 * The measurement and checks of bench/lora.ts as a function, so a test runs them at tiny size on
 * software Vulkan (test/bench/lora-bench.test.ts) and the program cannot rot. See bench/lora.ts for
 * what is measured and why the checks are these.
 */
import type { Backend } from '../src/backends/backend.js';
import type { ForwardSeq } from '../src/engine/model-runner.js';
import { LORA_MODULES } from '../src/lora/modules.js';
import { loraShapesOf } from '../src/models/llama/adapter-graph.js';
import { parseLlamaConfig } from '../src/models/llama/llama-config.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { Rng } from '../src/util/rng.js';
import { randomLlamaSource, randomLoraAdapter } from './lora-random.js';
import { type BenchRow, median, row } from './results.js';

/** Where the checks go: bench/verify.ts's `Check` in the program (fails and exits), a throwing one in tests. */
export interface Checker {
  that(ok: boolean, what: string, detail?: string): void;
}

export interface LoraBenchOptions {
  /** A 2-layer model: a smoke run for software Vulkan, not a measurement. */
  readonly tiny: boolean;
  readonly ranks: readonly number[];
}

const SEED = 2323;
const BATCH = 64;
const SPREADS = [1, 8, 64];
const PROMPT = 16;
const PAGE = 16;
/** Logit differences as a fraction of max|logit|: f16 activations in a GEMV (batch 1) against a GEMM (batch 64). */
const LOGIT_TOL = 3e-2;

const LLAMA3_8B = {
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  vocab_size: 128256,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  max_position_embeddings: 8192,
  tie_word_embeddings: false,
};
const TINY = {
  ...LLAMA3_8B,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 256,
};

/** max|a − b| over max|b| of one row. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return Number.isFinite(d) ? d / (m || 1) : Infinity;
}

export async function benchLora(
  backend: Backend,
  o: LoraBenchOptions,
  check: Checker,
): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const tiny = o.tiny;
  const STEPS = tiny ? 3 : 32;
  const LOOP_STEPS = tiny ? 1 : 4;
  const LATENCY_STEPS = tiny ? 3 : 24;
  const PAGES_PER_SEQ = Math.ceil((PROMPT + 4 + STEPS + LATENCY_STEPS) / PAGE);
  const config = parseLlamaConfig(tiny ? TINY : LLAMA3_8B, 'bench/lora.ts');
  const shape = tiny ? 'tiny' : 'llama3-8b';
  const rng = new Rng(SEED);
  console.log(
    `lora bench: ${shape}, seed ${SEED}, ranks ${o.ranks.join(', ')}, batch ${BATCH}, ${STEPS} steps per case`,
  );
  const prompts = Array.from({ length: BATCH }, () =>
    Array.from({ length: PROMPT }, () => rng.int(0, config.vocabSize - 1)),
  );
  const nextTokens = Array.from({ length: BATCH }, () => rng.int(0, config.vocabSize - 1));
  const pagesOf = (s: number) => Array.from({ length: PAGES_PER_SEQ }, (_, i) => s * PAGES_PER_SEQ + i);

  async function load(rank?: number): Promise<LlamaRunner> {
    const t0 = performance.now();
    const runner = await LlamaRunner.load(
      { config, weights: randomLlamaSource(config, 'bf16', SEED) },
      {
        backend,
        actDtype: 'f16',
        maxTokens: 8 * PROMPT,
        maxSeqs: BATCH,
        numPages: BATCH * PAGES_PER_SEQ,
        pageSize: PAGE,
        ...(rank ? { lora: { slots: BATCH, rmax: rank } } : {}),
      },
    );
    console.log(
      `loaded ${rank ? `rank-${rank} LoRA` : 'base'} runner in ${((performance.now() - t0) / 1e3).toFixed(1)} s`,
    );
    return runner;
  }

  /** Prefills the requests (eight to a forward); returns nothing, the pages hold their keys. */
  async function prefill(runner: LlamaRunner, adapters: readonly (string | undefined)[]): Promise<void> {
    for (let g = 0; g < adapters.length; g += 8) {
      const seqs = adapters.slice(g, g + 8).map((a, j) => seqOf(g + j, prompts[g + j]!, 0, a));
      await runner.forward({ seqs }, { readLogits: false });
    }
  }

  function seqOf(s: number, tokens: number[], start: number, adapter: string | undefined): ForwardSeq {
    return { tokens, start, pages: pagesOf(s), ...(adapter ? { adapter } : {}) };
  }

  /** Decode tokens/s of the requests `groups` (each a list of request indices run as one batch, in turn). */
  async function decodeRate(
    runner: LlamaRunner,
    adapters: readonly (string | undefined)[],
    groups: readonly number[][],
    steps: number,
  ): Promise<number> {
    const step = async (k: number) => {
      for (const g of groups)
        await runner.forward(
          { seqs: g.map((s) => seqOf(s, [nextTokens[s]!], PROMPT + k, adapters[s])) },
          { readLogits: false },
        );
    };
    await step(0); // records each batch size's stream
    await backend.flush();
    const t0 = performance.now();
    for (let k = 1; k <= steps; k++) await step(k);
    await backend.flush();
    const tokens = steps * groups.reduce((a, g) => a + g.length, 0);
    return (tokens * 1000) / (performance.now() - t0);
  }

  /** Median ms per token of one request decoding alone, logits read back each step. */
  async function latency(runner: LlamaRunner, adapter: string | undefined): Promise<number> {
    await prefill(runner, [adapter]);
    const times: number[] = [];
    for (let k = 0; k < LATENCY_STEPS + 2; k++) {
      const t0 = performance.now();
      await runner.forward({ seqs: [seqOf(0, [nextTokens[0]!], PROMPT + k, adapter)] });
      if (k >= 2) times.push(performance.now() - t0);
    }
    return median(times);
  }

  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const spreadOf = (n: number) => Array.from({ length: BATCH }, (_, i) => `a${i % n}`);
  const groupsOf = (adapters: readonly (string | undefined)[]) => {
    const by = new Map<string | undefined, number[]>();
    adapters.forEach((a, i) => by.set(a, [...(by.get(a) ?? []), i]));
    return [...by.values()];
  };
  const everyone = [Array.from({ length: BATCH }, (_, i) => i)];

  // the ceiling: the base model alone, and the probe every LoRA runner's base rows must match
  const base = await load();
  const probe = async (r: LlamaRunner, adapter?: string) =>
    (await r.forward({ seqs: [seqOf(0, prompts[0]!, 0, adapter)] })).slice();
  const baseProbe = await probe(base);
  await prefill(
    base,
    spreadOf(1).map(() => undefined),
  );
  const baseRate = await decodeRate(base, [], everyone, STEPS);
  const baseMs = await latency(base, undefined);
  base.destroy();
  console.log(`base: ${baseRate.toFixed(1)} tokens/s at batch ${BATCH}, ${baseMs.toFixed(2)} ms/token at batch 1`);
  rows.push(
    row({
      case: `${shape} base model b${BATCH}`,
      metric: 'tokens/s',
      higherIsBetter: true,
      ours: baseRate,
      anchor: null,
      anchorName: null,
      limit: null,
      limitName: null,
      anchorWhyNull: 'the ceiling the LoRA rows are held to',
    }),
  );

  for (const rank of o.ranks) {
    const runner = await load(rank);
    const shapes = loraShapesOf(config);
    for (let i = 0; i < BATCH; i++)
      runner.adapters!.add(randomLoraAdapter(`a${i}`, shapes, LORA_MODULES, rank, SEED + 100 * rank + i));
    const tag = `rank ${rank}`;
    const plain = relDiff(await probe(runner), baseProbe);
    check.that(
      plain <= LOGIT_TOL,
      `${tag}: a row without an adapter gives the base runner's logits`,
      plain.toExponential(2),
    );
    const moved = relDiff(await probe(runner, 'a0'), baseProbe);
    check.that(
      moved > 10 * LOGIT_TOL,
      `${tag}: adapter a0 moves the logits beyond 10× the tolerance`,
      moved.toExponential(2),
    );

    // rows of the 64-adapter batch against the same requests alone
    const mixed = spreadOf(BATCH);
    await prefill(runner, mixed);
    const batchLogits = await runner.forward({
      seqs: mixed.map((a, s) => seqOf(s, [nextTokens[s]!], PROMPT, a)),
    });
    const V = runner.vocabSize;
    let worst = 0;
    for (const s of [0, 1, 37, BATCH - 1]) {
      const alone = await runner.forward({ seqs: [seqOf(s, [nextTokens[s]!], PROMPT, mixed[s])] });
      worst = Math.max(worst, relDiff(batchLogits.subarray(s * V, (s + 1) * V), alone));
    }
    check.that(
      worst <= LOGIT_TOL,
      `${tag}: rows 0, 1, 37, 63 of the ${BATCH}-adapter batch give their logits run alone`,
      worst.toExponential(2),
    );

    const rates = new Map<number, number>();
    for (const n of SPREADS) {
      const adapters = spreadOf(n);
      await prefill(runner, adapters);
      rates.set(n, await decodeRate(runner, adapters, everyone, STEPS));
      console.log(`${tag}, ${n} adapters: ${rates.get(n)!.toFixed(1)} tokens/s`);
      rows.push(
        row({
          case: `${shape} LoRA ${tag} b${BATCH} over ${n} adapter${n > 1 ? 's' : ''}`,
          metric: 'tokens/s',
          higherIsBetter: true,
          ours: rates.get(n)!,
          anchor: baseRate,
          anchorName: 'the base model alone, same batch (target ≥ 0.8×)',
          limit: null,
          limitName: null,
        }),
      );
    }
    const loopAdapters = spreadOf(BATCH);
    await prefill(runner, loopAdapters);
    const loopRate = await decodeRate(runner, loopAdapters, groupsOf(loopAdapters), LOOP_STEPS);
    console.log(`${tag}, one adapter at a time over ${BATCH}: ${loopRate.toFixed(1)} tokens/s`);
    rows.push(
      row({
        case: `${shape} LoRA ${tag} b${BATCH} over ${BATCH} adapters`,
        metric: 'tokens/s',
        higherIsBetter: true,
        ours: rates.get(BATCH)!,
        anchor: loopRate,
        anchorName: 'one adapter at a time (a batch per adapter, in turn), same requests (target ≥ 10×)',
        limit: null,
        limitName: null,
      }),
    );
    const loraMs = await latency(runner, 'a0');
    const plainMs = await latency(runner, undefined);
    console.log(
      `${tag}, batch 1: ${loraMs.toFixed(2)} ms/token with an adapter, ${plainMs.toFixed(2)} without (LoRA runner), base ${baseMs.toFixed(2)}`,
    );
    rows.push(
      row({
        case: `${shape} LoRA ${tag} b1 per-token latency`,
        metric: 'ms/token',
        higherIsBetter: false,
        ours: loraMs,
        anchor: baseMs,
        anchorName: 'the base model alone (target: at most 2 ms added)',
        limit: null,
        limitName: null,
      }),
    );
    notes.push(
      `${tag}: batch-1 latency without an adapter on the LoRA runner ${plainMs.toFixed(2)} ms; added by an adapter over the base model ${(loraMs - baseMs).toFixed(2)} ms`,
    );
    runner.destroy();
  }

  notes.push(
    `Random ${shape} base (bf16 weights, f16 activations) and random adapters on all seven projections, seed ${SEED}; prompts of ${PROMPT} tokens, ${STEPS} timed decode steps per case (${LOOP_STEPS} for the one-adapter-at-a-time loop).`,
  );
  return { rows, notes };
}
