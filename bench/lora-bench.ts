/**
 * The measurement and checks of bench/lora.ts as a function, so a test runs them at tiny size on
 * software Vulkan (test/bench/lora-bench.test.ts) and the program cannot rot. See bench/lora.ts for
 * what is measured and why the checks are these.
 */
import type { Backend } from '../src/backends/backend.js';
import type { ForwardSeq } from '../src/engine/model-runner.js';
import { LORA_MODULES } from '../src/lora/modules.js';
import { loraShapesOf } from '../src/models/llama/adapter-graph.js';
import { loraStackDtype } from '../src/models/llama/adapter-stacks-device.js';
import { llamaTensorShapes } from '../src/models/llama/llama-tensors.js';
import { parseLlamaConfig } from '../src/models/llama/llama-config.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { Rng } from '../src/util/rng.js';
import { loraStepPlan } from './lora-plan.js';
import { randomLlamaSource, randomLoraAdapter } from './lora-random.js';
import { type BenchRow, median, row } from './results.js';

type Adapters = readonly (string | undefined)[];

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

/** One run's model, prompts and helpers: each case a method, each under 80 lines. */
class LoraBench {
  readonly steps: number;
  readonly loopSteps: number;
  readonly latencySteps: number;
  readonly pagesPerSeq: number;
  readonly config: ReturnType<typeof parseLlamaConfig>;
  readonly shape: string;
  readonly prompts: number[][];
  readonly next: number[];
  readonly rows: BenchRow[] = [];
  readonly notes: string[] = [];
  /** Batch-1 ms/token with an adapter on the unfused path, by rank (where its runner was loaded). */
  readonly unfusedMs = new Map<number, number>();

  constructor(
    readonly backend: Backend,
    readonly o: LoraBenchOptions,
    readonly check: Checker,
  ) {
    this.steps = o.tiny ? 3 : 32;
    this.loopSteps = o.tiny ? 1 : 4;
    this.latencySteps = o.tiny ? 3 : 24;
    this.pagesPerSeq = Math.ceil((PROMPT + 4 + this.steps + this.latencySteps) / PAGE);
    this.config = parseLlamaConfig(o.tiny ? TINY : LLAMA3_8B, 'bench/lora.ts');
    this.shape = o.tiny ? 'tiny' : 'llama3-8b';
    const rng = new Rng(SEED);
    const token = () => rng.int(0, this.config.vocabSize - 1);
    this.prompts = Array.from({ length: BATCH }, () => Array.from({ length: PROMPT }, token));
    this.next = Array.from({ length: BATCH }, token);
  }

  /** A runner of the random base: without adapters, or serving `slots` adapters of up to `rank` in `form`. */
  async load(lora?: { rank: number; slots: number; form?: 'bgmv' }): Promise<LlamaRunner> {
    const t0 = performance.now();
    const runner = await LlamaRunner.load(
      { config: this.config, weights: randomLlamaSource(this.config, 'bf16', SEED) },
      {
        backend: this.backend,
        actDtype: 'f16',
        maxTokens: 8 * PROMPT,
        maxSeqs: BATCH,
        numPages: BATCH * this.pagesPerSeq,
        pageSize: PAGE,
        ...(lora ? { lora: { slots: lora.slots, rmax: lora.rank, ...(lora.form ? { form: lora.form } : {}) } } : {}),
      },
    );
    const what = lora ? `rank-${lora.rank} LoRA (${lora.form ?? 'fused'})` : 'base';
    console.log(`loaded ${what} runner in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
    return runner;
  }

  adapter(rank: number, i: number) {
    return randomLoraAdapter(`a${i}`, loraShapesOf(this.config), LORA_MODULES, rank, SEED + 100 * rank + i);
  }

  seq(s: number, tokens: number[], start: number, adapter: string | undefined): ForwardSeq {
    const pages = Array.from({ length: this.pagesPerSeq }, (_, i) => s * this.pagesPerSeq + i);
    return { tokens, start, pages, ...(adapter ? { adapter } : {}) };
  }

  /** Prefills request i for each entry of `adapters` (eight to a forward). */
  async prefill(runner: LlamaRunner, adapters: Adapters): Promise<void> {
    for (let g = 0; g < adapters.length; g += 8) {
      const seqs = adapters.slice(g, g + 8).map((a, j) => this.seq(g + j, this.prompts[g + j]!, 0, a));
      await runner.forward({ seqs }, { readLogits: false });
    }
  }

  /** The logits of one decode step of every request in `adapters`, as one batch. */
  async decodeLogits(runner: LlamaRunner, adapters: Adapters): Promise<Float32Array> {
    await this.prefill(runner, adapters);
    return runner.forward({ seqs: adapters.map((a, s) => this.seq(s, [this.next[s]!], PROMPT, a)) });
  }

  /** Decode tokens/s of the requests, `groups` of them run as one batch each, in turn. */
  async decodeRate(runner: LlamaRunner, adapters: Adapters, groups: readonly number[][], steps: number) {
    await this.prefill(runner, adapters);
    const step = async (k: number) => {
      for (const g of groups)
        await runner.forward(
          { seqs: g.map((s) => this.seq(s, [this.next[s]!], PROMPT + k, adapters[s])) },
          { readLogits: false },
        );
    };
    await step(0); // records each batch size's stream
    await this.backend.flush();
    const t0 = performance.now();
    for (let k = 1; k <= steps; k++) await step(k);
    await this.backend.flush();
    const tokens = steps * groups.reduce((a, g) => a + g.length, 0);
    return (tokens * 1000) / (performance.now() - t0);
  }

  /** Median ms per token of request 0 decoding alone, its logits read back each step. */
  async latency(runner: LlamaRunner, adapter: string | undefined): Promise<number> {
    await this.prefill(runner, [adapter]);
    const times: number[] = [];
    for (let k = 0; k < this.latencySteps + 2; k++) {
      const t0 = performance.now();
      await runner.forward({ seqs: [this.seq(0, [this.next[0]!], PROMPT + k, adapter)] });
      if (k >= 2) times.push(performance.now() - t0);
    }
    return median(times);
  }

  probe = async (r: LlamaRunner, adapter?: string) =>
    (await r.forward({ seqs: [this.seq(0, this.prompts[0]!, 0, adapter)] })).slice();

  /** The ceiling: the base model alone; returns its probe logits, b64 tokens/s and b1 ms/token. */
  async base(): Promise<{ probe: Float32Array; rate: number; ms: number }> {
    const base = await this.load();
    const probe = await this.probe(base);
    const rate = await this.decodeRate(base, spread(BATCH, 0), everyone(), this.steps);
    const ms = await this.latency(base, undefined);
    base.destroy();
    console.log(`base: ${rate.toFixed(1)} tokens/s at batch ${BATCH}, ${ms.toFixed(2)} ms/token at batch 1`);
    this.rows.push(
      row({
        case: `${this.shape} base model b${BATCH}`,
        metric: 'tokens/s',
        higherIsBetter: true,
        ours: rate,
        anchor: null,
        anchorName: null,
        limit: null,
        limitName: null,
        anchorWhyNull: 'the ceiling the LoRA rows are held to',
      }),
    );
    return { probe, rate, ms };
  }

  /**
   * The answer checks of one rank: base rows equal the base runner's, an adapter moves the logits,
   * rows of the 64-adapter batch equal the same requests alone, and (first rank only: one more
   * runner in memory) equal the unfused path's (`lora_bgmv` after each projection).
   */
  async checks(runner: LlamaRunner, rank: number, baseProbe: Float32Array, unfused: boolean): Promise<void> {
    const tag = `rank ${rank}`;
    const plain = relDiff(await this.probe(runner), baseProbe);
    this.check.that(
      plain <= LOGIT_TOL,
      `${tag}: a row without an adapter gives the base runner's logits`,
      plain.toExponential(2),
    );
    const moved = relDiff(await this.probe(runner, 'a0'), baseProbe);
    this.check.that(
      moved > 10 * LOGIT_TOL,
      `${tag}: adapter a0 moves the logits beyond 10× the tolerance`,
      moved.toExponential(2),
    );
    const mixed = spread(BATCH, BATCH);
    const batch = await this.decodeLogits(runner, mixed);
    const V = runner.vocabSize;
    const rowOf = (x: Float32Array, s: number) => x.subarray(s * V, (s + 1) * V);
    let worst = 0;
    for (const s of [0, 1, 37, BATCH - 1]) {
      const alone = await runner.forward({ seqs: [this.seq(s, [this.next[s]!], PROMPT, mixed[s])] });
      worst = Math.max(worst, relDiff(rowOf(batch, s), alone));
    }
    this.check.that(
      worst <= LOGIT_TOL,
      `${tag}: rows 0, 1, 37, 63 of the ${BATCH}-adapter batch give their logits run alone`,
      worst.toExponential(2),
    );
    if (!unfused) return;
    // a, none, b, c: the unfused runner holds four adapters, the same ones
    const few: Adapters = ['a0', undefined, 'a1', 'a2'];
    const reference = await this.load({ rank, slots: 4, form: 'bgmv' });
    for (const i of [0, 1, 2]) reference.adapters!.add(this.adapter(rank, i));
    const want = await this.decodeLogits(reference, few);
    this.unfusedMs.set(rank, await this.latency(reference, 'a0'));
    reference.destroy();
    const got = await this.decodeLogits(runner, few);
    const diff = Math.max(...few.map((_, s) => relDiff(rowOf(got, s), rowOf(want, s))));
    this.check.that(
      diff <= LOGIT_TOL,
      `${tag}: a batch of a0, none, a1, a2 gives the unfused path's logits`,
      diff.toExponential(2),
    );
  }

  /** Throughput over 1, 8 and 64 adapters against the base, and 64 adapters against the one-adapter loop. */
  async throughput(runner: LlamaRunner, rank: number, baseRate: number): Promise<void> {
    const tag = `rank ${rank}`;
    const rates = new Map<number, number>();
    for (const n of SPREADS) {
      rates.set(n, await this.decodeRate(runner, spread(BATCH, n), everyone(), this.steps));
      console.log(`${tag}, ${n} adapters: ${rates.get(n)!.toFixed(1)} tokens/s`);
      this.rows.push(
        row({
          case: `${this.shape} LoRA ${tag} b${BATCH} over ${n} adapter${n > 1 ? 's' : ''}`,
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
    const all = spread(BATCH, BATCH);
    const loop = await this.decodeRate(runner, all, groupsOf(all), this.loopSteps);
    console.log(`${tag}, one adapter at a time over ${BATCH}: ${loop.toFixed(1)} tokens/s`);
    this.rows.push(
      row({
        case: `${this.shape} LoRA ${tag} b${BATCH} over ${BATCH} adapters`,
        metric: 'tokens/s',
        higherIsBetter: true,
        ours: rates.get(BATCH)!,
        anchor: loop,
        anchorName: 'one adapter at a time (a batch per adapter, in turn), same requests (target ≥ 10×)',
        limit: null,
        limitName: null,
      }),
    );
  }

  /** Batch-1 ms/token with an adapter against the base model alone. */
  async latencyRows(runner: LlamaRunner, rank: number, baseMs: number): Promise<void> {
    const tag = `rank ${rank}`;
    const loraMs = await this.latency(runner, 'a0');
    const plainMs = await this.latency(runner, undefined);
    console.log(
      `${tag}, batch 1: ${loraMs.toFixed(2)} ms/token with an adapter, ${plainMs.toFixed(2)} without (LoRA runner), base ${baseMs.toFixed(2)}`,
    );
    this.rows.push(
      row({
        case: `${this.shape} LoRA ${tag} b1 per-token latency`,
        metric: 'ms/token',
        higherIsBetter: false,
        ours: loraMs,
        anchor: baseMs,
        anchorName: 'the base model alone (target: at most 2 ms added)',
        limit: null,
        limitName: null,
      }),
    );
    const unfused = this.unfusedMs.get(rank);
    if (unfused !== undefined)
      this.rows.push(
        row({
          case: `${this.shape} LoRA ${tag} b1 per-token latency`,
          metric: 'ms/token',
          higherIsBetter: false,
          ours: loraMs,
          anchor: unfused,
          anchorName: 'the unfused path (lora_bgmv after every projection, no Q/K/V fusion), same adapter',
          limit: null,
          limitName: null,
        }),
      );
    this.notes.push(
      `${tag}: batch-1 latency without an adapter on the LoRA runner ${plainMs.toFixed(2)} ms; added by an adapter over the base model ${(loraMs - baseMs).toFixed(2)} ms.`,
    );
  }

  /**
   * What the kernel's plan says a rank's decode steps cost on this device: LoRA dispatches per layer
   * and the A/B bytes per step (distinct adapters' blocks, and what the workgroups load), against
   * the base weights' bytes.
   */
  planNote(rank: number): string {
    const shapes = loraShapesOf(this.config);
    const dtype = loraStackDtype(this.backend.caps.f16, shapes, rank);
    const ranks = new Int32Array(BATCH).fill(rank);
    const at = (rows: number, n: number) =>
      loraStepPlan(
        this.backend.caps,
        shapes,
        Int32Array.from({ length: rows }, (_, i) => i % n),
        ranks,
        rank,
        dtype,
      );
    let base = 0;
    for (const shape of llamaTensorShapes(this.config).values()) base += 2 * shape.reduce((a, b) => a * b, 1);
    const gb = (x: number) => (x >= 1e9 ? `${(x / 1e9).toFixed(2)} GB` : `${(x / 1e6).toFixed(2)} MB`);
    const b1 = at(1, 1);
    const spreads = SPREADS.map((n) => {
      const p = at(BATCH, n);
      return `${n}: ${gb(p.distinct)} distinct, ${gb(p.loaded)} loaded`;
    });
    const schedules = (p: ReturnType<typeof at>) =>
      p.groups.map(({ group, plan }) => `${group.name} ${plan.map((d) => d.schedule).join('+')}`).join(', ');
    return (
      `rank ${rank} (${dtype} stacks): ${at(BATCH, BATCH).dispatchesPerLayer} lora_delta dispatches per layer at batch ${BATCH} ` +
      `(${schedules(at(BATCH, BATCH))}), ${b1.dispatchesPerLayer} at batch 1 (${schedules(b1)}); A/B bytes per step ` +
      `over ${SPREADS.join('/')} adapters at batch ${BATCH}: ${spreads.join('; ')} (base weights ${gb(base)}, bf16); ` +
      `batch 1: ${gb(b1.distinct)} distinct, ${gb(b1.loaded)} loaded.`
    );
  }
}

/** Request i's adapter when `n` distinct adapters are spread over `count` requests (0: none). */
const spread = (count: number, n: number): Adapters =>
  Array.from({ length: count }, (_, i) => (n ? `a${i % n}` : undefined));
const everyone = () => [Array.from({ length: BATCH }, (_, i) => i)];
const groupsOf = (adapters: Adapters) => {
  const by = new Map<string | undefined, number[]>();
  adapters.forEach((a, i) => by.set(a, [...(by.get(a) ?? []), i]));
  return [...by.values()];
};

export async function benchLora(
  backend: Backend,
  o: LoraBenchOptions,
  check: Checker,
): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const bench = new LoraBench(backend, o, check);
  console.log(
    `lora bench: ${bench.shape}, seed ${SEED}, ranks ${o.ranks.join(', ')}, batch ${BATCH}, ${bench.steps} steps per case`,
  );
  const base = await bench.base();
  for (const [k, rank] of o.ranks.entries()) {
    const note = bench.planNote(rank);
    console.log(note);
    bench.notes.push(note);
    const runner = await bench.load({ rank, slots: BATCH });
    for (let i = 0; i < BATCH; i++) runner.adapters!.add(bench.adapter(rank, i));
    await bench.checks(runner, rank, base.probe, k === 0);
    await bench.throughput(runner, rank, base.rate);
    await bench.latencyRows(runner, rank, base.ms);
    runner.destroy();
  }
  bench.notes.push(
    `Random ${bench.shape} base (bf16 weights, f16 activations) and random adapters on all seven projections, seed ${SEED}; prompts of ${PROMPT} tokens, ${bench.steps} timed decode steps per case (${bench.loopSteps} for the one-adapter-at-a-time loop).`,
  );
  return { rows: bench.rows, notes: bench.notes };
}
