/**
 * The Llama runner's long-context mode on the built-in model: a sequence whose middle pages moved
 * to the CPU store decodes beside the same sequence kept whole on the device, in one batch. With
 * every stored key a candidate (K = 0) or the exact policy, its logits are the whole sequence's
 * within rounding (the store keeps f16) and its greedy tokens are the same; with small K, L the
 * logits stay within a stated distance; StreamingLLM is the reference for how much the middle
 * matters at all. The K = 0 case runs on WebGPU too, where the device attends sinks + window and
 * its partial state is merged by lse with the CPU store's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { maxRelError } from '../../src/testing/rel-error.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const SEED = 20261216;
const P = 16;
const PROMPT = 300;
const STEPS = 6;
const SINK_PAGES = 1;
const WINDOW_PAGES = 4;

async function loadRunner(backend: Backend): Promise<LlamaRunner> {
  const model = await openLlamaModel(builtinModelPath());
  try {
    return await LlamaRunner.load(model, {
      backend,
      actDtype: 'f32',
      maxTokens: 512,
      maxSeqs: 2,
      numPages: 64,
      pageSize: P,
    });
  } finally {
    await model.weights.close();
  }
}

const gpu = await gpuBackend();
let runner: LlamaRunner;
beforeAll(async () => {
  runner = await loadRunner(new CpuBackend());
});
afterAll(() => runner?.destroy());

const argmax = (x: Float32Array) => x.reduce((b, v, i) => (v > x[b]! ? i : b), 0);

/**
 * Prefills the prompt twice (whole: pages 0…31; long-context: pages 32…63), then decodes both
 * greedily in one batch, the long-context one's pages outside sinks + window moved to its store
 * before every step. Returns each step's logits of both.
 */
async function run(id: number, prompt: number[], runner: LlamaRunner) {
  const V = runner.vocabSize;
  const whole = { tokens: [...prompt], pages: Array.from({ length: 32 }, (_, i) => i) };
  const lc = { tokens: [...prompt], pages: Array.from({ length: 32 }, (_, i) => 32 + i) };
  await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages: whole.pages }] });
  const first = await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages: lc.pages }] });
  let next = [argmax(first), argmax(first)];
  const out: { whole: Float32Array; lc: Float32Array }[] = [];
  let moved = SINK_PAGES;
  for (let s = 0; s < STEPS; s++) {
    const len = lc.tokens.length + 1;
    // pages fully before the window (the window: the last WINDOW_PAGES full pages and the page being filled)
    const keepFrom = Math.max(SINK_PAGES, Math.ceil(len / P) - 1 - WINDOW_PAGES);
    if (keepFrom > moved) {
      await runner.longContext.offload(id, lc.pages.slice(moved, keepFrom), moved, PROMPT + STEPS);
      for (let p = moved; p < keepFrom; p++) lc.pages[p] = -1;
      moved = keepFrom;
    }
    const logits = await runner.forward({
      seqs: [
        { tokens: [next[0]!], start: whole.tokens.length, pages: whole.pages },
        { tokens: [next[1]!], start: lc.tokens.length, pages: lc.pages, longContext: id },
      ],
    });
    whole.tokens.push(next[0]!);
    lc.tokens.push(next[1]!);
    const step = { whole: logits.slice(0, V), lc: logits.slice(V, 2 * V) };
    out.push(step);
    next = [argmax(step.whole), argmax(step.lc)];
  }
  runner.longContext.release(id);
  return { out, moved, tokens: { whole: whole.tokens.slice(PROMPT), lc: lc.tokens.slice(PROMPT) } };
}

describe(`long-context mode in the Llama runner (built-in model, seed ${SEED})`, () => {
  const rng = new Rng(SEED);
  const prompt = Array.from({ length: PROMPT }, () => rng.int(3, 4000));

  /** Every stored key a candidate: the merge by lse of the device's sinks + window and the store is exact attention. */
  async function expectExactWithEveryKeySampled(r: LlamaRunner, where: string) {
    r.longContext.configure({ threshold: 1, K: 0, L: 2, sinks: SINK_PAGES * P, window: WINDOW_PAGES * P });
    const merges = r.longContext.stats.merges;
    // readbacks per step with a sequence in the mode: the device's state merges on the device, so
    // each layer reads back q only, and the step its logits
    const read = r.backend.read.bind(r.backend);
    let reads = 0;
    r.backend.read = (t) => {
      reads++;
      return read(t);
    };
    const forward = r.forward.bind(r);
    const readsPerStep: number[] = [];
    r.forward = async (batch, o) => {
      const before = reads;
      const logits = await forward(batch, o);
      if (batch.seqs.some((s) => s.longContext !== undefined)) readsPerStep.push(reads - before);
      return logits;
    };
    let got: Awaited<ReturnType<typeof run>>;
    try {
      got = await run(1, prompt, r);
    } finally {
      r.backend.read = read;
      r.forward = forward;
    }
    expect(readsPerStep).toEqual(Array(STEPS).fill(r.config.numLayers + 1));
    const errs = got.out.map((s) => maxRelError(s.lc, s.whole));
    console.log(
      `${where}, K=0: ${got.moved - SINK_PAGES} pages in the store, logits rel. error per step ${errs.map((e) => e.toExponential(1)).join(' ')}`,
    );
    expect(got.moved - SINK_PAGES).toBeGreaterThanOrEqual(12);
    expect(got.tokens.lc).toEqual(got.tokens.whole);
    for (const e of errs) expect(e).toBeLessThan(1e-3);
    // six layers a step, every step
    expect(r.longContext.stats.merges - merges).toBe(6 * STEPS);
  }

  it('K = 0 (every key sampled): the logits and greedy tokens of the whole sequence', async () => {
    await expectExactWithEveryKeySampled(runner, 'CPU backend');
  });

  it.skipIf(!gpu)(
    `WebGPU, K = 0: the same, the device's partial state merged with the store's${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
    async () => {
      const r = await loadRunner(gpu!);
      try {
        await expectExactWithEveryKeySampled(r, 'WebGPU');
      } finally {
        r.destroy();
      }
    },
  );

  it('each policy of the mode: exact as K = 0; LSH with small K, L and the baselines within their bounds', async () => {
    const cases = [
      { name: 'exact', o: { K: 0, L: 2, policy: { kind: 'exact' } }, bound: 1e-3 },
      { name: 'magicpig K=4 L=32', o: { K: 4, L: 32 }, bound: 0.15 },
      { name: 'magicpig K=6 L=16, layer 0 dense', o: { K: 6, L: 16, denseLayers: [0] }, bound: 0.3 },
      { name: 'topk 64', o: { K: 0, L: 2, policy: { kind: 'topk', k: 64 } }, bound: 0.15 },
      { name: 'quest 4 pages', o: { K: 0, L: 2, policy: { kind: 'quest', pageSize: P, pages: 4 } }, bound: 0.3 },
      { name: 'streaming', o: { K: 0, L: 2, policy: { kind: 'streaming' } }, bound: Infinity },
    ] as const;
    const worst: Record<string, number> = {};
    for (const [i, c] of cases.entries()) {
      runner.longContext.configure({ threshold: 1, sinks: P, window: WINDOW_PAGES * P, seed: SEED, ...c.o });
      const r = await run(10 + i, prompt, runner);
      // the first step: both sequences decode the same token there
      worst[c.name] = maxRelError(r.out[0]!.lc, r.out[0]!.whole);
      if (c.name === 'exact') expect(r.tokens.lc).toEqual(r.tokens.whole);
    }
    console.log(
      `first-step logits rel. error: ${Object.entries(worst)
        .map(([k, v]) => `${k} ${v.toExponential(2)}`)
        .join(', ')}`,
    );
    for (const c of cases) expect(worst[c.name]!).toBeLessThan(c.bound);
    // the middle matters on this prompt: dropping it costs more than sampling it
    expect(worst.streaming!).toBeGreaterThan(10 * worst.exact!);
  });
});
